package dev.panamadiffusion.bench;

import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Two builds' SD 1.5 UNet steps ({@link UNetStepBenchmark}: random weights, CFG batch 2, 64×64 latents) alternating
 * in one JVM, each build's benchmark jar in a class loader of its own: on a machine whose speed drifts from one minute
 * to the next (a shared VM), the two builds see the same minutes, so their ratio is steadier than runs one after the
 * other. Both UNets are held at once (about 2 × 3.5 GB). Each round runs one step of each, in swapped order every
 * other round, after two warm-up steps each.
 *
 * <pre>
 * GLIBC_TUNABLES=glibc.malloc.hugetlb=1 java -Xmx20g -XX:+UseTransparentHugePages --add-modules jdk.incubator.vector \
 *     --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar dev.panamadiffusion.bench.TwoBuildsStep \
 *     base-benchmarks.jar new-benchmarks.jar [rounds] [threads]
 * </pre>
 */
public final class TwoBuildsStep {
    private TwoBuildsStep() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: TwoBuildsStep A-benchmarks.jar B-benchmarks.jar [rounds] [threads]");
            System.exit(2);
        }
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 8;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : 0;
        Object[] bench = new Object[2];
        Method[] step = new Method[2];
        for (int i = 0; i < 2; i++) {
            URLClassLoader loader = new URLClassLoader(new URL[] {Path.of(args[i]).toUri().toURL()},
                    ClassLoader.getPlatformClassLoader());
            Class<?> c = loader.loadClass(UNetStepBenchmark.class.getName());
            bench[i] = c.getConstructor().newInstance();
            c.getField("threads").setInt(bench[i], threads);
            c.getField("weights").set(bench[i], "f32");
            c.getMethod("setup").invoke(bench[i]);
            step[i] = c.getMethod("step");
            for (int w = 0; w < 2; w++) step[i].invoke(bench[i]);
        }
        double[] sum = new double[2];
        for (int r = 0; r < rounds; r++) {
            StringBuilder line = new StringBuilder("round " + (r + 1) + ":");
            for (int h = 0; h < 2; h++) {
                int i = r % 2 == 0 ? h : 1 - h;
                long t0 = System.nanoTime();
                step[i].invoke(bench[i]);
                double s = (System.nanoTime() - t0) / 1e9;
                sum[i] += s;
                line.append(String.format(Locale.ROOT, " %s %.3f s", i == 0 ? "A" : "B", s));
            }
            System.out.println(line);
        }
        System.out.printf(Locale.ROOT, "mean step: A %.3f s, B %.3f s; A/B %.3f%n", sum[0] / rounds, sum[1] / rounds,
                sum[0] / sum[1]);
        for (Object b : bench) b.getClass().getMethod("tearDown").invoke(b);
    }
}
