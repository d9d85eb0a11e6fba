package dev.panamadiffusion.cuda;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Every CudaBackend op against CpuBackend (the reference) on random inputs, SD-sized and awkward. Inputs are
 * f16-representable so both backends see the same values; tolerances cover f16 results. Skipped without a GPU.
 */
@Tag("gpu")
class CudaBackendGpuTest {
    private static CudaBackend cuda;
    private static CpuBackend cpu;
    private final SplittableRandom random = new SplittableRandom(1234);

    @BeforeAll
    static void start() {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        cuda = new CudaBackend(4L << 30);
        cpu = new CpuBackend();
    }

    @AfterAll
    static void stop() {
        if (cuda != null) cuda.close();
        if (cpu != null) cpu.close();
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    /** Uniform in [lo, hi), rounded to f16. */
    private Tensor rand(double lo, double hi, long... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = Float.float16ToFloat(Float.floatToFloat16((float) (lo + (hi - lo) * random.nextDouble())));
        return Tensor.fromFloats(v, shape);
    }

    private Tensor rand(long... shape) { return rand(-1, 1, shape); }

    /** Runs {@code op} on both backends (it uploads its own inputs) and compares the downloaded results. */
    private static void compare(String what, Function<Backend, Tensor> op, double atol, double rtol) {
        Tensor expected = cpu.download(op.apply(cpu));
        Tensor cudaResult = op.apply(cuda);
        assertEquals(Device.CUDA, cudaResult.device(), what + " result device");
        Tensor got = cuda.download(cudaResult);
        assertArrayEquals(expected.shape(), got.shape(), what + " shape");
        float[] e = expected.toFloatArray(), g = got.toFloatArray();
        double worst = 0;
        for (int i = 0; i < e.length; i++) {
            double err = Math.abs(g[i] - e[i]);
            if (!(err <= atol + rtol * Math.abs(e[i]))) {
                fail(what + ": element " + i + " of " + expected + " expected " + e[i] + " got " + g[i]);
            }
            worst = Math.max(worst, err);
        }
        assertTrue(e.length == 0 || worst < Double.MAX_VALUE);
    }

    private static void compare(String what, Function<Backend, Tensor> op) { compare(what, op, 2e-3, 2e-3); }

    private static void compareProduct(String what, Function<Backend, Tensor> op) { compare(what, op, 1e-2, 1e-2); }

    // ---- transfers ----------------------------------------------------------------------------------------------

    @Test
    void uploadDownloadIsExactForHalfValues() {
        for (long[] shape : new long[][] {{3}, {2, 5}, {2, 3, 4}, {2, 3, 4, 5}, {1, 4, 1024, 1024}, {0, 3}}) {
            Tensor x = rand(shape);
            assertArrayEquals(x.toFloatArray(), cuda.download(cuda.upload(x)).toFloatArray(), "f32 " + java.util.Arrays.toString(shape));
            assertArrayEquals(x.toFloatArray(), cuda.download(cuda.upload(x.to(DType.F16))).toFloatArray(), "f16");
            assertArrayEquals(x.toFloatArray(), cuda.download(cuda.upload(x.to(DType.F64))).toFloatArray(), "f64");
        }
        Tensor b = rand(2, 3, 4, 5).to(DType.BF16);
        assertArrayEquals(b.to(DType.F16).toFloatArray(), cuda.download(cuda.upload(b)).toFloatArray(), "bf16");
        Tensor permuted = rand(4, 5, 6).permute(2, 0, 1);  // non-contiguous host view
        assertArrayEquals(permuted.toFloatArray(), cuda.download(cuda.upload(permuted)).toFloatArray(), "strided host");
        assertThrows(IllegalArgumentException.class, () -> cuda.upload(Tensor.fromLongs(new long[] {1}, 1)));
    }

    @Test
    void downloadOfViews() {
        Tensor x = rand(2, 7, 6);
        Tensor dx = cuda.upload(x);
        assertArrayEquals(x.slice(1, 2, 5).toFloatArray(), cuda.download(dx.slice(1, 2, 5)).toFloatArray());
        assertArrayEquals(x.transpose(1, 2).toFloatArray(), cuda.download(dx.transpose(1, 2)).toFloatArray());
        Tensor img = rand(2, 3, 4, 5);
        Tensor dimg = cuda.upload(img);  // channels-last on the device
        assertArrayEquals(img.select(1, 2).toFloatArray(), cuda.download(dimg.select(1, 2)).toFloatArray());
    }

    // ---- products -----------------------------------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({"154,768,320,true", "4096,320,1280,true", "7,13,5,false", "1,1,1,true", "33,300,70,false"})
    void linear(int m, int k, int n, boolean bias) {
        Tensor x = rand(m, k), w = rand(-0.2, 0.2, n, k), b = bias ? rand(n) : null;
        compareProduct("linear " + m + "x" + k + "x" + n,
                be -> be.linear(be.upload(x), be.upload(w), b == null ? null : be.upload(b)));
    }

    @Test
    void linearOnTokens() {
        Tensor x = rand(2, 77, 768), w = rand(-0.1, 0.1, 1024, 768), b = rand(1024);
        compareProduct("linear [2, 77, 768]", be -> be.linear(be.upload(x), be.upload(w), be.upload(b)));
    }

    @ParameterizedTest
    @CsvSource({"2,4,16,16,8,3,1,1,true", "1,3,17,15,16,3,2,0,true", "2,32,8,8,16,1,1,0,true",
            "1,320,8,8,4,3,1,1,true", "1,64,9,7,64,3,2,1,false", "2,128,32,32,128,3,1,1,true"})
    void conv2d(int n, int c, int h, int w, int o, int k, int stride, int pad, boolean bias) {
        Tensor x = rand(n, c, h, w), wt = rand(-0.1, 0.1, o, c, k, k), b = bias ? rand(o) : null;
        compareProduct("conv2d " + n + "x" + c + "x" + h + "x" + w + " -> " + o + " k" + k + " s" + stride + " p" + pad,
                be -> be.conv2d(be.upload(x), be.upload(wt), b == null ? null : be.upload(b), stride, pad));
    }

    @ParameterizedTest
    @CsvSource({"2,300,300,8,40,false", "2,300,77,8,40,false", "1,77,77,12,64,true", "1,70,70,5,64,true",
            "2,130,77,8,80,false", "1,64,64,2,128,false", "2,100,77,8,160,false", "1,4096,77,8,40,false",
            "1,256,256,1,512,false", "2,50,50,2,32,true", "1,33,20,3,24,false"})
    void attention(int b, int lq, int lk, int heads, int d, boolean causal) {
        Tensor q = rand(b, lq, heads * d), k = rand(b, lk, heads * d), v = rand(b, lk, heads * d);
        compareProduct("attention b" + b + " lq" + lq + " lk" + lk + " h" + heads + " d" + d + (causal ? " causal" : ""),
                be -> be.attention(be.upload(q), be.upload(k), be.upload(v), heads, causal));
    }

    @Test
    void attentionOnSlicesOfAFusedProjection() {
        int b = 2, l = 100, heads = 8, d = 40, e = heads * d;
        Tensor qkv = rand(b, l, 3 * e);
        compareProduct("attention on qkv slices", be -> {
            Tensor t = be.upload(qkv);
            return be.attention(t.slice(2, 0, e), t.slice(2, e, 2 * e), t.slice(2, 2 * e, 3 * e), heads, false);
        });
    }

    // ---- normalisation ------------------------------------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({"2,64,8,8,32,false", "2,64,8,8,32,true", "1,128,64,64,32,true", "2,320,16,16,32,false", "1,4,3,3,2,true"})
    void groupNorm(int n, int c, int h, int w, int groups, boolean silu) {
        Tensor x = rand(2.0, 4.0, n, c, h, w), g = rand(0.5, 1.5, c), bt = rand(c);
        compare("groupNorm " + n + "x" + c + "x" + h + "x" + w + " g" + groups + (silu ? " silu" : ""),
                be -> be.groupNorm(be.upload(x), groups, be.upload(g), be.upload(bt), 1e-5f, silu), 1e-2, 1e-2);
    }

    @Test
    void groupNormOnSequencesAndVectors() {
        Tensor x3 = rand(2, 64, 50), x2 = rand(4, 32), g64 = rand(64), b64 = rand(64), g32 = rand(32), b32 = rand(32);
        compare("groupNorm [2, 64, 50]", be -> be.groupNorm(be.upload(x3), 32, be.upload(g64), be.upload(b64), 1e-6f, false), 1e-2, 1e-2);
        compare("groupNorm [4, 32]", be -> be.groupNorm(be.upload(x2), 8, be.upload(g32), be.upload(b32), 1e-6f, true), 1e-2, 1e-2);
    }

    @Test
    void layerNorm() {
        Tensor x = rand(-2.0, 3.0, 2, 77, 768), g = rand(768), b = rand(768);
        compare("layerNorm [2, 77, 768]", be -> be.layerNorm(be.upload(x), be.upload(g), be.upload(b), 1e-5f), 1e-2, 1e-2);
        Tensor y = rand(3, 5, 7), gy = rand(7), by = rand(7);
        compare("layerNorm [3, 5, 7]", be -> be.layerNorm(be.upload(y), be.upload(gy), be.upload(by), 1e-5f), 1e-2, 1e-2);
    }

    // ---- elementwise --------------------------------------------------------------------------------------------

    @Test
    void activations() {
        Tensor img = rand(-6.0, 6.0, 2, 5, 7, 3), tok = rand(-6.0, 6.0, 2, 77, 96);
        for (Tensor x : new Tensor[] {img, tok}) {
            compare("silu " + x, be -> be.silu(be.upload(x)));
            compare("gelu " + x, be -> be.gelu(be.upload(x)));
            compare("quickGelu " + x, be -> be.quickGelu(be.upload(x)));
            compare("scale " + x, be -> be.scale(be.upload(x), -0.18215f));
        }
    }

    @Test
    void geglu() {
        Tensor x = rand(-4.0, 4.0, 2, 77, 2 * 1280);
        compare("geglu", be -> be.geglu(be.upload(x)));
    }

    @Test
    void addInEveryLayout() {
        Tensor a = rand(2, 3, 4, 5), b = rand(2, 3, 4, 5), t1 = rand(2, 9, 11), t2 = rand(2, 9, 11);
        compare("add images", be -> be.add(be.upload(a), be.upload(b)));
        compare("add tokens", be -> be.add(be.upload(t1), be.upload(t2)));
        Tensor flat = rand(2, 20, 3);
        // a row-major 4-D tensor (a reshape of tokens) added to a channels-last one
        compare("add mixed layouts", be -> be.add(be.upload(a), be.upload(flat).reshape(2, 3, 4, 5)));
        compare("add mixed layouts, other order", be -> be.add(be.upload(flat).reshape(2, 3, 4, 5), be.upload(a)));
    }

    @Test
    void addChannelwise() {
        Tensor x = rand(2, 64, 8, 8), v = rand(2, 64);
        compare("addChannelwise", be -> be.addChannelwise(be.upload(x), be.upload(v)));
    }

    // ---- spatial and layout -------------------------------------------------------------------------------------

    @Test
    void spatialOps() {
        Tensor x = rand(2, 4, 5, 3), y = rand(2, 6, 5, 3);
        compare("pad2d 0,1,0,1", be -> be.pad2d(be.upload(x), 0, 1, 0, 1));
        compare("pad2d 2,1,0,3", be -> be.pad2d(be.upload(x), 2, 1, 0, 3));
        compare("upsampleNearest2x", be -> be.upsampleNearest2x(be.upload(x)));
        compare("concatChannels", be -> be.concatChannels(be.upload(x), be.upload(y)));
    }

    @Test
    void tokensRoundTrip() {
        Tensor img = rand(2, 8, 4, 5), tok = rand(2, 20, 8);
        compare("toTokens", be -> be.toTokens(be.upload(img)));
        compare("fromTokens", be -> be.fromTokens(be.upload(tok), 4, 5));
        compare("fromTokens(toTokens)", be -> be.fromTokens(be.toTokens(be.upload(img)), 4, 5));
        compare("ops on token views", be -> be.toTokens(be.silu(be.fromTokens(be.layerNorm(be.upload(tok),
                be.upload(Tensor.fromFloats(new float[] {1, 1, 1, 1, 1, 1, 1, 1}, 8)),
                be.upload(Tensor.zeros(8)), 1e-5f), 4, 5))), 1e-2, 1e-2);
    }

    @Test
    void embedding() {
        Tensor table = rand(100, 16);
        long[] ids = new long[2 * 7];
        for (int i = 0; i < ids.length; i++) ids[i] = random.nextInt(100);
        Tensor idt = Tensor.fromLongs(ids, 2, 7);
        compare("embedding", be -> be.embedding(be.upload(table), idt));
        Tensor bad = Tensor.fromLongs(new long[] {3, 100}, 1, 2);
        assertThrows(IllegalArgumentException.class, () -> cuda.embedding(cuda.upload(table), bad));
    }

    @Test
    void timestepEmbeddingMatchesTheHostComputation() {
        double[] t = {999, 500.5, 1, 0};
        for (Object[] c : new Object[][] {{320, true, 0.0}, {321, false, 1.0}}) {
            int dim = (Integer) c[0];
            boolean flip = (Boolean) c[1];
            double shift = (Double) c[2];
            float[] expected = new Timesteps(dim, flip, shift).embed(t).toFloatArray();
            float[] got = cuda.download(cuda.timestepEmbedding(t, dim, flip, (float) shift, 1.0f, 10000f)).toFloatArray();
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], got[i], 2e-3, "timestep embedding " + dim + " element " + i);
            }
        }
    }

    @Test
    void aResnetAndTransformerChain() {
        int n = 2, c = 64, h = 16, w = 16, heads = 8;
        Tensor x = rand(n, c, h, w), w1 = rand(-0.05, 0.05, c, c, 3, 3), b1 = rand(c), g = rand(0.5, 1.5, c), bt = rand(c);
        Tensor temb = rand(n, c), lw = rand(-0.1, 0.1, c, c), ctx = rand(n, 77, c);
        compare("conv → groupNorm+silu → +temb → tokens → attention → image → +x", be -> {
            Tensor dx = be.upload(x);
            Tensor y = be.conv2d(dx, be.upload(w1), be.upload(b1), 1, 1);                        // [N, C, H, W]
            y = be.groupNorm(y, 32, be.upload(g), be.upload(bt), 1e-5f, true);                 // [N, C, H, W]
            y = be.addChannelwise(y, be.upload(temb));                                         // [N, C, H, W]
            Tensor t = be.toTokens(y);                                                         // [N, HW, C]
            Tensor q = be.linear(t, be.upload(lw), null);                                      // [N, HW, C]
            Tensor cx = be.upload(ctx);                                                        // [N, 77, C]
            Tensor a = be.attention(q, cx, cx, heads, false);                                  // [N, HW, C]
            return be.add(be.fromTokens(a, h, w), dx);                                         // [N, C, H, W]
        }, 2e-2, 2e-2);
    }
}
