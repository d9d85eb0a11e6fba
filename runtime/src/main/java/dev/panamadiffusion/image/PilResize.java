package dev.panamadiffusion.image;

/**
 * PIL's {@code Image.resize(size, Image.LANCZOS, box)} on 8-bit RGB (Pillow 9.4: {@code Image.resize},
 * {@code _imaging.c}'s {@code _resize} and {@code libImaging/Resample.c}), the resampling diffusers'
 * {@code VaeImageProcessor} uses for its {@code resize_mode}s (and Pillow's default, bicubic, which its "fill" mode's
 * edge bands get): a separable Lanczos-3 (or bicubic) filter, widened by the scale when
 * shrinking, whose weights are normalised per output pixel, then rounded to 22-bit fixed point; the horizontal pass
 * runs first (only over the rows the vertical pass reads), each pass rounds to 8 bits and clips. The same size and
 * box is a copy, and a whole-pixel box of the output's size a crop, as in Pillow. The result equals Pillow's byte for
 * byte.
 */
public final class PilResize {
    /** Pillow's {@code PRECISION_BITS}: 32 − 8 − 2. */
    private static final int PRECISION_BITS = 22;

    private PilResize() {}

    /** Pillow's resampling filters used here, with their support. */
    public enum Filter {
        /** {@code Image.LANCZOS}: sinc(x) · sinc(x / 3) on [−3, 3). */
        LANCZOS(3.0),
        /** {@code Image.BICUBIC} (Pillow's default for RGB): Keys' cubic with a = −0.5 on (−2, 2). */
        BICUBIC(2.0);

        final double support;

        Filter(double support) { this.support = support; }

        double apply(double x) {
            return this == LANCZOS ? lanczos(x) : bicubic(x);
        }
    }

    /** {@code image.resize((width, height), Image.LANCZOS)}. */
    public static Rgb8Image resize(Rgb8Image image, int width, int height) {
        return resize(image, width, height, 0, 0, image.width(), image.height());
    }

    /** {@code image.resize((width, height), Image.LANCZOS, box=(x0, y0, x1, y1))}. */
    public static Rgb8Image resize(Rgb8Image image, int width, int height, float x0, float y0, float x1, float y1) {
        return resize(image, width, height, Filter.LANCZOS, x0, y0, x1, y1);
    }

    /**
     * {@code image.resize((width, height), filter, box=(x0, y0, x1, y1))}: the source region {@code box} (which may be
     * empty in one direction: its edge row or column, filtered) stretched to {@code width} × {@code height}.
     */
    public static Rgb8Image resize(Rgb8Image image, int width, int height, Filter filter, float x0, float y0, float x1,
                                   float y1) {
        if (width < 1 || height < 1) throw new IllegalArgumentException("height and width must be > 0");
        if (x0 < 0 || y0 < 0) throw new IllegalArgumentException("box offset can't be negative");
        if (x1 > image.width() || y1 > image.height()) throw new IllegalArgumentException("box can't exceed original image size");
        if (x1 - x0 < 0 || y1 - y0 < 0) throw new IllegalArgumentException("box can't be empty");
        if (width == image.width() && height == image.height() && x0 == 0 && y0 == 0 && x1 == width && y1 == height) {
            return new Rgb8Image(width, height, image.rgb().clone());                     // Image.resize: self.copy()
        }
        if (x0 - (int) x0 == 0 && x1 - x0 == width && y0 - (int) y0 == 0 && y1 - y0 == height) {
            return crop(image, (int) x0, (int) y0, width, height);                        // _resize: ImagingCrop
        }
        return resample(image, width, height, filter, x0, y0, x1, y1);
    }

    /** The {@code width} × {@code height} region of {@code image} at ({@code x}, {@code y}), inside it. */
    public static Rgb8Image crop(Rgb8Image image, int x, int y, int width, int height) {
        byte[] out = new byte[width * height * 3];
        for (int row = 0; row < height; row++) {
            System.arraycopy(image.rgb(), ((y + row) * image.width() + x) * 3, out, row * width * 3, width * 3);
        }
        return new Rgb8Image(width, height, out);
    }

    /** {@code ImagingResampleInner}: the horizontal pass (if needed) over the rows used, then the vertical (if needed). */
    private static Rgb8Image resample(Rgb8Image image, int xsize, int ysize, Filter filter, float x0, float y0, float x1,
                                      float y1) {
        boolean needHorizontal = xsize != image.width() || x0 != 0 || x1 != xsize; // sic: Pillow compares box[2] with xsize
        boolean needVertical = ysize != image.height() || y0 != 0 || y1 != ysize;
        Coeffs horiz = coeffs(image.width(), x0, x1, xsize, filter);
        Coeffs vert = coeffs(image.height(), y0, y1, ysize, filter);
        int inW = image.width();
        int[] src = new int[image.rgb().length];
        for (int i = 0; i < src.length; i++) src[i] = image.rgb()[i] & 0xff;
        int rows = image.height();
        if (needHorizontal) {
            int first = vert.bounds[0], last = vert.bounds[ysize * 2 - 2] + vert.bounds[ysize * 2 - 1];
            for (int i = 0; i < ysize; i++) vert.bounds[i * 2] -= first;
            rows = last - first;
            int[] tmp = new int[xsize * rows * 3];
            for (int yy = 0; yy < rows; yy++) {
                for (int xx = 0; xx < xsize; xx++) {
                    int xmin = horiz.bounds[xx * 2], xmax = horiz.bounds[xx * 2 + 1];
                    for (int c = 0; c < 3; c++) {
                        int ss = 1 << (PRECISION_BITS - 1);
                        for (int x = 0; x < xmax; x++) ss += src[((yy + first) * inW + x + xmin) * 3 + c] * horiz.kk[xx * horiz.ksize + x];
                        tmp[(yy * xsize + xx) * 3 + c] = clip8(ss);
                    }
                }
            }
            src = tmp;
            inW = xsize;
        }
        if (needVertical) {
            int[] out = new int[inW * ysize * 3];
            for (int yy = 0; yy < ysize; yy++) {
                int ymin = vert.bounds[yy * 2], ymax = vert.bounds[yy * 2 + 1];
                for (int xx = 0; xx < inW; xx++) {
                    for (int c = 0; c < 3; c++) {
                        int ss = 1 << (PRECISION_BITS - 1);
                        for (int y = 0; y < ymax; y++) ss += src[((y + ymin) * inW + xx) * 3 + c] * vert.kk[yy * vert.ksize + y];
                        out[(yy * inW + xx) * 3 + c] = clip8(ss);
                    }
                }
            }
            src = out;
            rows = ysize;
        }
        byte[] rgb = new byte[inW * rows * 3];
        for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) src[i];
        return new Rgb8Image(inW, rows, rgb);
    }

    /** Pillow's {@code clip8}: the 22-bit fixed-point sum, shifted down (arithmetically) and clamped to 0..255. */
    private static int clip8(int ss) {
        return Math.max(0, Math.min(255, ss >> PRECISION_BITS));
    }

    /** Per output pixel: the first source index, the count, and {@code ksize} fixed-point weights. */
    record Coeffs(int ksize, int[] bounds, int[] kk) {}

    /** {@code precompute_coeffs} then {@code normalize_coeffs_8bpc} for {@code in0..in1} of {@code inSize} → {@code outSize}. */
    static Coeffs coeffs(int inSize, float in0, float in1, int outSize, Filter filter) {
        double scale = (double) (in1 - in0) / outSize;
        double filterscale = Math.max(scale, 1.0);
        double support = filter.support * filterscale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] bounds = new int[outSize * 2];
        int[] kk = new int[outSize * ksize];
        double[] k = new double[ksize];
        for (int xx = 0; xx < outSize; xx++) {
            double center = in0 + (xx + 0.5) * scale;
            double ww = 0.0, ss = 1.0 / filterscale;
            int xmin = Math.max((int) (center - support + 0.5), 0);
            int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
            java.util.Arrays.fill(k, 0);
            for (int x = 0; x < xmax; x++) {
                k[x] = filter.apply((x + xmin - center + 0.5) * ss);
                ww += k[x];
            }
            for (int x = 0; x < xmax; x++) if (ww != 0.0) k[x] /= ww;
            for (int x = 0; x < ksize; x++) {
                double v = k[x] * (1 << PRECISION_BITS);
                kk[xx * ksize + x] = (int) (k[x] < 0 ? -0.5 + v : 0.5 + v);
            }
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        return new Coeffs(ksize, bounds, kk);
    }

    /** Pillow's {@code lanczos_filter}: sinc(x) · sinc(x / 3) on [−3, 3). */
    static double lanczos(double x) {
        return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
    }

    /** Pillow's {@code bicubic_filter} (a = −0.5). */
    static double bicubic(double x) {
        final double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    private static double sinc(double x) {
        if (x == 0.0) return 1.0;
        x = x * Math.PI;
        return StrictMath.sin(x) / x;
    }
}
