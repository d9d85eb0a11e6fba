package dev.panamadiffusion.image;

import dev.panamadiffusion.tensor.Tensor;

/** Conversions between image tensors and 8-bit pixels. */
public final class Images {
    private Images() {}

    /**
     * A [3, H, W] host tensor with values in [0, 1] (values outside are clamped) as 8-bit RGB, rounding as
     * diffusers' {@code numpy_to_pil} does: {@code (x * 255).round()}.
     */
    public static Rgb8Image toRgb8(Tensor image01) {
        if (image01.rank() != 3 || image01.dim(0) != 3) {
            throw new IllegalArgumentException("expected a [3, H, W] image tensor, got " + image01);
        }
        int h = Math.toIntExact(image01.dim(1));
        int w = Math.toIntExact(image01.dim(2));
        float[] v = image01.toFloatArray(); // [3, H, W]
        byte[] rgb = new byte[w * h * 3];
        int plane = w * h;
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < plane; p++) {
                rgb[p * 3 + c] = (byte) to8(v[c * plane + p]);
            }
        }
        return new Rgb8Image(w, h, rgb);
    }

    /** One [3, H, W] image of a [B, 3, H, W] batch as 8-bit RGB. */
    public static Rgb8Image toRgb8(Tensor batch01, int index) {
        if (batch01.rank() != 4) throw new IllegalArgumentException("expected a [B, 3, H, W] batch, got " + batch01);
        return toRgb8(batch01.select(0, index));
    }

    /** clamp(x, 0, 1) × 255, rounded half to even (numpy's round); NaN maps to 0. */
    static int to8(float x) {
        if (!(x > 0f)) return 0;
        if (x >= 1f) return 255;
        return (int) Math.rint(x * 255f);
    }
}
