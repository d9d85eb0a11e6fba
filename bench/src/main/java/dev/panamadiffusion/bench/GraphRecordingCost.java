package dev.panamadiffusion.bench;

import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.pipeline.EagerUNet;
import dev.panamadiffusion.pipeline.GraphedUNet;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * What a {@link GraphedUNet} cache miss costs: a UNet fed two shapes in turn (2 and 4 rows at the model's own latent
 * size, as continuous batching makes them) through a cache of ONE shape, so every change of shape evicts the other
 * graph and records anew. Per shape and round it times the first step (one eager pass, its answer, then recording and
 * instantiating the graph; {@link GraphedUNet#recordingNanos()} gives the recording alone) and then {@code replays}
 * replayed steps; an eager step (no graph) is the baseline. Host clock, each step ending with the prediction on the
 * host. Runs on the CUDA emulator with {@code -Dpd.cuda.driver=emulator} (where it measures the emulator, not a GPU).
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Dpd.cuda.driver=emulator \
 *     -cp bench/target/benchmarks.jar dev.panamadiffusion.bench.GraphRecordingCost [unet dir] [rounds] [replays]
 * </pre>
 */
public final class GraphRecordingCost {
    private GraphRecordingCost() {}

    public static void main(String[] args) {
        Path dir = Path.of(args.length > 0 ? args[0] : "models/pdiff-demo/unet");
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        int replays = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        try (Arena arena = Arena.ofShared(); CudaBackend cuda = CudaBench.start()) {
            UNet2DConditionModel unet = CudaBench.load(dir, cuda, arena).unet();
            int side = unet.config().sampleSize(), channels = unet.config().inChannels();
            int dim = unet.config().crossAttentionDim()[0];
            System.out.printf(Locale.ROOT, "%s on %s: latents %dx%d, %d rounds, %d replays per recording%n",
                    dir, cuda.status().deviceName(), side, side, rounds, replays);
            int[] rows = {2, 4};
            Tensor[] samples = new Tensor[rows.length], contexts = new Tensor[rows.length];
            double[][] times = new double[rows.length][];
            for (int i = 0; i < rows.length; i++) {
                samples[i] = UNetStepBenchmark.gaussian(1 + i, rows[i], channels, side, side);   // [R, 4, h, w]
                contexts[i] = cuda.upload(UNetStepBenchmark.gaussian(10 + i, rows[i], 77, dim)); // [R, 77, D]
                times[i] = new double[rows[i]];
                Arrays.fill(times[i], 500);
            }
            EagerUNet eager = new EagerUNet(unet, cuda);
            System.out.println("rows  eager ms  first graphed step ms  of which recording ms  replay ms  (first - replay) / replay");
            for (int i = 0; i < rows.length; i++) {
                int k = i;
                eager.predict(samples[k], times[k], contexts[k]);  // warm-up: plans, kernels
                double eagerMs = median(replays, () -> eager.predict(samples[k], times[k], contexts[k]));
                System.out.printf(Locale.ROOT, "%4d  %8.1f  (eager baseline)%n", rows[k], eagerMs);
            }
            try (GraphedUNet graphed = new GraphedUNet(unet, cuda, 1)) {
                for (int round = 0; round < rounds; round++) {
                    for (int i = 0; i < rows.length; i++) {
                        int k = i;
                        long recordingBefore = graphed.recordingNanos();
                        long t0 = System.nanoTime();
                        graphed.predict(samples[k], times[k], contexts[k]);
                        double firstMs = (System.nanoTime() - t0) / 1e6;
                        double recordMs = (graphed.recordingNanos() - recordingBefore) / 1e6;
                        double replayMs = median(replays, () -> graphed.predict(samples[k], times[k], contexts[k]));
                        System.out.printf(Locale.ROOT, "%4d  %8s  %21.1f  %21.1f  %9.1f  %25.1f%n", rows[k], "", firstMs, recordMs,
                                replayMs, (firstMs - replayMs) / replayMs);
                    }
                }
                System.out.printf(Locale.ROOT, "captures %d, evictions %d, replays %d%n", graphed.captures(), graphed.evictions(),
                        graphed.replays());
            }
        }
    }

    /** Median milliseconds of {@code n} runs of {@code step}. */
    private static double median(int n, Runnable step) {
        double[] ms = new double[n];
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            step.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        return ms[n / 2];
    }
}
