package dev.panamadiffusion.bench;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Locale;

/**
 * What the first UNet step costs over the next ones on the CPU backend (issue 14: the first step within 20% of later
 * ones): the model folder's UNet (argument 1, e.g. {@link MakeRandomSd15}'s) loaded as {@code pdiff} loads it (weights
 * packed and kernels warmed up at load), then {@code steps} (argument 2, default 3) CFG steps at 64×64 latents, each
 * profiled op by op from a fresh start ({@link ProfilingBackend}): wall and process CPU time per step, and where the
 * first one's extra time went.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC \
 *     -cp bench/target/benchmarks.jar dev.panamadiffusion.bench.FirstStepProfile /tmp/sd15-random [steps] [threads]
 * </pre>
 */
public final class FirstStepProfile {
    private FirstStepProfile() {}

    public static void main(String[] args) {
        Path model = Path.of(args[0]);
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 0;
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        try (Arena arena = Arena.ofShared();
             ProfilingBackend backend = new ProfilingBackend(threads == 0 ? new CpuBackend() : new CpuBackend(threads))) {
            long t0 = System.nanoTime();
            UNet2DConditionModel unet = UNet2DConditionModel.load(ModelFolder.open(model), "unet", backend, arena);
            System.out.printf(Locale.ROOT, "load (packing, warm-up) %.1f s%n", (System.nanoTime() - t0) / 1e9);
            Tensor sample = backend.upload(UNetStepBenchmark.gaussian(1, 2, 4, 64, 64));     // [2, 4, 64, 64]
            Tensor context = backend.upload(UNetStepBenchmark.gaussian(2, 2, 77, 768));     // [2, 77, 768]
            for (int s = 0; s < steps; s++) {
                backend.reset();
                long c0 = os.getProcessCpuTime();
                t0 = System.nanoTime();
                backend.download(unet.forward(sample, new double[] {999 - s, 999 - s}, context));
                System.out.printf(Locale.ROOT, "%nstep %d: %.2f s wall, %.2f s process CPU (load average %.1f)%n", s,
                        (System.nanoTime() - t0) / 1e9, (os.getProcessCpuTime() - c0) / 1e9, os.getSystemLoadAverage());
                System.out.print(backend.report(0));
            }
        }
    }
}
