package dev.panamadiffusion.bench;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Where the time of a VAE decode goes on the CPU backend, op by op (see {@link ProfilingBackend}), as {@link UNetProfile}
 * does for the UNet: the model folder's VAE (argument 1, e.g. {@link MakeRandomSd15}'s), one warm-up decode of a
 * [1, 4, size/8, size/8] latent (argument 2, default 512), then {@code decodes} (argument 3, default 1) profiled ones.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC \
 *     -cp bench/target/benchmarks.jar dev.panamadiffusion.bench.VaeProfile /tmp/sd15-random [size] [decodes] [threads]
 * </pre>
 */
public final class VaeProfile {
    private VaeProfile() {}

    public static void main(String[] args) {
        Path model = Path.of(args[0]);
        int size = args.length > 1 ? Integer.parseInt(args[1]) : 512;
        int decodes = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : 0;
        try (Arena arena = Arena.ofShared();
             ProfilingBackend backend = new ProfilingBackend(threads == 0 ? new CpuBackend() : new CpuBackend(threads))) {
            AutoencoderKL vae = AutoencoderKL.load(ModelFolder.open(model), "vae", backend, arena);
            Tensor z = UNetStepBenchmark.gaussian(3, 1, 4, size / 8, size / 8);            // [1, 4, h, w]
            long t0 = System.nanoTime();
            backend.download(vae.decode(backend.upload(z)));
            System.out.printf(Locale.ROOT, "warm-up decode %.2f s%n", (System.nanoTime() - t0) / 1e9);
            backend.reset();
            long cpu0 = cpuNanos();
            t0 = System.nanoTime();
            for (int i = 0; i < decodes; i++) backend.download(vae.decode(backend.upload(z)));
            double wall = (System.nanoTime() - t0) / 1e9, cpu = (cpuNanos() - cpu0) / 1e9;
            System.out.printf(Locale.ROOT, "%d profiled decode(s) at %d²: %.2f s wall each (%.2f s in ops), %.2f s process CPU"
                            + " each (%.2f s in ops; load average %.1f)%n%n", decodes, size, wall / decodes,
                    backend.totalNanos() / 1e9 / decodes, cpu / decodes, backend.totalCpuNanos() / 1e9 / decodes,
                    ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
            System.out.print(backend.report(40));
        }
    }

    private static long cpuNanos() {
        return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? os.getProcessCpuTime() : -1;
    }
}
