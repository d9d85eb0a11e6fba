package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.GaussianBlur;
import dev.panamadiffusion.image.MaskFill;
import dev.panamadiffusion.image.PilResize;
import dev.panamadiffusion.image.MaskCrop;
import dev.panamadiffusion.image.Rgb8Image;

/**
 * How an inpainting mask is prepared, as diffusers 0.27.2 users do it with {@code StableDiffusionInpaintPipeline}:
 * {@code mask = pipe.mask_processor.blur(mask, blur_factor)} (PIL's Gaussian blur, {@link GaussianBlur}), then the
 * pipeline's {@code padding_mask_crop}. The pipeline binarizes the mask it is given (≥ 0.5 repaints), so a blur alone
 * only moves the mask's edge by where the blurred grey crosses one half; the soft mask itself is used by
 * {@code padding_mask_crop}'s final overlay only. With {@code padding_mask_crop} the run sees just the box around the
 * mask ({@link MaskCrop#getCropRegion}, padded, grown to the generation's aspect ratio), picture and mask cut out and
 * resized to the generation's size ({@code resize_mode="fill"}, Lanczos), and the generated picture is resized back
 * into the box and composited over the original with the (blurred) mask ({@link MaskCrop#applyOverlay}).
 *
 * <p>AUTOMATIC1111 differs: it blurs with OpenCV's Gaussian kernel and composites every inpainted picture over the
 * original with the blurred mask, with or without {@code inpaint_full_res}; this runtime follows diffusers.
 *
 * @param blurFactor      the Gaussian blur's standard deviation in pixels (diffusers' {@code blur_factor},
 *                        AUTOMATIC1111's {@code mask_blur}); 0 leaves the mask as it is
 * @param paddingMaskCrop diffusers' {@code padding_mask_crop} (AUTOMATIC1111's {@code inpaint_full_res_padding}
 *                        with {@code inpaint_full_res}): pixels added around the mask's box; −1 for the whole picture
 * @param fill            what the masked area starts from ({@link InpaintFill#ORIGINAL}: the picture, as diffusers)
 */
public record MaskOptions(float blurFactor, int paddingMaskCrop, InpaintFill fill) {
    /** The mask as given, the whole picture, the masked area starting from the picture. */
    public static final MaskOptions NONE = new MaskOptions(0, -1);
    /** The largest blur factor and padding accepted. */
    public static final int MAX_BLUR = 256, MAX_PADDING = 16384;

    /** Blur and crop with the masked area starting from the picture (diffusers' only way). */
    public MaskOptions(float blurFactor, int paddingMaskCrop) {
        this(blurFactor, paddingMaskCrop, InpaintFill.ORIGINAL);
    }

    public MaskOptions {
        if (fill == null) throw new IllegalArgumentException("fill: InpaintFill.ORIGINAL for none");
        if (!(blurFactor >= 0 && blurFactor <= MAX_BLUR)) {
            throw new IllegalArgumentException("mask blur must be in [0, " + MAX_BLUR + "], got " + blurFactor);
        }
        if (paddingMaskCrop < -1 || paddingMaskCrop > MAX_PADDING) {
            throw new IllegalArgumentException("mask crop padding must be in [0, " + MAX_PADDING + "] (or -1 for none), got "
                    + paddingMaskCrop);
        }
    }

    /** Whether only the region around the mask is inpainted ({@code padding_mask_crop} given). */
    public boolean crops() { return paddingMaskCrop >= 0; }

    /** {@code mask} blurred by {@link #blurFactor} (itself when 0). */
    public Rgb8Image blurred(Rgb8Image mask) {
        return blurFactor > 0 ? GaussianBlur.blur(mask, blurFactor) : mask;
    }

    /**
     * What a run of {@code init} (which has a mask) at {@code width} × {@code height} starts from: the blurred mask,
     * and with {@code padding_mask_crop} the picture and mask cut to the region and resized to the generation's size
     * ({@code VaeImageProcessor.preprocess(crops_coords=…, resize_mode="fill")}), with the overlay that puts the
     * result back; without, no overlay (diffusers returns the generated picture as it is). Then, but for
     * {@link InpaintFill#ORIGINAL}, the picture's masked area is pre-filled ({@link MaskFill}, with that mask); the
     * fill's latent part is left to the start ({@link Prepared#fill}, {@link LatentSource}).
     */
    public Prepared prepare(InitImage init, int width, int height) {
        Rgb8Image soft = blurred(init.mask());
        if (!crops()) return new Prepared(new InitImage(filled(init.image(), soft), init.strength(), soft), null, fill);
        MaskCrop.Box box = MaskCrop.getCropRegion(soft, width, height, paddingMaskCrop);
        Rgb8Image image = MaskCrop.resizeAndFill(cut(init.image(), box), width, height);
        Rgb8Image mask = MaskCrop.resizeAndFill(cut(soft, box), width, height);
        return new Prepared(new InitImage(filled(image, mask), init.strength(), mask), new Overlay(soft, init.image(), box), fill);
    }

    /** {@code image} with the area {@code mask} marks pre-filled, but for {@link InpaintFill#ORIGINAL}. */
    private Rgb8Image filled(Rgb8Image image, Rgb8Image mask) {
        return fill.fillsPixels() ? MaskFill.fill(image, mask) : image;
    }


    private static Rgb8Image cut(Rgb8Image image, MaskCrop.Box box) {
        return PilResize.crop(image, box.x1(), box.y1(), box.width(), box.height());
    }

    /**
     * A prepared inpainting run.
     *
     * @param init    what the pipeline encodes and masks (no {@link MaskOptions} of its own)
     * @param overlay how each generated picture goes back into the original, or null to keep it as generated
     * @param fill    the masked content, whose latent part ({@link InpaintFill#startLatents}) the start still applies
     */
    public record Prepared(InitImage init, Overlay overlay, InpaintFill fill) {
        public Prepared(InitImage init, Overlay overlay) {
            this(init, overlay, InpaintFill.ORIGINAL);
        }
    }

    /**
     * diffusers' {@code apply_overlay(mask_image, original_image, image, crops_coords)} for one run.
     *
     * @param mask     the (blurred) mask at the original's size
     * @param original the picture given
     * @param crop     the region the run painted (original coordinates)
     */
    public record Overlay(Rgb8Image mask, Rgb8Image original, MaskCrop.Box crop) {
        /** {@code generated} (the generation's size) resized into the region and composited over the original. */
        public Rgb8Image apply(Rgb8Image generated) {
            return MaskCrop.applyOverlay(mask, original, generated, crop);
        }
    }
}
