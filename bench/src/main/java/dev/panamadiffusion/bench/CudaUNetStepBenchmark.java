package dev.panamadiffusion.bench;

import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaEvent;
import dev.panamadiffusion.pipeline.EagerUNet;
import dev.panamadiffusion.pipeline.GraphedUNet;
import dev.panamadiffusion.pipeline.UNetRunner;
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

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * One denoising step of the SD 1.5 UNet on the CUDA backend, 512×512 with classifier-free guidance: f16, batch 2,
 * latent [2, 4, 64, 64], context [2, 77, 768]; random weights N(0, 0.02²) ({@code -p weights=random}, generated on
 * the host in the trial's setup) or a component folder ({@code -p weights=DIR}, e.g. the one
 * {@link CudaUNetProfile} writes, which loads in seconds). A step is what the pipeline does per step: host latents
 * up, UNet, noise prediction down (the one wait for the GPU); {@code mode=eager} runs the forward pass op by op,
 * {@code mode=graph} replays a CUDA graph recorded in the first warm-up step ({@link GraphedUNet}).
 *
 * <p>The JMH score is steps per second by the host clock. Each step is also bracketed by CUDA events on the
 * backend's stream; after each iteration one line {@code [cuda] ...} gives the median event time per step and the
 * steps per second it implies. Without a usable GPU the trial fails at setup with one line saying why.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *     -jar bench/target/benchmarks.jar CudaUNetStepBenchmark -f 1 -wi 2 -w 3s -i 3 -r 5s [-p weights=DIR]
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 3)
@Measurement(iterations = 3, time = 5)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx16g"})
public class CudaUNetStepBenchmark {
    /** {@code eager}: op by op; {@code graph}: CUDA graph replay. */
    @Param({"eager", "graph"})
    public String mode;

    /** {@code random}, or a UNet component folder (config.json and safetensors) to load instead. */
    @Param("random")
    public String weights;

    private static final int MAX_TIMED = 4096;

    private CudaBackend cuda;
    private Arena files;
    private UNetRunner runner;
    private Tensor sample;
    private Tensor context;
    private final double[] timesteps = {999, 999};
    private final List<CudaEvent> starts = new ArrayList<>();
    private final List<CudaEvent> ends = new ArrayList<>();
    private int timed;

    @Setup(Level.Trial)
    public void setup() {
        cuda = CudaBench.start();
        files = Arena.ofShared();
        CudaBench.Bound unet = "random".equals(weights) ? CudaBench.randomSd15(cuda)
                : CudaBench.load(Path.of(weights), cuda, files);
        runner = switch (mode) {
            case "eager" -> new EagerUNet(unet.unet(), cuda);
            case "graph" -> new GraphedUNet(unet.unet(), cuda, 1);
            default -> throw new IllegalArgumentException("mode must be eager or graph, got " + mode);
        };
        sample = CudaBench.gaussian(1, 2, 4, 64, 64);                // [2, 4, 64, 64] host
        context = cuda.upload(CudaBench.gaussian(2, 2, 77, 768));    // [2, 77, 768] device
        cuda.synchronize();
    }

    @Setup(Level.Iteration)
    public void startIteration() {
        timed = 0;
    }

    @Benchmark
    public Tensor step() {
        if (timed == MAX_TIMED) return runner.predict(sample, timesteps, context);
        if (timed == starts.size()) {
            starts.add(CudaEvent.create());
            ends.add(CudaEvent.create());
        }
        cuda.record(starts.get(timed));
        Tensor out = runner.predict(sample, timesteps, context); // [2, 4, 64, 64] host
        cuda.record(ends.get(timed++));
        return out;
    }

    @TearDown(Level.Iteration)
    public void reportIteration() {
        cuda.synchronize();
        double[] ms = new double[timed];
        for (int i = 0; i < timed; i++) ms[i] = CudaEvent.elapsedMillis(starts.get(i), ends.get(i));
        double median = CudaBench.median(ms);
        System.out.printf(Locale.ROOT, "[cuda] mode %s: GPU time per step median %.3f ms (%.2f steps/s), min %.3f ms,"
                        + " over %d steps; arena peak %.2f GB%n", mode, median, 1000 / median,
                java.util.Arrays.stream(ms).min().orElse(Double.NaN), timed, cuda.arenaPeak() / 1e9);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (runner != null) runner.close();
        for (CudaEvent e : starts) e.close();
        for (CudaEvent e : ends) e.close();
        if (cuda != null) cuda.close();
        if (files != null) files.close();
    }
}
