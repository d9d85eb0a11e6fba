package dev.panamadiffusion.image;

/**
 * PIL's {@code ImageFilter.GaussianBlur(radius)} (Pillow 9.4's {@code ImagingGaussianBlur} with 3 passes, in
 * {@code libImaging/BoxBlur.c}), which diffusers' {@code VaeImageProcessor.blur(image, blur_factor)} applies to
 * inpainting masks: three extended box blurs (Gwosdek et al., "Theoretical foundations of Gaussian convolution by
 * extended box filtering") along the rows, then three along the columns, each in Pillow's 8-bit fixed point
 * (weights scaled by 2<sup>24</sup>, rounded to the nearest), the edge pixels repeated beyond the border. Every
 * channel is blurred on its own; the result equals Pillow's byte for byte.
 */
public final class GaussianBlur {
    private static final int PASSES = 3;

    private GaussianBlur() {}

    /** {@code image.filter(ImageFilter.GaussianBlur(radius))}: {@code radius} is the Gaussian's standard deviation. */
    public static Rgb8Image blur(Rgb8Image image, float radius) {
        if (!(radius >= 0)) throw new IllegalArgumentException("blur radius must be at least 0, got " + radius);
        return boxBlur(image, boxRadius(radius), PASSES);
    }

    /**
     * The extended box radius {@code ImagingGaussianBlur} passes to {@code ImagingBoxBlur} for {@code radius}, in
     * the C code's float arithmetic (its {@code sqrt} and {@code floor} in double).
     */
    static float boxRadius(float radius) {
        float sigma2 = radius * radius / PASSES;
        float bigL = (float) Math.sqrt(12.0 * sigma2 + 1.0);   // [7] box length
        float l = (float) Math.floor((bigL - 1.0) / 2.0);     // [11] integer part of the box radius
        float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);   // [14] fractional part
        a /= 6 * (sigma2 - (l + 1) * (l + 1));
        return l + a;
    }

    /** PIL's {@code ImageFilter.BoxBlur}-style {@code ImagingBoxBlur(radius, passes)}: rows then columns. */
    static Rgb8Image boxBlur(Rgb8Image image, float radius, int passes) {
        return new Rgb8Image(image.width(), image.height(), boxBlur(image.rgb(), image.width(), image.height(), 3, radius, passes));
    }

    /**
     * {@link #blur} of an interleaved 8-bit picture of any number of {@code channels} (Pillow blurs an RGBA or
     * premultiplied {@code RGBa} picture's four bands the same way, each on its own).
     */
    static byte[] blur(byte[] pixels, int w, int h, int channels, float radius) {
        if (!(radius >= 0)) throw new IllegalArgumentException("blur radius must be at least 0, got " + radius);
        return boxBlur(pixels, w, h, channels, boxRadius(radius), PASSES);
    }

    private static byte[] boxBlur(byte[] pixels, int w, int h, int channels, float radius, int passes) {
        byte[] out = new byte[pixels.length];
        int[] plane = new int[w * h];
        for (int c = 0; c < channels; c++) {
            for (int p = 0; p < w * h; p++) plane[p] = pixels[channels * p + c] & 0xff;
            blurPlane(plane, w, h, radius, passes);
            for (int p = 0; p < w * h; p++) out[channels * p + c] = (byte) plane[p];
        }
        return out;
    }

    /** {@code passes} horizontal box blurs of each row, then {@code passes} of each column, in place. */
    static void blurPlane(int[] plane, int w, int h, float radius, int passes) {
        int[] in = new int[Math.max(w, h)], line = new int[Math.max(w, h)];
        for (int y = 0; y < h; y++) {
            System.arraycopy(plane, y * w, in, 0, w);
            for (int i = 0; i < passes; i++) {
                lineBlur(line, in, w, radius);
                System.arraycopy(line, 0, in, 0, w);
            }
            System.arraycopy(in, 0, plane, y * w, w);
        }
        for (int x = 0; x < w; x++) {
            for (int y = 0; y < h; y++) in[y] = plane[y * w + x];
            for (int i = 0; i < passes; i++) {
                lineBlur(line, in, h, radius);
                System.arraycopy(line, 0, in, 0, h);
            }
            for (int y = 0; y < h; y++) plane[y * w + x] = in[y];
        }
    }

    /**
     * {@code ImagingHorizontalBoxBlur}'s weights and {@code ImagingLineBoxBlur8} on one line of {@code size} values:
     * the {@code 2r + 1} pixels around each weighted {@code ww}, the two beyond them {@code fw}, in unsigned 32-bit
     * arithmetic as the C code.
     */
    static void lineBlur(int[] out, int[] in, int size, float floatRadius) {
        int radius = (int) floatRadius;
        long ww = (long) (16777216f / (floatRadius * 2 + 1)) & 0xffffffffL;
        long fw = ((16777216L - (radius * 2L + 1) * ww) & 0xffffffffL) / 2;
        int edgeA = Math.min(radius + 1, size);
        int edgeB = Math.max(size - radius - 1, 0);
        int last = size - 1;
        long acc = (long) in[0] * (radius + 1);
        for (int x = 0; x < edgeA - 1; x++) acc += in[x];
        acc += (long) in[last] * (radius - edgeA + 1);
        if (edgeA <= edgeB) {
            for (int x = 0; x < edgeA; x++) acc = step(out, in, x, acc, 0, x + radius, 0, x + radius + 1, ww, fw);
            for (int x = edgeA; x < edgeB; x++) {
                acc = step(out, in, x, acc, x - radius - 1, x + radius, x - radius - 1, x + radius + 1, ww, fw);
            }
            for (int x = edgeB; x <= last; x++) acc = step(out, in, x, acc, x - radius - 1, last, x - radius - 1, last, ww, fw);
        } else {
            for (int x = 0; x < edgeB; x++) acc = step(out, in, x, acc, 0, x + radius, 0, x + radius + 1, ww, fw);
            for (int x = edgeB; x < edgeA; x++) acc = step(out, in, x, acc, 0, last, 0, last, ww, fw);
            for (int x = edgeA; x <= last; x++) acc = step(out, in, x, acc, x - radius - 1, last, x - radius - 1, last, ww, fw);
        }
    }

    /** MOVE_ACC (subtract one pixel, add another), ADD_FAR (the two far pixels at weight fw), SAVE (round to 8 bits). */
    private static long step(int[] out, int[] in, int x, long acc, int subtract, int add, int left, int right, long ww, long fw) {
        acc = (acc + in[add] - in[subtract]) & 0xffffffffL;
        long bulk = (acc * ww + (long) (in[left] + in[right]) * fw) & 0xffffffffL;
        out[x] = (int) (((bulk + (1 << 23)) & 0xffffffffL) >>> 24) & 0xff;
        return acc;
    }
}
