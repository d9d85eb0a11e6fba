package dev.panamadiffusion.bench;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A {@link Backend} that delegates every op and adds up its wall time, per op and per op with its input shapes, to
 * show which ops (and which sizes of them) dominate a forward pass. Only meaningful for synchronous backends (the CPU
 * backend); an asynchronous one would be timed at launch.
 */
public final class ProfilingBackend implements Backend {
    private final Backend delegate;
    private final Map<String, long[]> byOp = new LinkedHashMap<>();    // op -> {nanos, calls}
    private final Map<String, long[]> byShape = new LinkedHashMap<>(); // op + shapes -> {nanos, calls}

    public ProfilingBackend(Backend delegate) { this.delegate = delegate; }

    /** Forgets everything measured so far. */
    public synchronized void reset() {
        byOp.clear();
        byShape.clear();
    }

    private <T> T time(String op, String shapes, Supplier<T> call) {
        long t0 = System.nanoTime();
        T out = call.get();
        long dt = System.nanoTime() - t0;
        synchronized (this) {
            add(byOp, op, dt);
            add(byShape, op + " " + shapes, dt);
        }
        return out;
    }

    private static void add(Map<String, long[]> m, String key, long nanos) {
        long[] v = m.computeIfAbsent(key, k -> new long[2]);
        v[0] += nanos;
        v[1]++;
    }

    private static String s(Tensor... ts) {
        StringBuilder sb = new StringBuilder();
        for (Tensor t : ts) {
            if (!sb.isEmpty()) sb.append(' ');
            sb.append(t == null ? "-" : Arrays.toString(t.shape()).replace(" ", ""));
        }
        return sb.toString();
    }

    /** Total nanoseconds spent in ops. */
    public synchronized long totalNanos() {
        return byOp.values().stream().mapToLong(v -> v[0]).sum();
    }

    /** A table of ops by total time, then the {@code topShapes} most expensive (op, shapes) pairs. */
    public synchronized String report(int topShapes) {
        double total = totalNanos();
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-22s %10s %7s %8s%n", "op", "seconds", "share", "calls"));
        for (Map.Entry<String, long[]> e : sorted(byOp)) {
            long[] v = e.getValue();
            sb.append(String.format(Locale.ROOT, "%-22s %10.3f %6.1f%% %8d%n", e.getKey(), v[0] / 1e9, 100 * v[0] / total, v[1]));
        }
        sb.append(String.format(Locale.ROOT, "%-22s %10.3f%n%n", "total", total / 1e9));
        sb.append(String.format(Locale.ROOT, "%10s %7s %6s  %s%n", "seconds", "share", "calls", "op and input shapes"));
        List<Map.Entry<String, long[]>> shapes = sorted(byShape);
        for (Map.Entry<String, long[]> e : shapes.subList(0, Math.min(topShapes, shapes.size()))) {
            long[] v = e.getValue();
            sb.append(String.format(Locale.ROOT, "%10.3f %6.1f%% %6d  %s%n", v[0] / 1e9, 100 * v[0] / total, v[1], e.getKey()));
        }
        return sb.toString();
    }

    private static List<Map.Entry<String, long[]>> sorted(Map<String, long[]> m) {
        List<Map.Entry<String, long[]>> l = new ArrayList<>(m.entrySet());
        l.sort(Comparator.comparingLong((Map.Entry<String, long[]> e) -> e.getValue()[0]).reversed());
        return l;
    }

    @Override public String name() { return "profiling(" + delegate.name() + ")"; }

    @Override public Tensor upload(Tensor host) { return time("upload", s(host), () -> delegate.upload(host)); }

    @Override public Tensor download(Tensor t) { return time("download", s(t), () -> delegate.download(t)); }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        return time("linear", s(x, weight), () -> delegate.linear(x, weight, bias));
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        return time("conv2d", s(x, weight) + " s" + stride + " p" + padding, () -> delegate.conv2d(x, weight, bias, stride, padding));
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
        return time("attention", s(q, k) + " h" + heads, () -> delegate.attention(q, k, v, heads, causal));
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
