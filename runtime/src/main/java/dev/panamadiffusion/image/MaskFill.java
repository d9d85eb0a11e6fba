package dev.panamadiffusion.image;

/**
 * AUTOMATIC1111's {@code masking.fill(image, mask)}, its inpainting "fill" ({@code inpainting_fill} 0): the masked
 * area is painted over with the colours around it before the picture is encoded, so the run starts from a smooth
 * guess instead of what was there. In Pillow (9.4) terms, byte for byte:
 *
 * <pre>
 * masked = Image.new("RGBa", size)                     # premultiplied, all 0
 * masked.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
 * out = Image.new("RGBA", size)
 * for radius, repeats in [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)]:
 *     blurred = masked.filter(GaussianBlur(radius)).convert("RGBA")
 *     for _ in range(repeats): out.alpha_composite(blurred)
 * return out.convert("RGB")
 * </pre>
 *
 * Outside the mask (grey 0) the picture is kept exactly; inside, ever finer blurs of the unmasked pixels are layered,
 * each weighted by how much unmasked picture it saw.
 */
public final class MaskFill {
    private static final int[][] PASSES = {{256, 1}, {64, 1}, {16, 2}, {4, 4}, {2, 2}, {0, 1}};

    private MaskFill() {}

    /** {@code image} with the area {@code mask} marks (grey, 255 = fully) filled from its surroundings; same size. */
    public static Rgb8Image fill(Rgb8Image image, Rgb8Image mask) {
        int w = image.width(), h = image.height(), n = w * h;
        if (mask.width() != w || mask.height() != h) {
            throw new IllegalArgumentException("mask " + mask.width() + "x" + mask.height() + " for a " + w + "x" + h + " picture");
        }
        byte[] rgb = image.rgb();
        byte[] masked = new byte[n * 4];                          // RGBa: paste with mask 255 − grey onto zeros
        for (int p = 0; p < n; p++) {
            int keep = 255 - MaskCrop.grey(mask.rgb(), p);
            for (int c = 0; c < 3; c++) masked[4 * p + c] = (byte) MaskCrop.div255((rgb[3 * p + c] & 0xff) * keep);
            masked[4 * p + 3] = (byte) MaskCrop.div255(255 * keep);
        }
        byte[] out = new byte[n * 4];                             // RGBA, all 0
        for (int[] pass : PASSES) {
            byte[] blurred = unpremultiply(GaussianBlur.blur(masked, w, h, 4, pass[0]));
            for (int r = 0; r < pass[1]; r++) alphaComposite(out, blurred);
        }
        byte[] result = new byte[n * 3];
        for (int p = 0; p < n; p++) System.arraycopy(out, 4 * p, result, 3 * p, 3);
        return new Rgb8Image(w, h, result);
    }

    /** Pillow's {@code RGBa → RGBA} ({@code rgba2rgbA}): each colour × 255 / alpha, truncated, clipped; alpha 0 or 255 as is. */
    static byte[] unpremultiply(byte[] rgba) {
        byte[] out = rgba.clone();
        for (int p = 0; p < rgba.length; p += 4) {
            int a = rgba[p + 3] & 0xff;
            if (a == 0 || a == 255) continue;
            for (int c = 0; c < 3; c++) out[p + c] = (byte) Math.min(255, 255 * (rgba[p + c] & 0xff) / a);
        }
        return out;
    }

    /**
     * Pillow's {@code ImagingAlphaComposite} of {@code src} over {@code dst} (both RGBA), in place: a transparent
     * source pixel leaves the destination; otherwise 7 extra bits of precision and divisions by 255 by shifts.
     */
    static void alphaComposite(byte[] dst, byte[] src) {
        for (int p = 0; p < dst.length; p += 4) {
            long sa = src[p + 3] & 0xff;
            if (sa == 0) continue;
            long blend = (dst[p + 3] & 0xff) * (255 - sa);
            long outa255 = sa * 255 + blend;
            long coef1 = sa * 255 * 255 * 128 / outa255;
            long coef2 = 255 * 128 - coef1;
            for (int c = 0; c < 3; c++) {
                long tmp = (src[p + c] & 0xff) * coef1 + (dst[p + c] & 0xff) * coef2 + (0x80 << 7);
                dst[p + c] = (byte) ((((tmp >> 8) + tmp) >> 8) >> 7);
            }
            long a = outa255 + 0x80;
            dst[p + 3] = (byte) (((a >> 8) + a) >> 8);
        }
    }
}
