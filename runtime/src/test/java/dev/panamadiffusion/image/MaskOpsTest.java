package dev.panamadiffusion.image;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The mask blur and crop steps ({@link GaussianBlur}, {@link PilResize}, {@link MaskCrop}) against what Pillow 9.4
 * and diffusers 0.27.2's {@code VaeImageProcessor} made of the same pictures (the repository's
 * {@code reference/mask_ops}, tools/refgen/gen_mask_ops.py), byte for byte, and against naive references: the
 * extended box filter written out as a sum per pixel, a float Lanczos convolution, a float Gaussian.
 */
class MaskOpsTest {
    private static final Path FILE = Path.of(System.getProperty("pd.home", "..")).resolve("reference/mask_ops/pil_ops.safetensors");
    private static Arena arena;
    private static Map<String, Tensor> t;

    @BeforeAll
    static void load() {
        assertTrue(Files.isRegularFile(FILE), "missing " + FILE + " (-Dpd.home)");
        arena = Arena.ofShared();
        t = SafeTensors.open(FILE, arena).tensors();
    }

    @AfterAll
    static void close() {
        if (arena != null) arena.close();
    }

    /** A [H, W] tensor of 0xRRGGBB values as a picture. */
    static Rgb8Image picture(Tensor p) {
        int h = (int) p.dim(0), w = (int) p.dim(1);
        byte[] rgb = new byte[w * h * 3];
        for (int i = 0; i < w * h; i++) {
            long v = p.getLong(i);
            rgb[3 * i] = (byte) (v >> 16);
            rgb[3 * i + 1] = (byte) (v >> 8);
            rgb[3 * i + 2] = (byte) v;
        }
        return new Rgb8Image(w, h, rgb);
    }

    private static void assertSame8(Rgb8Image expected, Rgb8Image actual, String what) {
        assertEquals(expected.width() + "x" + expected.height(), actual.width() + "x" + actual.height(), what + " size");
        for (int i = 0; i < expected.rgb().length; i++) {
            int e = expected.rgb()[i] & 0xff, a = actual.rgb()[i] & 0xff;
            if (e != a) fail(what + ": pixel " + (i / 3) + " channel " + (i % 3) + " is " + a + ", PIL's " + e);
        }
    }

    @Test
    void gaussianBlurEqualsPil() {
        Rgb8Image picture = picture(t.get("picture"));
        Tensor radii = t.get("blur_radius");
        assertTrue(radii.numel() >= 5);
        for (int i = 0; i < radii.numel(); i++) {
            float r = radii.getLong(i) / 4f;
            assertSame8(picture(t.get("blur_" + i)), GaussianBlur.blur(picture, r), "GaussianBlur(" + r + ")");
        }
    }

    @Test
    void lanczosResizeEqualsPil() {
        Rgb8Image picture = picture(t.get("picture"));
        Tensor args = t.get("resize_args");
        for (int i = 0; i < args.dim(0); i++) {
            int w = (int) args.getLong(i * 6), h = (int) args.getLong(i * 6 + 1);
            float[] b = new float[4];
            for (int k = 0; k < 4; k++) b[k] = args.getLong(i * 6 + 2 + k) / 4f;
            assertSame8(picture(t.get("resize_" + i)), PilResize.resize(picture, w, h, b[0], b[1], b[2], b[3]),
                    "resize to " + w + "x" + h + " from box " + java.util.Arrays.toString(b));
        }
    }

    @Test
    void fillAndCropResizesEqualDiffusers() {
        Rgb8Image[] sources = {picture(t.get("picture")), picture(t.get("picture_tall"))};
        for (String mode : new String[] {"fill", "crop"}) {
            Tensor args = t.get(mode + "_args");
            for (int i = 0; i < args.dim(0); i++) {
                Rgb8Image src = sources[(int) args.getLong(i * 3)];
                int w = (int) args.getLong(i * 3 + 1), h = (int) args.getLong(i * 3 + 2);
                Rgb8Image got = mode.equals("fill") ? MaskCrop.resizeAndFill(src, w, h) : MaskCrop.resizeAndCrop(src, w, h);
                assertSame8(picture(t.get(mode + "_" + i)), got, mode + " " + src.width() + "x" + src.height() + " to " + w + "x" + h);
            }
        }
    }

    @Test
    void cropRegionEqualsDiffusers() {
        Rgb8Image[] masks = {picture(t.get("mask")), picture(t.get("picture"))};
        Tensor r = t.get("crop_region");
        for (int i = 0; i < r.dim(0); i++) {
            long[] row = new long[8];
            for (int k = 0; k < 8; k++) row[k] = r.getLong(i * 8 + k);
            MaskCrop.Box box = MaskCrop.getCropRegion(masks[(int) row[0]], (int) row[1], (int) row[2], (int) row[3]);
            assertArrayEquals(java.util.Arrays.copyOfRange(row, 4, 8), box.toArray(), "get_crop_region " + java.util.Arrays.toString(row));
        }
    }

    @Test
    void applyOverlayEqualsDiffusers() {
        Rgb8Image mask = picture(t.get("mask")), init = picture(t.get("overlay_init")), image = picture(t.get("overlay_image"));
        Tensor args = t.get("overlay_args");
        for (int i = 0; i < args.dim(0); i++) {
            long x1 = args.getLong(i * 4);
            MaskCrop.Box box = x1 < 0 ? null : new MaskCrop.Box((int) x1, (int) args.getLong(i * 4 + 1),
                    (int) args.getLong(i * 4 + 2), (int) args.getLong(i * 4 + 3));
            assertSame8(picture(t.get("overlay_" + i)), MaskCrop.applyOverlay(mask, init, image, box), "apply_overlay " + box);
        }
    }

    @Test
    void a1111FillEqualsPil() {
        Rgb8Image[] pictures = {picture(t.get("fill_picture")), picture(t.get("overlay_init"))};
        Tensor args = t.get("a1111_fill_args");
        assertTrue(args.dim(0) >= 5);
        for (int i = 0; i < args.dim(0); i++) {
            Rgb8Image image = pictures[(int) args.getLong(i * 2)], mask = picture(t.get("fill_mask_" + args.getLong(i * 2 + 1)));
            assertSame8(picture(t.get("a1111_fill_" + i)), MaskFill.fill(image, mask), "masking.fill #" + i);
        }
    }

    /** Where the mask is black the picture is kept; where it is white the colours come from elsewhere in the picture. */
    @Test
    void a1111FillKeepsTheUnmaskedPictureAndPaintsTheMaskedArea() {
        byte[] rgb = new byte[12 * 8 * 3], m = new byte[12 * 8 * 3];
        for (int p = 0; p < 12 * 8; p++) {
            boolean left = p % 12 < 6, masked = p % 12 >= 5 && p % 12 < 9;
            rgb[3 * p] = (byte) (left ? 200 : 20);                                  // red on the left, blue on the right
            rgb[3 * p + 2] = (byte) (left ? 20 : 200);
            if (masked) m[3 * p] = m[3 * p + 1] = m[3 * p + 2] = (byte) 255;
        }
        Rgb8Image image = new Rgb8Image(12, 8, rgb), out = MaskFill.fill(image, new Rgb8Image(12, 8, m));
        for (int p = 0; p < 12 * 8; p++) {
            int x = p % 12;
            if (x < 5 || x >= 9) {
                for (int c = 0; c < 3; c++) assertEquals(rgb[3 * p + c], out.rgb()[3 * p + c], "unmasked pixel " + p);
            } else {
                int r = out.rgb()[3 * p] & 0xff, b = out.rgb()[3 * p + 2] & 0xff;
                assertTrue(r > 20 && r < 200 && b > 20 && b < 200, "masked pixel " + p + " blends both sides: " + r + "," + b);
                if (x == 5) assertTrue(r > b, "next to the red side, red dominates: " + r + "," + b);
                if (x == 8) assertTrue(b > r, "next to the blue side, blue dominates: " + r + "," + b);
            }
        }
    }

    /** The extended box blur as a sum over each window (no running sum), edge pixels repeated: the same bytes. */
    @Test
    void boxBlurLineEqualsWindowSums() {
        Random rnd = new Random(5);
        for (int size : new int[] {1, 2, 3, 7, 20}) {
            for (float radius : new float[] {0f, 0.4f, 1f, 1.7f, 3.2f, 12.5f}) {
                int[] in = new int[size], out = new int[size];
                for (int i = 0; i < size; i++) in[i] = rnd.nextInt(256);
                GaussianBlur.lineBlur(out, in, size, radius);
                int r = (int) radius;
                long ww = (long) (16777216f / (radius * 2 + 1)), fw = (16777216L - (2L * r + 1) * ww) / 2;
                for (int x = 0; x < size; x++) {
                    long sum = 0;
                    for (int k = -r; k <= r; k++) sum += in[Math.clamp(x + k, 0, size - 1)];
                    long bulk = sum * ww + (in[Math.clamp(x - r - 1, 0, size - 1)] + in[Math.clamp(x + r + 1, 0, size - 1)]) * fw;
                    assertEquals((bulk + (1 << 23)) >> 24, out[x], "size " + size + " radius " + radius + " x " + x);
                }
            }
        }
    }

    /** The blur of a point is close to a sampled Gaussian of the same standard deviation (within 2 levels of 255). */
    @Test
    void gaussianBlurApproximatesGaussian() {
        int n = 41, c = 20;
        float sigma = 3f;
        byte[] rgb = new byte[n * n * 3];
        java.util.Arrays.fill(rgb, (byte) 0);
        for (int k = 0; k < 3; k++) rgb[(c * n + c) * 3 + k] = (byte) 255;
        // a bright square, so the blurred values are large enough to compare
        for (int y = c - 4; y <= c + 4; y++) for (int x = c - 4; x <= c + 4; x++) for (int k = 0; k < 3; k++) rgb[(y * n + x) * 3 + k] = (byte) 255;
        Rgb8Image out = GaussianBlur.blur(new Rgb8Image(n, n, rgb), sigma);
        for (int y = 0; y < n; y++) {
            for (int x = 0; x < n; x++) {
                double v = 255 * box1d(x - c, sigma) * box1d(y - c, sigma);
                assertEquals(v, out.rgb()[(y * n + x) * 3] & 0xff, 4.0, "(" + x + ", " + y + ")");
            }
        }
    }

    /** The integral of a unit square [−4.5, 4.5] against a Gaussian centred at d. */
    private static double box1d(int d, float sigma) {
        return 0.5 * (erf((d + 4.5) / (sigma * Math.sqrt(2))) - erf((d - 4.5) / (sigma * Math.sqrt(2))));
    }

    private static double erf(double x) { // Abramowitz-Stegun 7.1.26, |error| < 1.5e-7
        double s = Math.signum(x), a = Math.abs(x), k = 1 / (1 + 0.3275911 * a);
        double y = 1 - (((((1.061405429 * k - 1.453152027) * k) + 1.421413741) * k - 0.284496736) * k + 0.254829592) * k * Math.exp(-a * a);
        return s * y;
    }

    /** Lanczos in fixed point stays within one level of the same convolution in doubles. */
    @Test
    void lanczosResizeMatchesFloatConvolution() {
        Rgb8Image picture = picture(t.get("picture"));
        int[][] sizes = {{16, 16}, {4, 3}, {20, 7}, {3, 10}};
        for (int[] s : sizes) {
            Rgb8Image got = PilResize.resize(picture, s[0], s[1]);
            double[] horizontal = new double[s[0] * picture.height() * 3];
            double[][] kx = weights(picture.width(), s[0]), ky = weights(picture.height(), s[1]);
            for (int y = 0; y < picture.height(); y++) {
                for (int x = 0; x < s[0]; x++) {
                    for (int c = 0; c < 3; c++) {
                        double v = 0;
                        for (int i = 0; i < picture.width(); i++) v += kx[x][i] * (picture.rgb()[(y * picture.width() + i) * 3 + c] & 0xff);
                        horizontal[(y * s[0] + x) * 3 + c] = Math.clamp(Math.round(v), 0, 255); // PIL rounds each pass
                    }
                }
            }
            for (int y = 0; y < s[1]; y++) {
                for (int x = 0; x < s[0]; x++) {
                    for (int c = 0; c < 3; c++) {
                        double v = 0;
                        for (int j = 0; j < picture.height(); j++) v += ky[y][j] * horizontal[(j * s[0] + x) * 3 + c];
                        assertEquals(Math.clamp(v, 0, 255), got.rgb()[(y * s[0] + x) * 3 + c] & 0xff, 1.0,
                                s[0] + "x" + s[1] + " at (" + x + ", " + y + ")");
                    }
                }
            }
        }
    }

    /** Normalised Lanczos-3 weights (support widened by the scale when shrinking), every source pixel. */
    private static double[][] weights(int in, int out) {
        double scale = (double) in / out, fs = Math.max(scale, 1);
        double[][] k = new double[out][in];
        for (int o = 0; o < out; o++) {
            double center = (o + 0.5) * scale, sum = 0;
            for (int i = 0; i < in; i++) {
                double x = (i + 0.5 - center) / fs;
                k[o][i] = Math.abs(x) < 3 ? sinc(x) * sinc(x / 3) : 0;
                sum += k[o][i];
            }
            for (int i = 0; i < in; i++) k[o][i] /= sum;
        }
        return k;
    }

    private static double sinc(double x) {
        return x == 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    }

    @Test
    void sameSizeIsACopyAndWholePixelBoxACrop() {
        Rgb8Image picture = picture(t.get("picture"));
        Rgb8Image same = PilResize.resize(picture, picture.width(), picture.height());
        assertArrayEquals(picture.rgb(), same.rgb());
        assertNotSame(picture.rgb(), same.rgb());
        Rgb8Image cut = PilResize.resize(picture, 4, 3, 2, 1, 6, 4);
        assertArrayEquals(PilResize.crop(picture, 2, 1, 4, 3).rgb(), cut.rgb());
        assertThrows(IllegalArgumentException.class, () -> PilResize.resize(picture, 4, 4, -1, 0, 3, 4));
        assertThrows(IllegalArgumentException.class, () -> MaskCrop.getCropRegion(new Rgb8Image(4, 4, new byte[48]), 8, 8, 0));
    }
}
