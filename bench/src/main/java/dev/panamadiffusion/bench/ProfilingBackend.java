package dev.panamadiffusion.bench;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A {@link Backend} that delegates every op and adds up its wall time and the process CPU time it took, per op and
 * per op with its input shapes, to show which ops (and which sizes of them) dominate a forward pass. CPU time is the
 * steadier measure on a shared machine. Only meaningful for synchronous backends (the CPU backend); an asynchronous
 * one would be timed at launch.
 */
public final class ProfilingBackend implements Backend {
    private final Backend delegate;
    private final Map<String, long[]> byOp = new LinkedHashMap<>();    // op -> {wall ns, calls, flops, cpu ns}
    private final Map<String, long[]> byShape = new LinkedHashMap<>(); // op + shapes -> the same
    private final com.sun.management.OperatingSystemMXBean os =
            ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean b ? b : null;

    public ProfilingBackend(Backend delegate) { this.delegate = delegate; }

    /** Forgets everything measured so far. */
    public synchronized void reset() {
        byOp.clear();
        byShape.clear();
    }

    private <T> T time(String op, String shapes, Supplier<T> call) { return time(op, shapes, 0, call); }

    /**
     * Runs {@code call}, charging its wall time, the process CPU time (all threads: robust to other processes taking
     * cores) and {@code flops} (multiply and add counted apart) to the op and to the op with its shapes.
     */
    private <T> T time(String op, String shapes, long flops, Supplier<T> call) {
        long c0 = cpuNanos();
        long t0 = System.nanoTime();
        T out = call.get();
        long dt = System.nanoTime() - t0;
        long dc = cpuNanos() - c0;
        synchronized (this) {
            add(byOp, op, dt, flops, dc);
            add(byShape, op + " " + shapes, dt, flops, dc);
        }
        return out;
    }

    private long cpuNanos() { return os == null ? 0 : os.getProcessCpuTime(); }

    private static void add(Map<String, long[]> m, String key, long nanos, long flops, long cpuNanos) {
        long[] v = m.computeIfAbsent(key, k -> new long[4]);
        v[0] += nanos;
        v[1]++;
        v[2] += flops;
        v[3] += cpuNanos;
    }

    /** GFLOP per CPU-second (a core fully busy for a second), blank for ops without a FLOP count. */
    private static String rate(long[] v) {
        return v[2] == 0 || v[3] == 0 ? "" : String.format(Locale.ROOT, "%7.1f", v[2] / (double) v[3]);
    }

    private static String s(Tensor... ts) {
        StringBuilder sb = new StringBuilder();
        for (Tensor t : ts) {
            if (!sb.isEmpty()) sb.append(' ');
            sb.append(t == null ? "-" : Arrays.toString(t.shape()).replace(" ", ""));
        }
        return sb.toString();
    }

    /** Total wall nanoseconds spent in ops. */
    public synchronized long totalNanos() {
        return byOp.values().stream().mapToLong(v -> v[0]).sum();
    }

    /** Total process CPU nanoseconds spent in ops. */
    public synchronized long totalCpuNanos() {
        return byOp.values().stream().mapToLong(v -> v[3]).sum();
    }

    /**
     * A table of ops by CPU time, then the {@code topShapes} most expensive (op, shapes) pairs. Columns: wall seconds,
     * CPU seconds (all threads), share of the CPU total, calls, GFLOP, and GFLOP per CPU-second (per busy core).
     */
    public synchronized String report(int topShapes) {
        double total = totalCpuNanos();
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-22s %8s %8s %7s %7s %7s %9s%n",
                "op", "wall s", "cpu s", "share", "calls", "GFLOP", "GFLOP/cpu-s"));
        for (Map.Entry<String, long[]> e : sorted(byOp)) {
            long[] v = e.getValue();
            sb.append(String.format(Locale.ROOT, "%-22s %8.3f %8.3f %6.1f%% %7d %7s %9s%n", e.getKey(), v[0] / 1e9,
                    v[3] / 1e9, 100 * v[3] / total, v[1],
                    v[2] == 0 ? "" : String.format(Locale.ROOT, "%7.1f", v[2] / 1e9), rate(v)));
        }
        sb.append(String.format(Locale.ROOT, "%-22s %8.3f %8.3f%n%n", "total", totalNanos() / 1e9, total / 1e9));
        sb.append(String.format(Locale.ROOT, "%8s %8s %7s %6s %9s  %s%n",
                "wall s", "cpu s", "share", "calls", "GFLOP/cpu-s", "op and input shapes"));
        List<Map.Entry<String, long[]>> shapes = sorted(byShape);
        for (Map.Entry<String, long[]> e : shapes.subList(0, Math.min(topShapes, shapes.size()))) {
            long[] v = e.getValue();
            sb.append(String.format(Locale.ROOT, "%8.3f %8.3f %6.1f%% %6d %9s  %s%n", v[0] / 1e9, v[3] / 1e9,
                    100 * v[3] / total, v[1], rate(v), e.getKey()));
        }
        return sb.toString();
    }

    private static List<Map.Entry<String, long[]>> sorted(Map<String, long[]> m) {
        List<Map.Entry<String, long[]>> l = new ArrayList<>(m.entrySet());
        l.sort(Comparator.comparingLong((Map.Entry<String, long[]> e) -> e.getValue()[3])
                .thenComparingLong(e -> e.getValue()[0]).reversed());
        return l;
    }

    @Override public String name() { return "profiling(" + delegate.name() + ")"; }

    @Override public Tensor upload(Tensor host) { return time("upload", s(host), () -> delegate.upload(host)); }

    @Override public void prepareWeights(java.util.Collection<Tensor> weights) { delegate.prepareWeights(weights); }

    @Override public void releaseWeights(java.util.Collection<Tensor> weights) { delegate.releaseWeights(weights); }

    @Override public void release(Tensor... done) { delegate.release(done); }

    @Override
    public Tensor upsampleNearest2xConv2d(Tensor x, Tensor weight, Tensor bias, int padding) {
        long flops = 2 * x.dim(0) * (2 * x.dim(2) + 2L * padding - weight.dim(2) + 1) * (2 * x.dim(3) + 2L * padding - weight.dim(3) + 1)
                * weight.numel();
        return time("upsample2x+conv2d", s(x, weight) + " p" + padding, flops,
                () -> delegate.upsampleNearest2xConv2d(x, weight, bias, padding));
    }

    @Override public Tensor download(Tensor t) { return time("download", s(t), () -> delegate.download(t)); }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        long flops = 2 * (x.numel() / x.dim(-1)) * weight.dim(0) * weight.dim(1);
        return time("linear", s(x, weight), flops, () -> delegate.linear(x, weight, bias));
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        long oh = (x.dim(2) + 2L * padding - weight.dim(2)) / stride + 1;
        long ow = (x.dim(3) + 2L * padding - weight.dim(3)) / stride + 1;
        long flops = 2 * x.dim(0) * oh * ow * weight.numel();
        return time("conv2d", s(x, weight) + " s" + stride + " p" + padding, flops,
                () -> delegate.conv2d(x, weight, bias, stride, padding));
    }

    @Override
    public Tensor pad2d(Tensor x, int left, int right, int top, int bottom) {
        return time("pad2d", s(x), () -> delegate.pad2d(x, left, right, top, bottom));
    }

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        return time(silu ? "groupNorm+silu" : "groupNorm", s(x), () -> delegate.groupNorm(x, groups, gamma, beta, eps, silu));
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        return time("layerNorm", s(x), () -> delegate.layerNorm(x, gamma, beta, eps));
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
        long flops = 4 * q.dim(0) * q.dim(1) * k.dim(1) * q.dim(2); // q k^T and p v, all heads
        return time("attention", s(q, k) + " h" + heads, flops, () -> delegate.attention(q, k, v, heads, causal));
    }

    @Override public Tensor silu(Tensor x) { return time("silu", s(x), () -> delegate.silu(x)); }

    @Override public Tensor gelu(Tensor x) { return time("gelu", s(x), () -> delegate.gelu(x)); }

    @Override public Tensor quickGelu(Tensor x) { return time("quickGelu", s(x), () -> delegate.quickGelu(x)); }

    @Override public Tensor geglu(Tensor x) { return time("geglu", s(x), () -> delegate.geglu(x)); }

    @Override public Tensor add(Tensor a, Tensor b) { return time("add", s(a), () -> delegate.add(a, b)); }

    @Override
    public Tensor addChannelwise(Tensor x, Tensor v) {
        return time("addChannelwise", s(x), () -> delegate.addChannelwise(x, v));
    }

    @Override public Tensor scale(Tensor x, float f) { return time("scale", s(x), () -> delegate.scale(x, f)); }

    @Override
    public Tensor upsampleNearest2x(Tensor x) {
        return time("upsampleNearest2x", s(x), () -> delegate.upsampleNearest2x(x));
    }

    @Override
    public Tensor concatChannels(Tensor a, Tensor b) {
        return time("concatChannels", s(a, b), () -> delegate.concatChannels(a, b));
    }

    @Override public Tensor toTokens(Tensor x) { return time("toTokens", s(x), () -> delegate.toTokens(x)); }

    @Override
    public Tensor fromTokens(Tensor x, long height, long width) {
        return time("fromTokens", s(x), () -> delegate.fromTokens(x, height, width));
    }

    @Override
    public Tensor embedding(Tensor table, Tensor ids) {
        return time("embedding", s(table, ids), () -> delegate.embedding(table, ids));
    }

    @Override public void close() { delegate.close(); }
}
