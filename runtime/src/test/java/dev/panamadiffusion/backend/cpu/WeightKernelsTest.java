package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.backend.WeightPrecision;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The reduced-precision weight paths ({@link Packed.Format#BF16}, {@link Packed.Format#I8}): the stored values
 * against their documented bounds, and every kernel shape against the naive {@link Reference}, twice: with the
 * weights as stored (the kernels' own error: f32 summation only, 1e-5) and with the original f32 weights (the
 * format's error: each output within sum_k |x_k| * bound_k, bound_k the per-weight bound below, plus the f32 slack).
 *
 * <p>Per-weight bounds: bf16 |w' - w| <= 2^-8 |w| (round to nearest of 8 significant bits); int8 |w' - w| <= s / 2
 * with s = max |w| over the weight's row (output channel) and group of {@link Packed#I8_GROUP} reduction steps / 127.
 */
class WeightKernelsTest {
    private static final Parallel PAR = new Parallel(3);
    private final SplittableRandom random = new SplittableRandom(7);

    @AfterAll
    static void close() { PAR.close(); }

    /** Values of mixed magnitudes: uniform in (-1, 1) times 10^[-3, 1], some rows scaled down, some zeros. */
    private float[] weights(int rows, int k) {
        float[] w = new float[rows * k];
        for (int r = 0; r < rows; r++) {
            double rowScale = r % 5 == 3 ? 1e-3 : 1;
            for (int i = 0; i < k; i++) {
                double v = (random.nextDouble() * 2 - 1) * Math.pow(10, random.nextInt(-3, 2)) * rowScale;
                w[r * k + i] = i % 17 == 5 ? 0f : (float) v;
            }
        }
        return w;
    }

    private float[] rand(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (random.nextDouble() * 2 - 1);
        return a;
    }

    /** The bound on |stored - w| for weight (r, kk) of the row-major [rows, k] matrix w, in {@code p}'s format. */
    private static double bound(Packed p, float[] w, int k, int r, int kk) {
        return switch (p.format()) {
            case F32 -> 0;
            case BF16 -> Math.abs(w[r * k + kk]) * 0x1p-8;
            case I8 -> {
                int k0 = kk / Packed.I8_GROUP * Packed.I8_GROUP;
                double max = 0;
                for (int i = k0; i < Math.min(k, k0 + Packed.I8_GROUP); i++) max = Math.max(max, Math.abs(w[r * k + i]));
                yield max / 127 / 2 * (1 + 1e-6);
            }
        };
    }

    private static float[] stored(Packed p, int rows, int k) {
        float[] s = new float[rows * k];
        for (int r = 0; r < rows; r++) for (int kk = 0; kk < k; kk++) s[r * k + kk] = p.get(r, kk);
        return s;
    }

    @ParameterizedTest
    @CsvSource({"BF16,1,1,32", "BF16,37,300,32", "BF16,13,70,6", "I8,1,1,32", "I8,37,300,32", "I8,13,70,6", "I8,64,513,6"})
    void packedValuesStayWithinTheirBound(Packed.Format format, int rows, int k, int width) {
        float[] w = weights(rows, k);
        Packed p = Packed.pack(null, MemorySegment.ofArray(w), 0, k, 1, rows, k, width, format, Arena.ofAuto());
        assertEquals(format, p.format());
        if (format == Packed.Format.I8) assertTrue(p.kc() % Packed.I8_GROUP == 0 && p.kc() <= Packed.KC_MAX, "int8 block " + p.kc());
        for (int r = 0; r < rows; r++) {
            for (int kk = 0; kk < k; kk++) {
                double err = Math.abs(p.get(r, kk) - w[r * k + kk]);
                if (!(err <= bound(p, w, k, r, kk))) fail(format + " (" + r + ", " + kk + "): " + w[r * k + kk] + " stored as " + p.get(r, kk));
            }
        }
        // padding rows read as zeros
        for (int r = rows; r < p.nPad(); r++) assertEquals(0f, p.get(r, 0));
    }

    @Test
    void bf16RoundsToNearestEvenAndKeepsSpecials() {
        for (float v : new float[] {0f, -0f, 1f, -2.5f, 0x1.02p0f, Float.MAX_VALUE, Float.MIN_NORMAL, Float.POSITIVE_INFINITY,
                Float.NEGATIVE_INFINITY}) {
            float back = Packed.fromBf16(Packed.bf16(v));
            if (Float.isInfinite(v) || v == 0f || v == 1f || v == -2.5f || v == 0x1.02p0f) {
                assertEquals(Float.floatToIntBits(v), Float.floatToIntBits(back), "exact " + v);
            }
        }
        assertEquals(Float.POSITIVE_INFINITY, Packed.fromBf16(Packed.bf16(Float.MAX_VALUE)), "rounds up past the largest bf16");
        assertEquals(1f, Packed.fromBf16(Packed.bf16(0x1.008p0f)), "a tie goes to the even significand");
        assertEquals(0x1.02p0f, Packed.fromBf16(Packed.bf16(0x1.018p0f)), "a tie goes to the even significand");
        assertEquals(0x1.02p0f, Packed.fromBf16(Packed.bf16(0x1.0101p0f)), "above the tie rounds up");
        assertTrue(Float.isNaN(Packed.fromBf16(Packed.bf16(Float.NaN))));
        assertTrue(Float.isNaN(Packed.fromBf16(Packed.bf16(Float.intBitsToFloat(0x7f800001)))), "a NaN with low payload bits only");
    }

    @Test
    void int8ExtremesAreExactAndZeroBlocksStayZero() {
        int k = 3 * Packed.I8_GROUP + 5;
        float[] w = new float[2 * k];
        for (int i = 0; i < k; i++) w[i] = (i % 3 - 1) * 0.75f; // -0.75, 0, 0.75: all on the grid
        Packed p = Packed.pack(null, MemorySegment.ofArray(w), 0, k, 1, 2, k, Microkernel.MR, Packed.Format.I8, Arena.ofAuto());
        for (int i = 0; i < k; i++) {
            assertEquals(w[i], p.get(0, i), 1e-7, "element " + i);
            assertEquals(0f, p.get(1, i), "an all-zero row has scale 0 and stays zero");
        }
    }

    // ---- linear: activation rows times the B panels (vector conversion) --------------------------------------------

    @ParameterizedTest
    @CsvSource({"BF16,1,1,1", "BF16,7,13,5", "BF16,33,300,70", "BF16,97,513,33", "BF16,3,40,1000", "BF16,200,257,65",
            "I8,1,1,1", "I8,7,13,5", "I8,33,300,70", "I8,97,513,33", "I8,3,40,1000", "I8,200,257,65", "I8,2,768,320"})
    void linearMatchesTheReference(Packed.Format format, int m, int k, int n) {
        float[] x = rand(m * k), w = weights(n, k), b = rand(n);
        Packed p = Sgemm.packWeightT(PAR, MemorySegment.ofArray(w), 0, n, k, format, Arena.ofAuto());
        Tensor out = Tensor.allocate(DType.F32, m, n);
        Sgemm.linear(PAR, MemorySegment.ofArray(x), 0, m, p, java.util.Arrays.copyOf(b, p.nPad()), out.segment());
        float[] got = out.toFloatArray();
        float[] asStored = Reference.linear(x, m, k, stored(p, n, k), n, b);
        float[] exact = Reference.linear(x, m, k, w, n, b);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double mag = Math.abs(b[j]), tol = 0;
                for (int kk = 0; kk < k; kk++) {
                    mag += Math.abs(x[i * k + kk] * w[j * k + kk]);
                    tol += Math.abs(x[i * k + kk]) * bound(p, w, k, j, kk);
                }
                float g = got[i * n + j];
                if (!(Math.abs(g - asStored[i * n + j]) <= 1e-5 * (1 + mag))) {
                    fail(format + " kernel (" + i + ", " + j + "): " + g + " vs " + asStored[i * n + j] + " from the stored weights");
                }
                if (!(Math.abs(g - exact[i * n + j]) <= tol + 1e-5 * (1 + mag))) {
                    fail(format + " (" + i + ", " + j + "): " + g + " vs " + exact[i * n + j] + ", bound " + tol);
                }
            }
        }
    }

    // ---- convolution: the weight's A panels times activation columns (scalar conversion) ---------------------------

    @ParameterizedTest
    @CsvSource({"BF16,1,3,8,8,5,3,1,1", "BF16,2,33,10,10,14,3,1,1", "BF16,2,8,16,16,13,1,1,0", "BF16,1,20,7,7,7,3,2,1",
            "I8,1,3,8,8,5,3,1,1", "I8,2,33,10,10,14,3,1,1", "I8,2,8,16,16,13,1,1,0", "I8,1,20,7,7,7,3,2,1", "I8,2,70,6,5,9,3,1,1"})
    void convMatchesTheReference(Packed.Format format, int n, int c, int h, int wd, int o, int kk, int stride, int pad) {
        int k = c * kk * kk;
        float[] x = rand(n * c * h * wd), w = weights(o, k), b = rand(o);
        Packed p = Conv2dCpu.packWeight(PAR, MemorySegment.ofArray(w), 0, o, k, format, Arena.ofAuto());
        int ho = (h + 2 * pad - kk) / stride + 1, wo = (wd + 2 * pad - kk) / stride + 1;
        Tensor xt = Tensor.fromFloats(x, n, c, h, wd);
        Tensor out = Tensor.allocate(DType.F32, n, o, ho, wo);
        Conv2dCpu.conv(PAR, xt.segment(), 0, n, c, h, wd, p, kk, kk, stride, pad, java.util.Arrays.copyOf(b, p.nPad()), out.segment());
        float[] got = out.toFloatArray();
        float[] asStored = Reference.conv2d(x, n, c, h, wd, stored(p, o, k), o, kk, kk, b, stride, pad);
        float[] exact = Reference.conv2d(x, n, c, h, wd, w, o, kk, kk, b, stride, pad);
        // the format's bound with |x| <= 1: sum over the reduction of the per-weight bounds
        for (int oc = 0; oc < o; oc++) {
            double tol = 0, mag = Math.abs(b[oc]);
            for (int i = 0; i < k; i++) {
                tol += bound(p, w, k, oc, i);
                mag += Math.abs(w[oc * k + i]);
            }
            for (int img = 0; img < n; img++) {
                for (int j = 0; j < ho * wo; j++) {
                    int at = (img * o + oc) * ho * wo + j;
                    if (!(Math.abs(got[at] - asStored[at]) <= 1e-5 * (1 + mag))) {
                        fail(format + " kernel at " + at + ": " + got[at] + " vs " + asStored[at] + " from the stored weights");
                    }
                    if (!(Math.abs(got[at] - exact[at]) <= tol + 1e-5 * (1 + mag))) {
                        fail(format + " at " + at + ": " + got[at] + " vs " + exact[at] + ", bound " + tol);
                    }
                }
            }
        }
    }

    // ---- the backend ------------------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(WeightPrecision.class)
    void theBackendStoresItsWeightsInItsPrecision(WeightPrecision precision) {
        int m = 9, k = 256, n = 96;
        float[] x = rand(m * k), w = rand(n * k);
        try (CpuBackend cpu = new CpuBackend(2, precision)) {
            assertEquals(precision, cpu.weights());
            Tensor wt = Tensor.fromFloats(w, n, k);
            Tensor out = cpu.linear(Tensor.fromFloats(x, m, k), wt, null);
            long bytes = cpu.cachedWeightBytes();
            long expected = switch (precision) {
                case F32 -> 4L * n * k;
                case BF16 -> 2L * n * k;
                case INT8 -> (long) n * k + 4L * n * ((k + Packed.I8_GROUP - 1) / Packed.I8_GROUP);
            };
            assertEquals(expected, bytes, precision + " packed bytes");
            float[] ref = Reference.linear(x, m, k, w, n, null);
            double tol = precision == WeightPrecision.F32 ? 1e-5 : precision == WeightPrecision.BF16 ? 0.02 : 0.05;
            CpuBackendTest.assertClose(ref, out, tol);
            java.lang.ref.Reference.reachabilityFence(wt);
        }
    }

    @ParameterizedTest
    @CsvSource({"F16,BF16", "F16,INT8", "BF16,BF16", "BF16,INT8", "F32,INT8"})
    void weightsReadFromHalfPrecisionFilesPackToo(DType source, WeightPrecision precision) {
        int m = 5, k = 200, n = 40, o = 12, c = 9;
        float[] x = rand(m * k), w = rand(n * k), xc = rand(2 * c * 6 * 6), wc = rand(o * c * 9);
        Tensor wt = Tensor.fromFloats(w, n, k).to(source), wct = Tensor.fromFloats(wc, o, c, 3, 3).to(source);
        double tol = precision == WeightPrecision.BF16 ? 0.02 : 0.05;
        try (CpuBackend cpu = new CpuBackend(2, precision)) {
            CpuBackendTest.assertClose(Reference.linear(x, m, k, wt.toFloatArray(), n, null),
                    cpu.linear(Tensor.fromFloats(x, m, k), wt, null), tol);
            CpuBackendTest.assertClose(Reference.conv2d(xc, 2, c, 6, 6, wct.toFloatArray(), o, 3, 3, null, 1, 1),
                    cpu.conv2d(Tensor.fromFloats(xc, 2, c, 6, 6), wct, null, 1, 1), tol);
        }
    }

    @Test
    void reducedWeightsTakeTheDirectConvolutionWhenWinogradIsOn() {
        String before = System.getProperty("pd.cpu.winograd");
        System.setProperty("pd.cpu.winograd", "always");
        try (CpuBackend cpu = new CpuBackend(2, WeightPrecision.BF16)) {
            int n = 1, c = 64, h = 8, wd = 8, o = 64;
            float[] x = rand(n * c * h * wd), w = rand(o * c * 9);
            assertTrue(WinogradCpu.applies(n, c, h, wd, o, 3, 3, 1, 1), "a Winograd shape");
            Tensor out = cpu.conv2d(Tensor.fromFloats(x, n, c, h, wd), Tensor.fromFloats(w, o, c, 3, 3), null, 1, 1);
            CpuBackendTest.assertClose(Reference.conv2d(x, n, c, h, wd, w, o, 3, 3, null, 1, 1), out, 0.05);
            assertEquals(2L * Packed.pad(o, Microkernel.MR) * c * 9, cpu.cachedWeightBytes(), "packed for the direct convolution, in bf16");
        } finally {
            if (before == null) System.clearProperty("pd.cpu.winograd");
            else System.setProperty("pd.cpu.winograd", before);
        }
    }

    @Test
    void precisionsParseAndRefuseUnknownNames() {
        assertEquals(WeightPrecision.INT8, WeightPrecision.parse("INT8"));
        assertEquals(WeightPrecision.BF16, WeightPrecision.parse("bf16"));
        assertEquals(WeightPrecision.F32, WeightPrecision.parse(" f32 "));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WeightPrecision.parse("q4_0"));
        assertEquals("unknown weight precision 'q4_0' (use f32, bf16 or int8)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> WeightPrecision.parse(null));
    }
}
