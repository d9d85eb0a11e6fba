package dev.panamadiffusion.bench;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.WeightPrecision;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.unet.UNet2DConditionConfig;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;
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
 * One denoising step of the SD 1.5 UNet at 512×512 with classifier-free guidance: the real SD 1.5 config with random
 * weights ({@link Weights#random}, N(0, 0.02²)), batch 2, latent [2, 4, 64, 64], text context [2, 77, 768].
 *
 * <pre>
 * GLIBC_TUNABLES=glibc.malloc.hugetlb=1 java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *     -jar bench/target/benchmarks.jar '\.UNetStepBenchmark' -wi 1 -i 3 -f 1
 * </pre>
 *
 * The forked JVM inherits the environment's {@code GLIBC_TUNABLES} (the launcher sets {@code glibc.malloc.hugetlb=1}
 * for the native memory); {@code -jvmArgsAppend "-Xmx16g -XX:+UseSerialGC -XX:+UseTransparentHugePages"} (in place of
 * the flags below) runs it with the launcher's collector and heap pages.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1)
@Measurement(iterations = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx16g"})
public class UNetStepBenchmark {
    /** CPU threads; 0 means all cores. */
    @Param("0")
    public int threads;

    /** How the backend stores the linear and convolution weights: f32, bf16 or int8 ({@link WeightPrecision}). */
    @Param("f32")
    public String weights;

    private Backend backend;
    private UNet2DConditionModel unet;
    private Tensor sample;
    private Tensor context;
    private final double[] timesteps = {999, 999};

    /** The SD 1.5 UNet with random weights and random inputs of a 512×512, guidance-batched step. */
    static UNet2DConditionModel sd15(Backend backend) {
        Weights w = Weights.random(backend, 1234, 0.02f);
        UNet2DConditionModel unet = new UNet2DConditionModel(UNet2DConditionConfig.sd15(), w);
        w.finish();
        return unet;
    }

    static Tensor gaussian(long seed, long... shape) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble()));
        }
        return Tensor.fromFloats(v, shape);
    }

    @Setup(Level.Trial)
    public void setup() {
        backend = new CpuBackend(threads == 0 ? Runtime.getRuntime().availableProcessors() : threads, WeightPrecision.parse(weights));
        unet = sd15(backend);
        sample = backend.upload(gaussian(1, 2, 4, 64, 64));
        context = backend.upload(gaussian(2, 2, 77, 768));
    }

    @Benchmark
    public Tensor step() {
        return backend.download(unet.forward(sample, timesteps, context)); // [2, 4, 64, 64]
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        backend.close();
    }
}
