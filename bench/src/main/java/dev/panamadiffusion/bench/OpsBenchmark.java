package dev.panamadiffusion.bench;

import dev.panamadiffusion.backend.WeightPrecision;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The CPU backend's heavy ops at SD 1.5 UNet sizes (64x64 latent, batch 2). GFLOP/s = flops / time, with
 * flops: linear 2·M·K·N = 2·8192·320·1280; conv3x3 2·N·O·C·9·H·W = 2·2·320·320·9·64·64; attention
 * 4·B·H·L²·d = 4·2·8·4096²·40 (QK^T and PV). The 3x3 convolutions at the UNet's three widths ({@link Conv3x3}: 15.1
 * GFLOP each, direct FLOPs) run with {@code algo} = winograd (the default dispatch) or direct
 * ({@code -Dpd.cpu.winograd=false}); {@code conv3x3c320hw64b2} takes whatever the property says (Winograd unless set).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 2)
@Measurement(iterations = 3)
public class OpsBenchmark {
    /** How the backend stores the linear and convolution weights ({@link WeightPrecision}): f32, bf16 or int8. */
    @Param("f32")
    public String weights;

    private CpuBackend cpu;
    private Tensor clipTokens;  // [2, 77, 768]
    private Tensor mlpW;        // [3072, 768]
    private Tensor mlpB;        // [3072]
    private Tensor tokens;      // [2, 4096, 320]
    private Tensor linearW;     // [1280, 320]
    private Tensor linearB;     // [1280]
    private Tensor image;       // [2, 320, 64, 64]
    private Tensor convW;       // [320, 320, 3, 3]
    private Tensor convB;       // [320]
    private Tensor q, k, v;     // [2, 4096, 320]

    @Setup(Level.Trial)
    public void setUp() {
        cpu = backend(weights);
        SplittableRandom r = new SplittableRandom(1);
        clipTokens = random(r, 2, 77, 768);
        mlpW = random(r, 3072, 768);
        mlpB = random(r, 3072);
        tokens = random(r, 2, 4096, 320);
        linearW = random(r, 1280, 320);
        linearB = random(r, 1280);
        image = random(r, 2, 320, 64, 64);
        convW = random(r, 320, 320, 3, 3);
        convB = random(r, 320);
        q = random(r, 2, 4096, 320);
        k = random(r, 2, 4096, 320);
        v = random(r, 2, 4096, 320);
    }

    @TearDown(Level.Trial)
    public void tearDown() { cpu.close(); }

    static CpuBackend backend(String weights) {
        return new CpuBackend(Runtime.getRuntime().availableProcessors(), WeightPrecision.parse(weights));
    }

    private static Tensor random(SplittableRandom r, long... shape) {
        Tensor t = Tensor.zeros(shape);
        long n = t.numel();
        for (long i = 0; i < n; i++) t.setFloat(i, (float) (r.nextDouble() * 2 - 1) * 0.1f);
        return t;
    }

    /** 8192 x 320 → 1280: 6.71 GFLOP. */
    @Benchmark
    public Tensor linear8192x320x1280() { return cpu.linear(tokens, linearW, linearB); }

    /**
     * A text encoder MLP's first projection, 2 x 77 tokens, 768 → 3072: 0.73 GFLOP on a 9.4 MB f32 weight (few rows
     * per weight byte: where the weight's memory traffic shows).
     */
    @Benchmark
    public Tensor linear154x768x3072() { return cpu.linear(clipTokens, mlpW, mlpB); }

    /** 3x3, 320 → 320 channels, 2 x 64 x 64: 15.1 GFLOP. */
    @Benchmark
    public Tensor conv3x3c320hw64b2() { return cpu.conv2d(image, convW, convB, 1, 1); }

    /** 3x3 convolution, C → C channels, batch 2, pad 1, + bias: [2,320,64,64], [2,640,32,32], [2,1280,16,16]. */
    @State(Scope.Benchmark)
    public static class Conv3x3 {
        @Param({"direct", "winograd"})
        public String algo;
        @Param({"320x64", "640x32", "1280x16"})
        public String shape; // channels x height (= width)
        @Param("f32")
        public String weights;

        private CpuBackend cpu;
        private Tensor x, w, b;

        @Setup(Level.Trial)
        public void setUp() {
            System.setProperty("pd.cpu.winograd", Boolean.toString(algo.equals("winograd")));
            int c = Integer.parseInt(shape.substring(0, shape.indexOf('x')));
            int hw = Integer.parseInt(shape.substring(shape.indexOf('x') + 1));
            cpu = backend(weights);
            SplittableRandom r = new SplittableRandom(2);
            x = random(r, 2, c, hw, hw);    // [2, C, hw, hw]
            w = random(r, c, c, 3, 3);      // [C, C, 3, 3]
            b = random(r, c);               // [C]
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            cpu.close();
            System.clearProperty("pd.cpu.winograd");
        }
    }

    /** 3x3 convolution at one of the UNet's widths, by the algorithm the state names: 15.1 GFLOP (direct). */
    @Benchmark
    public Tensor conv3x3(Conv3x3 s) { return s.cpu.conv2d(s.x, s.w, s.b, 1, 1); }

    /** Self-attention, 2 x 8 heads x 4096 tokens x 40: 42.9 GFLOP. */
    @Benchmark
    public Tensor attention4096h8d40b2() { return cpu.attention(q, k, v, 8, false); }
}
