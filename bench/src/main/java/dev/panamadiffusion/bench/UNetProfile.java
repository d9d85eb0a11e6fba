package dev.panamadiffusion.bench;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * Where the time of one SD 1.5 UNet step goes on the CPU backend, op by op (see {@link ProfilingBackend}): one warm-up
 * step, then {@code steps} (argument 1, default 1) profiled steps.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx16g \
 *     -cp bench/target/benchmarks.jar dev.panamadiffusion.bench.UNetProfile [steps] [threads]
 * </pre>
 */
public final class UNetProfile {
    private UNetProfile() {}

    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 1;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        try (ProfilingBackend backend = new ProfilingBackend(threads == 0 ? new CpuBackend() : new CpuBackend(threads))) {
            long t0 = System.nanoTime();
            UNet2DConditionModel unet = UNetStepBenchmark.sd15(backend);
            Tensor sample = backend.upload(UNetStepBenchmark.gaussian(1, 2, 4, 64, 64));
            Tensor context = backend.upload(UNetStepBenchmark.gaussian(2, 2, 77, 768));
            double[] timesteps = {999, 999};
            System.out.printf(Locale.ROOT, "setup (random weights) %.1f s%n", (System.nanoTime() - t0) / 1e9);
            t0 = System.nanoTime();
            backend.download(unet.forward(sample, timesteps, context));
            System.out.printf(Locale.ROOT, "warm-up step %.2f s%n", (System.nanoTime() - t0) / 1e9);
            backend.reset();
            long cpu0 = processCpuNanos();
            t0 = System.nanoTime();
            for (int i = 0; i < steps; i++) backend.download(unet.forward(sample, timesteps, context));
            double wall = (System.nanoTime() - t0) / 1e9;
            double cpu = (processCpuNanos() - cpu0) / 1e9;
            System.out.printf(Locale.ROOT, "%d profiled step(s): %.2f s wall per step (%.2f s in ops), %.2f s process CPU "
                            + "per step (%.2f s in ops; %.2f cores busy on average; %d available, load average %.1f)%n%n",
                    steps, wall / steps, backend.totalNanos() / 1e9 / steps, cpu / steps,
                    backend.totalCpuNanos() / 1e9 / steps, cpu / wall,
                    Runtime.getRuntime().availableProcessors(),
                    ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
            System.out.print(backend.report(40));
        }
    }

    /** CPU time of the whole process (all threads), or -1 where the JVM does not report it. */
    private static long processCpuNanos() {
        return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? os.getProcessCpuTime() : -1;
    }
}
