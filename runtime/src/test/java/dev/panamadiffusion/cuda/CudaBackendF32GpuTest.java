package dev.panamadiffusion.cuda;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.unet.Timesteps;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Device;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every op of the CUDA backend's f32 view ({@link CudaBackend#float32()}, an upcast VAE's backend) against the naive
 * reference ops ({@link NaiveBackend}: plain loops, double accumulators) on random f32 inputs that f16 cannot represent, at f32 tolerances (1e-5 elementwise, 1e-4 for
 * products): an op that went through f16 anywhere misses them by an order of magnitude, as
 * {@link #theBoundsAreTighterThanF16} checks on the f16 backend. Plus the crossings between the f16 backend and its
 * f32 view. Skipped without a GPU (NVIDIA's driver or the CUDA emulator).
 */
@Tag("gpu")
class CudaBackendF32GpuTest {
    private static CudaBackend cuda;
    private static CudaBackend f32;
    private static NaiveBackend naive;
    private final SplittableRandom random = new SplittableRandom(4321);

    @BeforeAll
    static void start() {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        cuda = new CudaBackend(1L << 30);
        f32 = cuda.float32();
        naive = new NaiveBackend();
    }

    @AfterAll
    static void stop() {
        if (cuda != null) cuda.close();
    }

    /** Uniform in [lo, hi), full f32 precision. */
    private Tensor rand(double lo, double hi, long... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = (float) (lo + (hi - lo) * random.nextDouble());
        return Tensor.fromFloats(v, shape);
    }

    private Tensor rand(long... shape) { return rand(-1, 1, shape); }

    /** The worst |got − expected| / (atol + rtol·|expected|) of {@code op} on {@code be} against the naive ops (≤ 1 passes). */
    private static double worst(Backend be, Function<Backend, Tensor> op, double atol, double rtol) {
        Tensor expected = naive.download(op.apply(naive));
        Tensor result = op.apply(be);
        assertEquals(Device.CUDA, result.device());
        assertEquals(((CudaBackend) be).dtype(), result.dtype(), "result dtype");
        float[] e = expected.toFloatArray(), g = be.download(result).toFloatArray();
        assertEquals(e.length, g.length);
        double worst = 0;
        for (int i = 0; i < e.length; i++) {
            double r = Math.abs(g[i] - e[i]) / (atol + rtol * Math.abs(e[i]));
            if (!(r <= worst)) worst = Double.isNaN(r) ? Double.POSITIVE_INFINITY : r;
        }
        return worst;
    }

    private static void compare(String what, Function<Backend, Tensor> op, double atol, double rtol) {
        double w = worst(f32, op, atol, rtol);
        if (!(w <= 1)) fail(what + ": worst error " + w + " times the f32 bound (atol " + atol + ", rtol " + rtol + ")");
    }

    private static void compare(String what, Function<Backend, Tensor> op) { compare(what, op, 1e-5, 1e-5); }

    private static void compareProduct(String what, Function<Backend, Tensor> op) { compare(what, op, 1e-4, 1e-4); }

    // ---- the view itself and the crossings ----------------------------------------------------------------------

    @Test
    void theViewIsOneF32BackendOnTheSameDevice() {
        assertEquals(DType.F16, cuda.dtype());
        assertEquals(DType.F32, f32.dtype());
        assertSame(f32, cuda.float32());
        assertSame(f32, f32.float32());
        f32.close();  // a view's close leaves the device to its owner
        Tensor x = rand(3, 5);
        assertArrayEquals(x.toFloatArray(), f32.download(f32.upload(x)).toFloatArray());
        try (CpuBackend cpu = new CpuBackend(1)) {
            assertSame(cpu, cpu.float32());  // f32 already
        }
    }

    @Test
    void uploadAndDownloadKeepF32Values() {
        for (long[] shape : new long[][] {{7}, {2, 5}, {2, 3, 4}, {2, 3, 4, 5}, {0, 3}}) {
            Tensor x = rand(-1e6, 1e6, shape);  // beyond f16's range and precision
            Tensor d = f32.upload(x);
            assertEquals(DType.F32, d.dtype());
            assertArrayEquals(x.toFloatArray(), f32.download(d).toFloatArray(), "f32");
            assertArrayEquals(x.toFloatArray(), f32.download(f32.upload(x.to(DType.F64))).toFloatArray(), "f64");
            assertArrayEquals(x.toFloatArray(), cuda.download(d).toFloatArray(), "downloaded by the f16 backend");
        }
        Tensor h = rand(2, 3, 4, 5).to(DType.F16), b = rand(2, 3, 4, 5).to(DType.BF16);
        assertArrayEquals(h.toFloatArray(), f32.download(f32.upload(h)).toFloatArray(), "f16 host");
        assertArrayEquals(b.toFloatArray(), f32.download(f32.upload(b)).toFloatArray(), "bf16 host");
        Tensor permuted = rand(4, 5, 6).permute(2, 0, 1);
        assertArrayEquals(permuted.toFloatArray(), f32.download(f32.upload(permuted)).toFloatArray(), "strided host");
    }

    @Test
    void tensorsCrossBetweenTheF16BackendAndTheView() {
        Tensor img = rand(2, 3, 4, 5), tok = rand(2, 7, 6);
        for (Tensor x : new Tensor[] {img, tok, tok.transpose(1, 2)}) {
            Tensor half = cuda.upload(x);
            Tensor up = f32.upload(half);  // on the device: f16 → f32 is exact
            assertEquals(DType.F32, up.dtype());
            assertEquals(Layouts.isChannelsLast(half), Layouts.isChannelsLast(up), "layout kept");
            assertArrayEquals(x.to(DType.F16).toFloatArray(), f32.download(up).toFloatArray(), "f16 → f32 " + x);
            Tensor down = cuda.upload(f32.upload(x));  // f32 → f16, rounded to nearest even as the host rounds
            assertEquals(DType.F16, down.dtype());
            assertArrayEquals(x.to(DType.F16).toFloatArray(), cuda.download(down).toFloatArray(), "f32 → f16 " + x);
        }
        Tensor big = Tensor.fromFloats(new float[] {1e5f, -7e4f, 65504f}, 3);
        float[] h = cuda.download(cuda.upload(f32.upload(big))).toFloatArray();
        assertEquals(Float.POSITIVE_INFINITY, h[0]);
        assertEquals(Float.NEGATIVE_INFINITY, h[1]);
        assertEquals(65504f, h[2]);
        // ops take only their own element type: a tensor of the other one is refused, not misread
        Tensor half = cuda.upload(tok);
        assertThrows(IllegalArgumentException.class, () -> f32.silu(half));
        assertThrows(IllegalArgumentException.class, () -> cuda.silu(f32.upload(tok)));
    }

    /** The f16 backend misses the bounds below by far: they tell an f32 path from an f16 one. */
    @Test
    void theBoundsAreTighterThanF16() {
        Tensor x = rand(2, 64, 8, 8), w = rand(-0.1, 0.1, 32, 64, 3, 3);
        assertTrue(worst(cuda, be -> be.conv2d(be.upload(x), be.upload(w), null, 1, 1), 1e-4, 1e-4) > 1,
                "f16 conv2d within the f32 bound");
        assertTrue(worst(cuda, be -> be.silu(be.upload(x)), 1e-5, 1e-5) > 1, "f16 silu within the f32 bound");
    }

    // ---- products -----------------------------------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({"154,768,320,true", "7,13,5,false", "1,1,1,true", "33,300,70,false", "256,512,512,true"})
    void linear(int m, int k, int n, boolean bias) {
        Tensor x = rand(m, k), w = rand(-0.2, 0.2, n, k), b = bias ? rand(n) : null;
        compareProduct("linear " + m + "x" + k + "x" + n,
                be -> be.linear(be.upload(x), be.upload(w), b == null ? null : be.upload(b)));
    }

    @ParameterizedTest
    @CsvSource({"2,4,16,16,8,3,1,1,true", "1,3,17,15,16,3,2,0,true", "2,32,8,8,16,1,1,0,true",
            "1,64,9,7,64,3,2,1,false", "1,32,16,16,32,3,1,1,true"})
    void conv2d(int n, int c, int h, int w, int o, int k, int stride, int pad, boolean bias) {
        Tensor x = rand(n, c, h, w), wt = rand(-0.1, 0.1, o, c, k, k), b = bias ? rand(o) : null;
        compareProduct("conv2d " + n + "x" + c + "x" + h + "x" + w + " -> " + o + " k" + k + " s" + stride + " p" + pad,
                be -> be.conv2d(be.upload(x), be.upload(wt), b == null ? null : be.upload(b), stride, pad));
    }

    /** f32 attention always takes the GEMM path, for the head dims that have an f16 flash kernel too. */
    @ParameterizedTest
    @CsvSource({"1,64,64,1,512,false", "2,50,50,2,64,false", "1,77,77,12,64,true", "2,30,77,8,40,false",
            "1,33,20,3,24,false", "1,256,256,1,32,false"})
    void attention(int b, int lq, int lk, int heads, int d, boolean causal) {
        Tensor q = rand(b, lq, heads * d), k = rand(b, lk, heads * d), v = rand(b, lk, heads * d);
        compareProduct("attention b" + b + " lq" + lq + " lk" + lk + " h" + heads + " d" + d + (causal ? " causal" : ""),
                be -> be.attention(be.upload(q), be.upload(k), be.upload(v), heads, causal));
    }

    // ---- normalisation and elementwise ----------------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({"2,64,8,8,32,false", "1,32,16,16,32,true", "1,4,3,3,2,true"})
    void groupNorm(int n, int c, int h, int w, int groups, boolean silu) {
        Tensor x = rand(2.0, 4.0, n, c, h, w), g = rand(0.5, 1.5, c), bt = rand(c);
        compare("groupNorm " + n + "x" + c + "x" + h + "x" + w + " g" + groups + (silu ? " silu" : ""),
                be -> be.groupNorm(be.upload(x), groups, be.upload(g), be.upload(bt), 1e-6f, silu), 1e-5, 1e-4);
    }

    @Test
    void groupNormOfHugeActivations() {
        Tensor x = rand(-3e5, 3e5, 1, 32, 8, 8), g = rand(0.5, 1.5, 32), bt = rand(32);
        compare("groupNorm of values beyond f16", be -> be.groupNorm(be.upload(x), 32, be.upload(g), be.upload(bt), 1e-6f, true),
                1e-5, 1e-4);
    }

    @Test
    void layerNormAndActivations() {
        Tensor t = rand(-2.0, 3.0, 2, 77, 96), g = rand(96), b = rand(96);
        compare("layerNorm", be -> be.layerNorm(be.upload(t), be.upload(g), be.upload(b), 1e-5f), 1e-5, 1e-4);
        Tensor img = rand(-6.0, 6.0, 2, 5, 7, 3);
        for (Tensor x : new Tensor[] {img, t}) {
            compare("silu " + x, be -> be.silu(be.upload(x)));
            compare("gelu " + x, be -> be.gelu(be.upload(x)));
            compare("quickGelu " + x, be -> be.quickGelu(be.upload(x)));
            compare("scale " + x, be -> be.scale(be.upload(x), -0.13025f));
        }
        Tensor gg = rand(-4.0, 4.0, 2, 9, 2 * 40);
        compare("geglu", be -> be.geglu(be.upload(gg)));
    }

    @Test
    void addsAndLayouts() {
        Tensor a = rand(2, 3, 4, 5), b = rand(2, 3, 4, 5), flat = rand(2, 20, 3), v = rand(2, 3);
        compare("add images", be -> be.add(be.upload(a), be.upload(b)));
        compare("add mixed layouts", be -> be.add(be.upload(a), be.upload(flat).reshape(2, 3, 4, 5)));
        compare("addChannelwise", be -> be.addChannelwise(be.upload(a), be.upload(v)));
        Tensor y = rand(2, 6, 4, 5);
        compare("pad2d", be -> be.pad2d(be.upload(a), 2, 1, 0, 3));
        compare("upsampleNearest2x", be -> be.upsampleNearest2x(be.upload(a)));
        compare("concatChannels", be -> be.concatChannels(be.upload(a), be.upload(y)));
        compare("tokens", be -> be.fromTokens(be.silu(be.toTokens(be.upload(a))), 4, 5));
        Tensor table = rand(50, 16);
        Tensor ids = Tensor.fromLongs(new long[] {3, 0, 49, 7, 7, 12}, 2, 3);
        compare("embedding", be -> be.embedding(be.upload(table), ids));
    }

    @Test
    void graphCopiesAndTimestepEmbedding() {
        Tensor x = rand(-1e5, 1e5, 2, 3, 4, 5);
        Tensor dst = f32.upload(Tensor.zeros(2, 3, 4, 5));                       // channels-last
        f32.copyInto(f32.upload(x), dst);                                         // same layout: one memcpy
        assertArrayEquals(x.toFloatArray(), f32.download(dst).toFloatArray());
        Tensor y = rand(-1e5, 1e5, 2, 3, 4, 5);
        f32.copyInto(f32.upload(y.reshape(2, 60)).reshape(2, 3, 4, 5), dst);     // row-major source: the strided kernel
        assertArrayEquals(y.toFloatArray(), f32.download(dst).toFloatArray());
        double[] t = {999, 500.5, 1, 0};
        float[] expected = new Timesteps(320, true, 0.0).embed(t).toFloatArray();
        float[] got = f32.download(f32.timestepEmbedding(t, 320, true, 0f, 1.0f, 10000f)).toFloatArray();
        for (int i = 0; i < expected.length; i++) assertEquals(expected[i], got[i], 2e-4, "timestep embedding " + i);
    }
}
