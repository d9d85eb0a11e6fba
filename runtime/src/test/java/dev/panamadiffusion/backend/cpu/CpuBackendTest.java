package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.DoubleUnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Every CpuBackend op against the naive scalar {@link Reference}, on random inputs with awkward sizes. */
class CpuBackendTest {
    private static final CpuBackend CPU = new CpuBackend(3); // more threads than cores: exercises the pool
    private final SplittableRandom random = new SplittableRandom(42);

    @AfterAll
    static void close() { CPU.close(); }

    private float[] rand(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (random.nextDouble() * 2 - 1);
        return a;
    }

    private Tensor tensor(float[] v, long... shape) { return Tensor.fromFloats(v, shape); }

    static void assertClose(float[] expected, Tensor actual, double tol) {
        float[] got = actual.toFloatArray();
        assertEquals(expected.length, got.length, "element count");
        for (int i = 0; i < got.length; i++) {
            double e = expected[i];
            if (!(Math.abs(got[i] - e) <= tol * (1 + Math.abs(e)))) {
                fail("element " + i + " of " + actual + ": expected " + e + " got " + got[i]);
            }
        }
    }

    // ---- linear ---------------------------------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({"1,1,1,true", "7,13,5,false", "2,77,768,true", "33,300,70,true", "200,257,65,false", "97,513,33,true",
            "3,40,1000,true", "300,20,700,false"})
    void linear(int m, int k, int n, boolean withBias) {
        float[] x = rand(m * k), w = rand(n * k), b = withBias ? rand(n) : null;
        Tensor out = CPU.linear(tensor(x, m, k), tensor(w, n, k), b == null ? null : tensor(b, n));
        assertArrayEquals(new long[] {m, n}, out.shape());
        assertClose(Reference.linear(x, m, k, w, n, b), out, 1e-5);
    }

    @Test
    void linearKeepsLeadingDimsAndReusesPackedWeight() {
        int b = 2, l = 9, k = 40, n = 37;
        float[] x = rand(b * l * k), w = rand(n * k), bias = rand(n);
        Tensor wt = tensor(w, n, k);
        // a backend of its own: the shared one's weak cache also holds other tests' weights, which the GC may drop
        try (CpuBackend cpu = new CpuBackend(2)) {
            Tensor first = cpu.linear(tensor(x, b, l, k), wt, tensor(bias, n));
            assertEquals(1, cpu.cachedWeights(), "the weight is packed once");
            Tensor second = cpu.linear(tensor(x, b, l, k), wt, tensor(bias, n));
            assertEquals(1, cpu.cachedWeights(), "second call must reuse the packed weight");
            assertArrayEquals(new long[] {b, l, n}, first.shape());
            float[] ref = Reference.linear(x, b * l, k, w, n, bias);
            assertClose(ref, first, 1e-5);
            assertClose(ref, second, 1e-5);
        }
    }

    @Test
    void aClosedBackendRefusesWorkInsteadOfHanging() {
        CpuBackend cpu = new CpuBackend(2);
        cpu.close();
        Tensor x = tensor(rand(64 * 64), 64, 64);
        org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> cpu.linear(x, x, null));
    }

    @Test
    void linearOnNonContiguousAndHalfInputs() {
        int m = 5, k = 12, n = 7;
        float[] x = rand(m * k), w = rand(n * k);
        Tensor xt = tensor(x, k, m).transpose(0, 1); // a strided view [m, k] with x' = x^T
        float[] xv = xt.contiguous().toFloatArray();
        Tensor w16 = tensor(w, n, k).to(DType.F16);
        float[] w16v = w16.toFloatArray();
        assertClose(Reference.linear(xv, m, k, w16v, n, null), CPU.linear(xt, w16, null), 1e-5);
    }

    @Test
    void linearRejectsMismatchedShapes() {
        assertThrows(IllegalArgumentException.class, () -> CPU.linear(Tensor.zeros(2, 3), Tensor.zeros(4, 5), null));
        assertThrows(IllegalArgumentException.class, () -> CPU.linear(Tensor.zeros(2, 3), Tensor.zeros(4, 3), Tensor.zeros(5)));
    }

    // ---- conv2d ---------------------------------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({
            "1,3,8,8,5,3,1,1,true", "2,4,9,7,6,3,1,1,false", "2,5,9,11,7,3,2,1,true", "2,8,16,16,13,1,1,0,true",
            "1,3,5,5,2,3,2,0,false", "2,6,12,10,9,3,1,0,true", "1,4,65,3,4,3,1,1,true", "2,33,10,10,14,3,1,1,true",
            "1,2,6,6,3,5,1,2,false", "1,20,7,7,7,3,2,1,true", "2,7,40,70,5,1,1,0,true", "1,3,8,8,4,1,2,0,false",
            "2,5,33,35,13,3,1,1,true", "1,4,6,6,3,1,1,1,true", "3,6,8,8,7,3,1,1,true", "3,5,16,16,9,1,1,0,false",
            "5,3,8,4,8,3,1,1,true", "1,2,3,3,2,3,1,2,true", "2,3,4,50,3,3,2,1,false", "1,3,2,40,4,5,1,2,true"})
    void conv2d(int n, int c, int h, int w, int o, int k, int stride, int pad, boolean withBias) {
        float[] x = rand(n * c * h * w), wt = rand(o * c * k * k), b = withBias ? rand(o) : null;
        Tensor out = CPU.conv2d(tensor(x, n, c, h, w), tensor(wt, o, c, k, k), b == null ? null : tensor(b, o), stride, pad);
        int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
        assertArrayEquals(new long[] {n, o, ho, wo}, out.shape());
        assertClose(Reference.conv2d(x, n, c, h, w, wt, o, k, k, b, stride, pad), out, 1e-5);
    }

    @ParameterizedTest
    @CsvSource({"1,3,5,7,4,3,1,true", "2,5,8,8,6,3,1,false", "1,4,17,3,5,3,0,true", "2,3,4,4,2,1,0,true",
            "1,2,3,3,3,5,2,false", "2,33,6,25,7,3,1,true", "1,70,4,4,9,3,1,true", "1,8,6,40,5,3,1,true", "1,3,5,41,4,3,2,false"})
    void upsampledConvolutionIsTheConvolutionOfTheUpsampledInput(int n, int c, int h, int w, int o, int k, int pad,
                                                                 boolean withBias) {
        float[] x = rand(n * c * h * w), wt = rand(o * c * k * k), b = withBias ? rand(o) : null;
        Tensor xt = tensor(x, n, c, h, w), wtt = tensor(wt, o, c, k, k), bt = b == null ? null : tensor(b, o);
        Tensor fused = CPU.upsampleNearest2xConv2d(xt, wtt, bt, pad);
        Tensor composed = CPU.conv2d(CPU.upsampleNearest2x(xt), wtt, bt, 1, pad);
        assertArrayEquals(composed.shape(), fused.shape());
        assertArrayEquals(composed.toFloatArray(), fused.toFloatArray(), "the same sums in the same order");
        float[] up = new float[n * c * 4 * h * w]; // and against the naive convolution of a naive upsampling
        for (int i = 0; i < up.length; i++) {
            int xx = i % (2 * w), yy = i / (2 * w) % (2 * h), plane = i / (4 * h * w);
            up[i] = x[plane * h * w + (yy / 2) * w + xx / 2];
        }
        assertClose(Reference.conv2d(up, n, c, 2 * h, 2 * w, wt, o, k, k, b, 1, pad), fused, 1e-5);
    }

    @Test
    void conv2dLargeReductionSpansSeveralBlocks() {
        int n = 2, c = 70, h = 6, w = 5, o = 9; // K = 630 > one reduction block
        float[] x = rand(n * c * h * w), wt = rand(o * c * 9), b = rand(o);
        Tensor out = CPU.conv2d(tensor(x, n, c, h, w), tensor(wt, o, c, 3, 3), tensor(b, o), 1, 1);
        assertClose(Reference.conv2d(x, n, c, h, w, wt, o, 3, 3, b, 1, 1), out, 1e-5);
    }

    /**
     * Planes too small to give every thread a chunk of pixels (a UNet's 8x8 and 16x16 levels): the tasks split the
     * output channels; with 4 or more a chunk (here: 3 threads, 128 pixels, 4 or more channel panels), over columns
     * packed once and shared (several reduction blocks, images spanned, a partial last channel panel, an upsampled
     * input); past the shared columns' 24 MiB, or with fewer tasks a chunk, each task packs its own.
     */
    @ParameterizedTest
    @CsvSource({"2,40,8,8,20,1,true,1e-5", "2,300,8,8,29,1,false,1e-4", "2,40,4,4,20,2,true,1e-5",
            "2,70,16,16,13,1,false,1e-5", "1,33,5,7,11,1,true,1e-5", "2,5300,8,8,24,1,true,2e-3"})
    // the second and last: sums of 2700 and 47700 products, outputs of ~17 and ~70 (f32's own error grows with them;
    // the bound is per element); the last one's columns, of 187 reduction blocks, are past the shared limit
    void conv2dOnFewPixels(int n, int c, int h, int w, int o, int up, boolean withBias, double tol) {
        float[] x = rand(n * c * h * w), wt = rand(o * c * 9), b = withBias ? rand(o) : null;
        Tensor xt = tensor(x, n, c, h, w), wtt = tensor(wt, o, c, 3, 3), bt = b == null ? null : tensor(b, o);
        Tensor out = up == 1 ? CPU.conv2d(xt, wtt, bt, 1, 1) : CPU.upsampleNearest2xConv2d(xt, wtt, bt, 1);
        float[] xu = x;
        if (up == 2) {
            xu = new float[n * c * 4 * h * w];
            for (int i = 0; i < n * c; i++)
                for (int y = 0; y < 2 * h; y++)
                    for (int z = 0; z < 2 * w; z++) xu[(i * 2 * h + y) * 2 * w + z] = x[(i * h + y / 2) * w + z / 2];
        }
        assertClose(Reference.conv2d(xu, n, c, up * h, up * w, wt, o, 3, 3, b, 1, 1), out, tol);
    }

    @Test
    void conv2dRejectsChannelMismatch() {
        assertThrows(IllegalArgumentException.class,
                () -> CPU.conv2d(Tensor.zeros(1, 3, 4, 4), Tensor.zeros(2, 4, 3, 3), null, 1, 1));
    }

    // ---- attention ------------------------------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({
            "1,1,1,1,4,false", "2,37,77,8,5,false", "2,77,77,12,4,true", "1,100,9,2,40,false", "2,64,64,1,64,true",
            "1,33,300,3,7,false", "1,5,5,1,3,true", "2,70,70,2,80,false", "1,300,500,2,8,false", "1,500,500,1,16,true",
            "1,129,129,2,4,true", "1,1,1000,1,3,false", "1,50,70,1,300,false", "1,40,33,2,512,true"})
    void attention(int b, int lq, int lk, int heads, int d, boolean causal) {
        int hd = heads * d;
        float[] q = rand(b * lq * hd), k = rand(b * lk * hd), v = rand(b * lk * hd);
        for (int i = 0; i < q.length; i++) q[i] *= 3; // sharper softmax
        Tensor out = CPU.attention(tensor(q, b, lq, hd), tensor(k, b, lk, hd), tensor(v, b, lk, hd), heads, causal);
        assertArrayEquals(new long[] {b, lq, hd}, out.shape());
        assertClose(Reference.attention(q, k, v, b, lq, lk, heads, d, causal), out, 1e-5);
    }

    /**
     * Logits up to ~200 apart: many weights underflow (exp below -87), the softmax is nearly one-hot, nothing NaN. (The
     * f32 logits' own rounding grows with their size: about 3e-6 of error here against 1e-7 at unit scale.)
     */
    @ParameterizedTest
    @CsvSource({"1,70,300,2,8,false", "1,300,300,1,16,true"})
    void attentionWithLogitsFarApart(int b, int lq, int lk, int heads, int d, boolean causal) {
        int hd = heads * d;
        float[] q = rand(b * lq * hd), k = rand(b * lk * hd), v = rand(b * lk * hd);
        for (int i = 0; i < q.length; i++) q[i] *= 150;
        Tensor out = CPU.attention(tensor(q, b, lq, hd), tensor(k, b, lk, hd), tensor(v, b, lk, hd), heads, causal);
        assertClose(Reference.attention(q, k, v, b, lq, lk, heads, d, causal), out, 1e-5);
    }

    @Test
    void attentionRejectsIndivisibleHeads() {
        assertThrows(IllegalArgumentException.class,
                () -> CPU.attention(Tensor.zeros(1, 2, 10), Tensor.zeros(1, 2, 10), Tensor.zeros(1, 2, 10), 3, false));
    }

    // ---- norms ----------------------------------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({"2,32,8,8,32,false", "2,32,8,8,32,true", "1,6,5,3,3,true", "3,12,1,1,4,false", "2,64,7,9,32,true", "2,64,7,9,32,false"})
    void groupNorm(int n, int c, int h, int w, int groups, boolean silu) {
        float[] x = rand(n * c * h * w), g = rand(c), b = rand(c);
        for (int i = 0; i < x.length; i++) x[i] = x[i] * 4 + 2; // non-zero mean
        Tensor out = CPU.groupNorm(tensor(x, n, c, h, w), groups, tensor(g, c), tensor(b, c), 1e-5f, silu);
        assertClose(Reference.groupNorm(x, n, c, h * w, groups, g, b, 1e-5, silu), out, 2e-5);
    }

    @Test
    void groupNormOnTokens() {
        int n = 2, c = 8, l = 13;
        float[] x = rand(n * c * l), g = rand(c), b = rand(c);
        Tensor out = CPU.groupNorm(tensor(x, n, c, l), 4, tensor(g, c), tensor(b, c), 1e-6f, false);
        assertClose(Reference.groupNorm(x, n, c, l, 4, g, b, 1e-6, false), out, 2e-5);
        assertThrows(IllegalArgumentException.class, () -> CPU.groupNorm(tensor(x, n, c, l), 3, tensor(g, c), tensor(b, c), 1e-6f, false));
    }

    @ParameterizedTest
    @CsvSource({"1,1", "3,7", "2,768", "10,33", "4,320"})
    void layerNorm(int rows, int d) {
        float[] x = rand(rows * d), g = rand(d), b = rand(d);
        for (int i = 0; i < x.length; i++) x[i] = x[i] * 3 - 1;
        Tensor out = CPU.layerNorm(tensor(x, 1, rows, d), tensor(g, d), tensor(b, d), 1e-5f);
        assertArrayEquals(new long[] {1, rows, d}, out.shape());
        assertClose(Reference.layerNorm(x, d, g, b, 1e-5), out, 2e-5);
    }

    // ---- elementwise ----------------------------------------------------------------------------------------

    private void checkUnary(java.util.function.Function<Tensor, Tensor> op, DoubleUnaryOperator ref) {
        for (int n : new int[] {1, 15, 16, 17, 1000, 70001}) {
            float[] x = rand(n);
            for (int i = 0; i < n; i++) x[i] *= 8; // cover the tails
            float[] e = new float[n];
            for (int i = 0; i < n; i++) e[i] = (float) ref.applyAsDouble(x[i]);
            assertClose(e, op.apply(tensor(x, n)), 2e-6);
        }
    }

    @Test
    void silu() { checkUnary(CPU::silu, Reference::silu); }

    @Test
    void geluOnADenseGrid() {
        int n = 12001;
        float[] x = new float[n];
        float[] e = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (i - 6000) / 1000f;
            e[i] = (float) Reference.gelu(x[i]);
        }
        Tensor out = CPU.gelu(tensor(x, n));
        for (int i = 0; i < n; i++) {
            assertTrue(Math.abs(out.getFloat(i) - e[i]) <= 1e-6 * (1 + Math.abs(e[i])), "gelu(" + x[i] + ")");
        }
    }

    @Test
    void gelu() { checkUnary(CPU::gelu, Reference::gelu); }

    @Test
    void quickGelu() { checkUnary(CPU::quickGelu, Reference::quickGelu); }

    @Test
    void geglu() {
        int rows = 7, f = 37;
        float[] x = rand(rows * 2 * f);
        float[] e = new float[rows * f];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < f; i++) e[r * f + i] = (float) (x[r * 2 * f + i] * Reference.gelu(x[r * 2 * f + f + i]));
        Tensor out = CPU.geglu(tensor(x, 1, rows, 2 * f));
        assertArrayEquals(new long[] {1, rows, f}, out.shape());
        assertClose(e, out, 2e-6);
    }

    @Test
    void addScaleAndChannelwise() {
        int n = 2, c = 3, h = 5, w = 7;
        float[] a = rand(n * c * h * w), b = rand(n * c * h * w), v = rand(n * c);
        float[] sum = new float[a.length], scaled = new float[a.length], chan = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            sum[i] = a[i] + b[i];
            scaled[i] = a[i] * 0.18215f;
            chan[i] = a[i] + v[i / (h * w)];
        }
        assertClose(sum, CPU.add(tensor(a, n, c, h, w), tensor(b, n, c, h, w)), 0);
        assertClose(scaled, CPU.scale(tensor(a, n, c, h, w), 0.18215f), 0);
        assertClose(chan, CPU.addChannelwise(tensor(a, n, c, h, w), tensor(v, n, c)), 0);
        assertThrows(IllegalArgumentException.class, () -> CPU.add(tensor(a, n, c, h, w), tensor(b, n, c, w, h)));
    }

    // ---- layout ---------------------------------------------------------------------------------------------

    @Test
    void pad2d() {
        int n = 2, c = 3, h = 4, w = 5;
        float[] x = rand(n * c * h * w);
        Tensor out = CPU.pad2d(tensor(x, n, c, h, w), 0, 1, 0, 1);
        assertArrayEquals(new long[] {n, c, h + 1, w + 1}, out.shape());
        Tensor out2 = CPU.pad2d(tensor(x, n, c, h, w), 2, 1, 3, 0);
        for (int p = 0; p < n * c; p++)
            for (int y = 0; y < h + 3; y++)
                for (int xx = 0; xx < w + 3; xx++) {
                    int sy = y - 3, sx = xx - 2;
                    float e = sy >= 0 && sy < h && sx >= 0 && sx < w ? x[(p * h + sy) * w + sx] : 0;
                    assertEquals(e, out2.getFloat((p * (h + 3) + y) * (w + 3) + xx));
                }
        assertEquals(x[(5 * h + 3) * w + 4], out.getFloat((5 * (h + 1) + 3) * (w + 1) + 4));
        assertEquals(0f, out.getFloat((5 * (h + 1) + 4) * (w + 1) + 5));
    }

    @ParameterizedTest
    @CsvSource({"2,3,3,5", "1,2,4,37", "2,2,2,32"})
    void upsampleNearest2x(int n, int c, int h, int w) {
        float[] x = rand(n * c * h * w);
        float[] e = new float[n * c * 4 * h * w];
        for (int p = 0; p < n * c; p++)
            for (int y = 0; y < 2 * h; y++)
                for (int xx = 0; xx < 2 * w; xx++) e[(p * 2 * h + y) * 2 * w + xx] = x[(p * h + y / 2) * w + xx / 2];
        Tensor out = CPU.upsampleNearest2x(tensor(x, n, c, h, w));
        assertArrayEquals(new long[] {n, c, 2 * h, 2 * w}, out.shape());
        assertClose(e, out, 0);
    }

    @Test
    void concatChannels() {
        int n = 2, c1 = 3, c2 = 2, h = 3, w = 4;
        float[] a = rand(n * c1 * h * w), b = rand(n * c2 * h * w);
        float[] e = new float[n * (c1 + c2) * h * w];
        int hw = h * w;
        for (int i = 0; i < n; i++) {
            System.arraycopy(a, i * c1 * hw, e, i * (c1 + c2) * hw, c1 * hw);
            System.arraycopy(b, i * c2 * hw, e, (i * (c1 + c2) + c1) * hw, c2 * hw);
        }
        assertClose(e, CPU.concatChannels(tensor(a, n, c1, h, w), tensor(b, n, c2, h, w)), 0);
    }

    @Test
    void tokensRoundTrip() {
        int n = 2, c = 37, h = 9, w = 11;
        float[] x = rand(n * c * h * w);
        Tensor tokens = CPU.toTokens(tensor(x, n, c, h, w));
        assertArrayEquals(new long[] {n, h * w, c}, tokens.shape());
        float[] e = new float[x.length];
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int p = 0; p < h * w; p++) e[(i * h * w + p) * c + ch] = x[(i * c + ch) * h * w + p];
        assertClose(e, tokens, 0);
        Tensor back = CPU.fromTokens(tokens, h, w);
        assertArrayEquals(new long[] {n, c, h, w}, back.shape());
        assertClose(x, back, 0);
    }

    @Test
    void embedding() {
        int v = 11, d = 19;
        float[] table = rand(v * d);
        long[] ids = {0, 10, 3, 3, 7, 1};
        Tensor out = CPU.embedding(tensor(table, v, d), Tensor.fromLongs(ids, 2, 3));
        assertArrayEquals(new long[] {2, 3, d}, out.shape());
        float[] e = new float[ids.length * d];
        for (int i = 0; i < ids.length; i++) System.arraycopy(table, (int) ids[i] * d, e, i * d, d);
        assertClose(e, out, 0);
        Tensor i32 = Tensor.allocate(DType.I32, 1, 2);
        i32.setFloat(0, 4);
        i32.setFloat(1, 9);
        assertClose(Arrays.copyOfRange(e, 0, 0), CPU.embedding(tensor(table, v, d), Tensor.allocate(DType.I64, 0)), 0);
        float[] e32 = new float[2 * d];
        System.arraycopy(table, 4 * d, e32, 0, d);
        System.arraycopy(table, 9 * d, e32, d, d);
        assertClose(e32, CPU.embedding(tensor(table, v, d), i32), 0);
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> CPU.embedding(tensor(table, v, d), Tensor.fromLongs(new long[] {2, 11}, 1, 2)));
        assertTrue(ex.getMessage().contains("11"), ex.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CPU.embedding(tensor(table, v, d), Tensor.fromLongs(new long[] {-1}, 1, 1)));
    }

    @Test
    void inputsConfinedToTheCallingThreadWork() {
        int n = 2, c = 8, h = 9, w = 10, o = 5;
        float[] x = rand(n * c * h * w), wt = rand(o * c * 9), lw = rand(o * c), tok = rand(n * 40 * c);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            Tensor xc = confined(arena, x, n, c, h, w);
            Tensor wc = confined(arena, wt, o, c, 3, 3);
            Tensor lwc = confined(arena, lw, o, c);
            Tensor tc = confined(arena, tok, n, 40, c);
            assertClose(Reference.conv2d(x, n, c, h, w, wt, o, 3, 3, null, 1, 1), CPU.conv2d(xc, wc, null, 1, 1), 1e-5);
            assertClose(Reference.linear(tok, n * 40, c, lw, o, null), CPU.linear(tc, lwc, null), 1e-5);
            assertClose(Reference.attention(tok, tok, tok, n, 40, 40, 2, c / 2, false), CPU.attention(tc, tc, tc, 2, false), 1e-5);
            float[] twice = new float[x.length];
            for (int i = 0; i < x.length; i++) twice[i] = x[i] + x[i];
            assertClose(twice, CPU.add(xc, xc), 0);
            assertClose(x, CPU.fromTokens(CPU.toTokens(xc), h, w), 0);
        }
    }

    private static Tensor confined(java.lang.foreign.Arena arena, float[] v, long... shape) {
        Tensor t = Tensor.allocate(arena, DType.F32, shape);
        java.lang.foreign.MemorySegment.copy(v, 0, t.segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, v.length);
        return t;
    }

    // ---- upload / download ----------------------------------------------------------------------------------

    @Test
    void uploadConvertsAndDownloadCopies() {
        float[] x = rand(24);
        Tensor f32 = tensor(x, 2, 3, 4);
        assertSame(f32, CPU.upload(f32));
        Tensor half = f32.to(DType.F16);
        Tensor up = CPU.upload(half);
        assertEquals(DType.F32, up.dtype());
        assertClose(half.toFloatArray(), up, 0);
        Tensor down = CPU.download(f32);
        assertNotSame(f32, down);
        assertClose(x, down, 0);
        Tensor view = f32.permute(2, 0, 1);
        Tensor downView = CPU.download(view);
        assertTrue(downView.isContiguous());
        assertClose(view.toFloatArray(), downView, 0);
        assertEquals("cpu", CPU.name());
    }
}
