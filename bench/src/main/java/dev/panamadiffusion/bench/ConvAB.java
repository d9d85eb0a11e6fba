package dev.panamadiffusion.bench;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * 3x3 convolutions, direct against Winograd ({@code pd.cpu.winograd}), alternating in one JVM and timed by process
 * CPU time as well as wall time: on a shared machine the CPU time a call costs is the steadier figure. Per shape
 * {@code N x C x HW x O} ([N, C, HW, HW] * [O, C, 3, 3] + bias, pad 1): each round times {@code reps} calls of
 * each; prints every round and the medians.
 *
 * <pre>java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar \
 *     dev.panamadiffusion.bench.ConvAB threads rounds reps 2x320x64x320 ...</pre>
 */
public final class ConvAB {
    private ConvAB() {}

    public static void main(String[] args) {
        int threads = Integer.parseInt(args[0]), rounds = Integer.parseInt(args[1]), reps = Integer.parseInt(args[2]);
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        for (int k = 3; k < args.length; k++) {
            String[] p = args[k].split("x");
            int n = Integer.parseInt(p[0]), c = Integer.parseInt(p[1]), hw = Integer.parseInt(p[2]), o = Integer.parseInt(p[3]);
            SplittableRandom r = new SplittableRandom(1);
            Tensor x = random(r, n, c, hw, hw), w = random(r, o, c, 3, 3), b = random(r, o);
            double gflop = 2.0 * n * o * c * 9 * hw * hw / 1e9;
            double[][] cpu = new double[2][rounds], wall = new double[2][rounds];
            try (CpuBackend backend = new CpuBackend(threads)) {
                for (int round = -1; round < rounds; round++) { // round -1: warm-up, weights packed
                    for (int a = 0; a < 2; a++) {
                        System.setProperty("pd.cpu.winograd", a == 1 ? "true" : "false");
                        if (round < 0) for (int i = 0; i < 3; i++) backend.conv2d(x, w, b, 1, 1);
                        long c0 = os.getProcessCpuTime(), t0 = System.nanoTime();
                        for (int i = 0; i < reps; i++) backend.conv2d(x, w, b, 1, 1);
                        if (round < 0) continue;
                        cpu[a][round] = (os.getProcessCpuTime() - c0) / 1e6 / reps;
                        wall[a][round] = (System.nanoTime() - t0) / 1e6 / reps;
                    }
                    if (round >= 0) {
                        System.out.printf("%s round %d: direct %.1f cpu-ms (%.1f wall), winograd %.1f cpu-ms (%.1f wall)%n",
                                args[k], round, cpu[0][round], wall[0][round], cpu[1][round], wall[1][round]);
                    }
                }
            } finally {
                System.clearProperty("pd.cpu.winograd");
            }
            double dc = median(cpu[0]), wc = median(cpu[1]), dw = median(wall[0]), ww = median(wall[1]);
            System.out.printf("%s (%.1f GFLOP direct) medians: direct %.1f cpu-ms %.1f wall-ms (%.0f GFLOP/cpu-s), "
                            + "winograd %.1f cpu-ms %.1f wall-ms; direct/winograd: cpu %.2fx, wall %.2fx%n",
                    args[k], gflop, dc, dw, gflop / dc * 1e3, wc, ww, dc / wc, dw / ww);
        }
    }

    /** The median of {@code v} (the A/B tools' summary of repeated timings). */
    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** A host tensor of uniform values in [-0.1, 0.1). */
    static Tensor random(SplittableRandom r, long... shape) {
        Tensor t = Tensor.zeros(shape);
        long n = t.numel();
        for (long i = 0; i < n; i++) t.setFloat(i, (float) (r.nextDouble() * 2 - 1) * 0.1f);
        return t;
    }
}
