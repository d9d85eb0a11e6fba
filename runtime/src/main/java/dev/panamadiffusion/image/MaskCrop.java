package dev.panamadiffusion.image;

import static dev.panamadiffusion.image.PilResize.Filter.BICUBIC;

/**
 * diffusers 0.27.2's {@code VaeImageProcessor} steps behind {@code padding_mask_crop} (AUTOMATIC1111's "inpaint only
 * masked" / {@code inpaint_full_res}), on 8-bit RGB pictures with Pillow 9.4's arithmetic: {@link #getCropRegion}
 * (the box around the mask, padded, grown to the generation's aspect ratio), the {@code resize_mode}s
 * {@link #resizeAndFill "fill"} and {@link #resizeAndCrop "crop"} (Lanczos, {@link PilResize}) and
 * {@link #applyOverlay} (the generated picture pasted back into the box and composited over the original with the
 * mask). Each result equals diffusers' PIL picture byte for byte.
 */
public final class MaskCrop {
    private MaskCrop() {}

    /** A box in a picture: columns {@code x1 ≤ x < x2}, rows {@code y1 ≤ y < y2} (PIL's crop box). */
    public record Box(int x1, int y1, int x2, int y2) {
        public int width() { return x2 - x1; }

        public int height() { return y2 - y1; }

        /** As a [4] array (x1, y1, x2, y2). */
        public long[] toArray() { return new long[] {x1, y1, x2, y2}; }
    }

    /** PIL's {@code convert("L")} of one RGB pixel: ITU-R 601-2 luma in 16-bit fixed point. */
    public static int grey(byte[] rgb, int pixel) {
        return ((rgb[3 * pixel] & 0xff) * 19595 + (rgb[3 * pixel + 1] & 0xff) * 38470 + (rgb[3 * pixel + 2] & 0xff) * 7471
                + 0x8000) >> 16;
    }

    /**
     * {@code VaeImageProcessor.get_crop_region(mask, width, height, pad)}: the smallest box holding every pixel whose
     * grey is not 0, grown by {@code pad} on each side (within the picture), then grown in the short direction to the
     * ratio {@code width / height} of the generation (shifted back inside the picture where it would leave it, and
     * cut at its edge where it is still too big). A mask with no pixel above 0 has no region: an
     * {@link IllegalArgumentException}.
     */
    public static Box getCropRegion(Rgb8Image mask, int width, int height, int pad) {
        int w = mask.width(), h = mask.height();
        int left = w, right = -1, top = h, bottom = -1;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                if (grey(mask.rgb(), y * w + x) != 0) {
                    left = Math.min(left, x);
                    right = Math.max(right, x);
                    top = Math.min(top, y);
                    bottom = Math.max(bottom, y);
                }
            }
        }
        if (right < 0) throw new IllegalArgumentException("the mask marks nothing, so there is no region to crop");
        int x1 = Math.max(left - pad, 0), y1 = Math.max(top - pad, 0);
        int x2 = Math.min(right + 1 + pad, w), y2 = Math.min(bottom + 1 + pad, h);
        double ratioCrop = (double) (x2 - x1) / (y2 - y1);
        double ratioProcessing = (double) width / height;
        if (ratioCrop > ratioProcessing) {
            double desiredHeight = (x2 - x1) / ratioProcessing;
            int diff = (int) (desiredHeight - (y2 - y1));                 // Python's int(): toward zero
            y1 -= Math.floorDiv(diff, 2);
            y2 += diff - Math.floorDiv(diff, 2);
            if (y2 >= h) {
                int d = y2 - h;
                y2 -= d;
                y1 -= d;
            }
            if (y1 < 0) {
                y2 -= y1;
                y1 = 0;
            }
            if (y2 >= h) y2 = h;
        } else {
            double desiredWidth = (y2 - y1) * ratioProcessing;
            int diff = (int) (desiredWidth - (x2 - x1));
            x1 -= Math.floorDiv(diff, 2);
            x2 += diff - Math.floorDiv(diff, 2);
            if (x2 >= w) {
                int d = x2 - w;
                x2 -= d;
                x1 -= d;
            }
            if (x1 < 0) {
                x2 -= x1;
                x1 = 0;
            }
            if (x2 >= w) x2 = w;
        }
        return new Box(x1, y1, x2, y2);
    }

    /**
     * {@code VaeImageProcessor._resize_and_fill(image, width, height)} ({@code resize_mode="fill"}): resized
     * (Lanczos) to fit inside {@code width} × {@code height} keeping its aspect ratio, centred, and the empty bands
     * filled by stretching the resized picture's edge rows or columns (a resize of an empty box at that edge, with
     * Pillow's default filter, bicubic, as diffusers gives none).
     */
    public static Rgb8Image resizeAndFill(Rgb8Image image, int width, int height) {
        double ratio = (double) width / height;
        double srcRatio = (double) image.width() / image.height();
        int srcW = ratio < srcRatio ? width : image.width() * height / image.height();
        int srcH = ratio >= srcRatio ? height : image.height() * width / image.width();
        Rgb8Image resized = PilResize.resize(image, srcW, srcH);
        byte[] res = new byte[width * height * 3];
        paste(res, width, height, resized, width / 2 - srcW / 2, height / 2 - srcH / 2);
        if (ratio < srcRatio) {
            int fill = height / 2 - srcH / 2;
            if (fill > 0) {
                paste(res, width, height, PilResize.resize(resized, width, fill, BICUBIC, 0, 0, width, 0), 0, 0);
                paste(res, width, height, PilResize.resize(resized, width, fill, BICUBIC, 0, resized.height(), width, resized.height()),
                        0, fill + srcH);
            }
        } else if (ratio > srcRatio) {
            int fill = width / 2 - srcW / 2;
            if (fill > 0) {
                paste(res, width, height, PilResize.resize(resized, fill, height, BICUBIC, 0, 0, 0, height), 0, 0);
                paste(res, width, height, PilResize.resize(resized, fill, height, BICUBIC, resized.width(), 0, resized.width(), height),
                        fill + srcW, 0);
            }
        }
        return new Rgb8Image(width, height, res);
    }

    /**
     * {@code VaeImageProcessor._resize_and_crop(image, width, height)} ({@code resize_mode="crop"}): resized
     * (Lanczos) to cover {@code width} × {@code height} keeping its aspect ratio, centred, the excess cut.
     */
    public static Rgb8Image resizeAndCrop(Rgb8Image image, int width, int height) {
        double ratio = (double) width / height;
        double srcRatio = (double) image.width() / image.height();
        int srcW = ratio > srcRatio ? width : image.width() * height / image.height();
        int srcH = ratio <= srcRatio ? height : image.height() * width / image.width();
        Rgb8Image resized = PilResize.resize(image, srcW, srcH);
        byte[] res = new byte[width * height * 3];
        paste(res, width, height, resized, width / 2 - srcW / 2, height / 2 - srcH / 2);
        return new Rgb8Image(width, height, res);
    }

    /**
     * {@code VaeImageProcessor.apply_overlay(mask, init_image, image, crop_coords)}: the original {@code initImage}
     * and the (soft) {@code mask}, resized to {@code image}'s size (Lanczos; unchanged at that size), are made an
     * RGBA layer whose alpha is the inverted mask (PIL's paste with an "L" mask into "RGBa", then un-premultiplied);
     * with a {@code crop} the generated {@code image} is first resized ("crop" mode) to the box and pasted there on
     * black; then the layer is alpha-composited over it (PIL's {@code alpha_composite}). So the original shows where
     * the mask is black, the generated picture where it is white, a blend between.
     */
    public static Rgb8Image applyOverlay(Rgb8Image mask, Rgb8Image initImage, Rgb8Image image, Box crop) {
        int width = image.width(), height = image.height();
        Rgb8Image init = PilResize.resize(initImage, width, height);
        Rgb8Image m = PilResize.resize(mask, width, height);
        if (crop != null) {
            byte[] base = new byte[width * height * 3];
            paste(base, width, height, resizeAndCrop(image, crop.width(), crop.height()), crop.x1(), crop.y1());
            image = new Rgb8Image(width, height, base);
        }
        byte[] dst = image.rgb(), src = init.rgb(), out = new byte[dst.length];
        for (int p = 0; p < width * height; p++) {
            int a = 255 - grey(m.rgb(), p);                               // ImageOps.invert(mask.convert("L"))
            for (int c = 0; c < 3; c++) {
                int premultiplied = div255((src[3 * p + c] & 0xff) * a);  // paste_mask_L: BLEND(a, 0, in)
                int straight = a == 255 || a == 0 ? premultiplied : Math.min(255, 255 * premultiplied / a); // rgba2rgbA
                out[3 * p + c] = (byte) (a == 0 ? dst[3 * p + c] & 0xff : composite(straight, a, dst[3 * p + c] & 0xff));
            }
        }
        return new Rgb8Image(width, height, out);
    }

    /**
     * {@code ImagingAlphaComposite} of a source pixel channel {@code s} with alpha {@code a} (not 0) over an opaque
     * destination channel {@code d}: 7 extra bits of precision, divisions by 255 rounded by shifts.
     */
    static int composite(int s, int a, int d) {
        long blend = 255L * (255 - a);                                    // dst alpha is 255
        long outa255 = a * 255L + blend;
        long coef1 = a * 255L * 255 * 128 / outa255;
        long coef2 = 255 * 128 - coef1;
        long tmp = s * coef1 + d * coef2 + (0x80 << 7);
        return (int) (((tmp >> 8) + tmp) >> 8 >> 7);
    }

    /** Pillow's {@code DIV255}: {@code (v + 128)} divided by 255 with two shifts. */
    static int div255(int v) {
        int t = v + 128;
        return ((t >> 8) + t) >> 8;
    }

    /** PIL's {@code paste(im, (x, y))} of an RGB picture into an RGB buffer, clipped to the buffer. */
    static void paste(byte[] dst, int width, int height, Rgb8Image im, int x, int y) {
        int x0 = Math.max(x, 0), x1 = Math.min(x + im.width(), width);
        if (x1 <= x0) return;
        for (int row = Math.max(y, 0); row < Math.min(y + im.height(), height); row++) {
            System.arraycopy(im.rgb(), ((row - y) * im.width() + x0 - x) * 3, dst, (row * width + x0) * 3, (x1 - x0) * 3);
        }
    }
}
