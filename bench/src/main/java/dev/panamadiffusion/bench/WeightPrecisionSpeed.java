package dev.panamadiffusion.bench;

import dev.panamadiffusion.backend.WeightPrecision;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.management.ManagementFactory;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * {@link OpsBenchmark}'s weight-bearing ops at each {@link WeightPrecision}, interleaved (f32, bf16, int8, f32, ...)
 * so that every precision sees the same load on a shared machine, reporting the median wall time and the median
 * process CPU time per op. For ratios between precisions where JMH's per-fork averages drift with other processes.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *     -cp bench/target/benchmarks.jar dev.panamadiffusion.bench.WeightPrecisionSpeed 15
 * </pre>
 */
public final class WeightPrecisionSpeed {
    private WeightPrecisionSpeed() {}

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        WeightPrecision[] ps = WeightPrecision.values();
        CpuBackend[] cpu = new CpuBackend[ps.length];
        for (int i = 0; i < ps.length; i++) cpu[i] = new CpuBackend(Runtime.getRuntime().availableProcessors(), ps[i]);
        SplittableRandom r = new SplittableRandom(1);
        Tensor tokens = ConvAB.random(r, 2, 4096, 320), w1 = ConvAB.random(r, 1280, 320), b1 = ConvAB.random(r, 1280);
        Tensor clip = ConvAB.random(r, 2, 77, 768), w2 = ConvAB.random(r, 3072, 768), b2 = ConvAB.random(r, 3072);
        Tensor x320 = ConvAB.random(r, 2, 320, 64, 64), c320 = ConvAB.random(r, 320, 320, 3, 3), cb320 = ConvAB.random(r, 320);
        Tensor x1280 = ConvAB.random(r, 2, 1280, 16, 16), c1280 = ConvAB.random(r, 1280, 1280, 3, 3), cb1280 = ConvAB.random(r, 1280);
        String[] names = {"linear8192x320x1280", "linear154x768x3072", "conv3x3 320x64 (direct)", "conv3x3 1280x16 (direct)"};
        for (int op = 0; op < names.length; op++) {
            double[][] wall = new double[ps.length][rounds], cpuMs = new double[ps.length][rounds];
            for (int round = -2; round < rounds; round++) { // two rounds of warm-up
                for (int i = 0; i < ps.length; i++) {
                    CpuBackend b = cpu[i];
                    Supplier<Tensor> f = switch (op) {
                        case 0 -> () -> b.linear(tokens, w1, b1);
                        case 1 -> () -> b.linear(clip, w2, b2);
                        case 2 -> () -> b.conv2d(x320, c320, cb320, 1, 1);
                        default -> () -> b.conv2d(x1280, c1280, cb1280, 1, 1);
                    };
                    long c0 = OS.getProcessCpuTime(), t0 = System.nanoTime();
                    f.get();
                    long t1 = System.nanoTime(), c1 = OS.getProcessCpuTime();
                    if (round >= 0) {
                        wall[i][round] = (t1 - t0) / 1e6;
                        cpuMs[i][round] = (c1 - c0) / 1e6;
                    }
                }
            }
            StringBuilder line = new StringBuilder(String.format("%-26s", names[op]));
            for (int i = 0; i < ps.length; i++) {
                line.append(String.format("  %s: wall %.1f ms, cpu %.1f ms", ps[i].label(), ConvAB.median(wall[i]), ConvAB.median(cpuMs[i])));
            }
            line.append(String.format("  | cpu ratio to f32: bf16 %.2f, int8 %.2f", ConvAB.median(cpuMs[1]) / ConvAB.median(cpuMs[0]),
                    ConvAB.median(cpuMs[2]) / ConvAB.median(cpuMs[0])));
            System.out.println(line);
        }
        for (CpuBackend b : cpu) b.close();
    }
}
