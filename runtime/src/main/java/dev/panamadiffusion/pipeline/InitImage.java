package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What image to image starts from (diffusers' {@code StableDiffusionImg2ImgPipeline} {@code image} and
 * {@code strength}): the picture, encoded by the VAE, is noised to the level of the schedule's iteration
 * {@code steps − int(steps · strength)} and denoised from there, so strength 1 repaints from pure noise level and small
 * strengths keep the picture.
 *
 * <p>The image must have the request's width and height: diffusers' {@code VaeImageProcessor} resizes (Lanczos) to
 * the image's own size rounded down to the VAE's scale, so an image whose size already is such a multiple goes in
 * unchanged, as here; this runtime does not resample.
 *
 * <p>With a {@code mask} it is inpainting as diffusers' {@code StableDiffusionInpaintPipeline} runs an ordinary
 * (4-channel) UNet: after every step the latents outside the mask are replaced by the image's, noised to the next
 * step's level ({@link MaskBlend}). {@code maskOptions} blur the mask and inpaint only the region around it, as
 * diffusers' {@code mask_processor.blur} and {@code padding_mask_crop} ({@link MaskOptions#prepare}, which the
 * pipeline applies before the run).
 *
 * @param image       8-bit RGB, the request's size
 * @param strength    in (0, 1]: the share of the schedule that runs
 * @param mask        inpainting: white (grey ≥ 0.5) where to repaint, the image's size; null for image to image
 * @param maskOptions the mask's blur and crop ({@link MaskOptions#NONE}: the mask as given, the whole picture)
 */
public record InitImage(Rgb8Image image, double strength, Rgb8Image mask, MaskOptions maskOptions) {
    public InitImage {
        if (image == null) throw new IllegalArgumentException("image to image needs an image");
        if (maskOptions == null) throw new IllegalArgumentException("maskOptions: MaskOptions.NONE for none");
    }

    /** Image to image without a mask. */
    public InitImage(Rgb8Image image, double strength) {
        this(image, strength, null);
    }

    /** Inpainting with the mask as given ({@link MaskOptions#NONE}), or image to image with no mask. */
    public InitImage(Rgb8Image image, double strength, Rgb8Image mask) {
        this(image, strength, mask, MaskOptions.NONE);
    }

    /**
     * What the run starts from: this, when there is no mask or nothing to prepare; else {@link MaskOptions#prepare}
     * at {@code width} × {@code height}.
     */
    public MaskOptions.Prepared prepare(int width, int height) {
        if (mask == null || maskOptions.equals(MaskOptions.NONE)) return new MaskOptions.Prepared(this, null);
        return maskOptions.prepare(this, width, height);
    }

    /** Steps that run for {@code steps} requested: diffusers' {@code init_timestep = min(int(steps · strength), steps)}. */
    public int stepsToRun(int steps) {
        return (int) Math.min((long) (steps * strength), steps); // Python's int() truncates the float product, as here
    }

    /** The schedule iteration the loop starts at: diffusers' {@code t_start = max(steps − init_timestep, 0)} (order 1). */
    public int beginIndex(int steps) {
        return Math.max(steps - stepsToRun(steps), 0);
    }

    /**
     * What is wrong with this image for a request of {@code steps} at {@code width} × {@code height} (empty when
     * nothing): strength outside (0, 1], so low a strength that no step would run, or another size. Fields
     * {@code strength} and {@code initImage}.
     */
    public List<InvalidRequestException.Problem> problems(int steps, int width, int height) {
        List<InvalidRequestException.Problem> out = new ArrayList<>();
        if (!(strength > 0 && strength <= 1)) {
            out.add(new InvalidRequestException.Problem("strength", "must be in (0, 1], got " + strength));
        } else if (steps >= 1 && stepsToRun(steps) < 1) {
            out.add(new InvalidRequestException.Problem("strength", String.format(Locale.ROOT,
                    "%s × %d steps leaves no step to run (int(steps × strength) must be at least 1)", strength, steps)));
        }
        if (image.width() != width || image.height() != height) {
            out.add(new InvalidRequestException.Problem("initImage", "is " + image.width() + "x" + image.height()
                    + " but the request is " + width + "x" + height + " (image to image does not resize)"));
        }
        if (mask != null && (mask.width() != image.width() || mask.height() != image.height())) {
            out.add(new InvalidRequestException.Problem("mask", "is " + mask.width() + "x" + mask.height()
                    + " but the image is " + image.width() + "x" + image.height()));
        } else if (mask != null && maskOptions.crops() && dev.panamadiffusion.image.MaskImages.isBlank(maskOptions.blurred(mask))) {
            out.add(new InvalidRequestException.Problem("mask", "marks nothing (every pixel black), so there is no region"
                    + " to inpaint at full resolution (mask crop padding / inpaint_full_res)"));
        }
        return out;
    }

    /**
     * diffusers' mask processor ({@code do_convert_grayscale}, {@code do_binarize}, not normalised): PIL's
     * {@code convert("L")} grey, / 255, then 1 where ≥ 0.5 and 0 below; host [1, 1, H, W].
     */
    public Tensor maskPixels() {
        if (mask == null) throw new IllegalStateException("no mask");
        int plane = mask.width() * mask.height();
        byte[] rgb = mask.rgb();
        float[] v = new float[plane];
        for (int p = 0; p < plane; p++) {
            int r = rgb[3 * p] & 0xff, g = rgb[3 * p + 1] & 0xff, b = rgb[3 * p + 2] & 0xff;
            int grey = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16; // PIL's ITU-R 601-2 luma
            v[p] = grey / 255f >= 0.5f ? 1f : 0f;
        }
        return Tensor.fromFloats(v, 1, 1, mask.height(), mask.width()); // [1, 1, H, W]
    }

    /** The masked image diffusers encodes: {@code pixels · (mask < 0.5)}, host [1, 3, H, W]. */
    public Tensor maskedPixels() {
        float[] px = pixels().toFloatArray(), m = maskPixels().toFloatArray();
        int plane = m.length;
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < plane; p++) px[c * plane + p] = px[c * plane + p] * (m[p] < 0.5f ? 1f : 0f);
        }
        return Tensor.fromFloats(px, 1, 3, image.height(), image.width()); // [1, 3, H, W]
    }

    /**
     * The mask at latent size {@code h} × {@code w}, as torch's {@code interpolate} (nearest: source index
     * floor(i · in / out)), repeated per image: host [B, 1, h, w].
     */
    public Tensor maskLatents(int batch, int h, int w) {
        float[] m = maskPixels().toFloatArray();
        int inH = mask.height(), inW = mask.width();
        float sy = (float) inH / h, sx = (float) inW / w;
        float[] out = new float[batch * h * w];
        for (int y = 0; y < h; y++) {
            int src = Math.min((int) Math.floor(y * sy), inH - 1);
            for (int x = 0; x < w; x++) {
                float v = m[src * inW + Math.min((int) Math.floor(x * sx), inW - 1)];
                for (int b = 0; b < batch; b++) out[(b * h + y) * w + x] = v;
            }
        }
        return Tensor.fromFloats(out, batch, 1, h, w); // [B, 1, h, w]
    }

    /**
     * diffusers' {@code VaeImageProcessor.preprocess} of an image already at its size: {@code 2 · (v / 255) − 1} in
     * float32, host [1, 3, H, W].
     */
    public Tensor pixels() {
        int w = image.width(), h = image.height(), plane = w * h;
        byte[] rgb = image.rgb();
        float[] v = new float[3 * plane];
        for (int p = 0; p < plane; p++) {
            for (int c = 0; c < 3; c++) v[c * plane + p] = 2f * ((rgb[p * 3 + c] & 0xff) / 255f) - 1f;
        }
        return Tensor.fromFloats(v, 1, 3, h, w); // [1, 3, H, W]
    }
}
