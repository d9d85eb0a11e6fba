package dev.panamadiffusion.bench;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaEvent;
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
 * A {@link Backend} over {@link CudaBackend} that times every op on the GPU: a CUDA event is recorded on the backend's
 * stream before and after each op, and {@link #collect()} waits for the stream and adds up the elapsed times per op
 * family (conv, gemm, attention, norm, other) and per op with its input shapes, together with the op's arithmetic
 * (FLOPs of convolutions, matrix products and attention) and its fewest bytes (each f16 input read once, the output
 * written once). The events do not stop the host from queueing ahead, so the GPU runs as in an eager step; an
 * op's time is from its first kernel's start to its last kernel's end, so gaps inside an op (an op of several
 * kernels waiting for the host) count, gaps between ops do not: compare {@link #totalMillis()} with the step time.
 */
public final class CudaProfilingBackend implements Backend {
    /** Op families the report groups by. */
    public enum Family { CONV, GEMM, ATTENTION, NORM, OTHER, TRANSFER }

    private record Pending(Family family, String key, double flops, double bytes, CudaEvent start, CudaEvent end) {}

    /** Totals of one family or one op-and-shapes key. */
    public static final class Stat {
        double millis;
        double flops;
        double bytes;
        long calls;

        public double millis() { return millis; }

        public double flops() { return flops; }

        public double bytes() { return bytes; }

        public long calls() { return calls; }
    }

    private final CudaBackend cuda;
    private final List<CudaEvent> pool = new ArrayList<>();
    private final List<Pending> pending = new ArrayList<>();
    private final Map<Family, Stat> byFamily = new LinkedHashMap<>();
    private final Map<String, Stat> byKey = new LinkedHashMap<>();
    private int used;

    public CudaProfilingBackend(CudaBackend cuda) {
        this.cuda = cuda;
        for (Family f : Family.values()) byFamily.put(f, new Stat());
    }

    private CudaEvent nextEvent() {
        if (used == pool.size()) pool.add(CudaEvent.create());
        return pool.get(used++);
    }

    private <T> T time(Family family, String op, Tensor[] shapes, double flops, Supplier<T> call) {
        CudaEvent start = nextEvent();
        cuda.record(start);
        T result = call.get();
        CudaEvent end = nextEvent();
        cuda.record(end);
        double bytes = 0;
        for (Tensor t : shapes) if (t != null) bytes += 2.0 * t.numel();
        if (result instanceof Tensor r) bytes += 2.0 * r.numel();
        pending.add(new Pending(family, op + " " + describe(shapes), flops, bytes, start, end));
        return result;
    }

    private static String describe(Tensor[] ts) {
        StringBuilder sb = new StringBuilder();
        for (Tensor t : ts) {
            if (!sb.isEmpty()) sb.append(' ');
            sb.append(t == null ? "-" : Arrays.toString(t.shape()).replace(" ", ""));
        }
        return sb.toString();
    }

    /** Waits for the queued work and adds the elapsed time of every op timed since the last call to the totals. */
    public void collect() {
        cuda.synchronize();
        for (Pending p : pending) {
            double ms = CudaEvent.elapsedMillis(p.start(), p.end());
            add(byFamily.get(p.family()), ms, p);
            add(byKey.computeIfAbsent(p.key(), k -> new Stat()), ms, p);
        }
        pending.clear();
        used = 0;
    }

    private static void add(Stat s, double ms, Pending p) {
        s.millis += ms;
        s.flops += p.flops();
        s.bytes += p.bytes();
        s.calls++;
    }

    /** Forgets the totals (and anything timed but not collected). */
    public void reset() {
        collect();
        for (Stat s : byFamily.values()) {
            s.millis = 0;
            s.flops = 0;
            s.bytes = 0;
            s.calls = 0;
        }
        byKey.clear();
    }

    /** Collected GPU milliseconds of all ops but transfers. */
    public double totalMillis() {
        return byFamily.entrySet().stream().filter(e -> e.getKey() != Family.TRANSFER).mapToDouble(e -> e.getValue().millis).sum();
    }

    /** Collected FLOPs of all ops. */
    public double totalFlops() { return byFamily.values().stream().mapToDouble(s -> s.flops).sum(); }

    public Stat family(Family f) { return byFamily.get(f); }

    /**
     * Per family, over {@code steps} steps: GPU ms per step, share, calls per step, GFLOP per step and TFLOP/s, GB per
     * step and GB/s; then the {@code top} costliest ops with their input shapes.
     */
    public String report(int steps, int top) {
        double total = totalMillis();
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-10s %9s %7s %7s %10s %9s %9s %8s%n",
                "family", "ms/step", "share", "calls", "GFLOP/step", "TFLOP/s", "GB/step", "GB/s"));
        for (Map.Entry<Family, Stat> e : byFamily.entrySet()) {
            Stat s = e.getValue();
            if (s.calls == 0) continue;
            sb.append(line(e.getKey().name().toLowerCase(Locale.ROOT), s, steps, total));
        }
        Stat all = new Stat();
        for (Map.Entry<Family, Stat> e : byFamily.entrySet()) {
            if (e.getKey() == Family.TRANSFER) continue;
            all.millis += e.getValue().millis;
            all.flops += e.getValue().flops;
            all.bytes += e.getValue().bytes;
            all.calls += e.getValue().calls;
        }
        sb.append(line("ops total", all, steps, total)).append('\n');
        sb.append(String.format(Locale.ROOT, "%9s %7s %6s %8s  %s%n", "ms/step", "share", "calls", "TFLOP/s", "op and input shapes"));
        List<Map.Entry<String, Stat>> keys = new ArrayList<>(byKey.entrySet());
        keys.sort(Comparator.comparingDouble((Map.Entry<String, Stat> e) -> e.getValue().millis).reversed());
        for (Map.Entry<String, Stat> e : keys.subList(0, Math.min(top, keys.size()))) {
            Stat s = e.getValue();
            sb.append(String.format(Locale.ROOT, "%9.3f %6.1f%% %6d %8s  %s%n", s.millis / steps, 100 * s.millis / total,
                    s.calls / steps, s.flops > 0 ? String.format(Locale.ROOT, "%.1f", s.flops / (s.millis * 1e9)) : "-", e.getKey()));
        }
        return sb.toString();
    }

    private static String line(String name, Stat s, int steps, double total) {
        return String.format(Locale.ROOT, "%-10s %9.3f %6.1f%% %7d %10.1f %9s %9.3f %8.0f%n", name, s.millis / steps,
                100 * s.millis / total, s.calls / steps, s.flops / steps / 1e9,
                s.flops > 0 ? String.format(Locale.ROOT, "%.1f", s.flops / (s.millis * 1e9)) : "-",
                s.bytes / steps / 1e9, s.bytes / (s.millis * 1e6));
    }

    // ---- ops ------------------------------------------------------------------------------------------------------

    private static Tensor[] ts(Tensor... t) { return t; }

    @Override public String name() { return "profiling(" + cuda.name() + ")"; }

    @Override
    public Tensor upload(Tensor host) {
        return time(Family.TRANSFER, "upload", ts(), 0, () -> cuda.upload(host));
    }

    @Override
    public Tensor download(Tensor t) {
        return time(Family.TRANSFER, "download", ts(t), 0, () -> cuda.download(t));
    }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        double flops = 2.0 * (x.numel() / weight.dim(1)) * weight.dim(0) * weight.dim(1);
        return time(Family.GEMM, "linear", ts(x, weight), flops, () -> cuda.linear(x, weight, bias));
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        long ho = (x.dim(2) + 2L * padding - weight.dim(2)) / stride + 1, wo = (x.dim(3) + 2L * padding - weight.dim(3)) / stride + 1;
        double flops = 2.0 * x.dim(0) * weight.dim(0) * ho * wo * weight.dim(1) * weight.dim(2) * weight.dim(3);
        return time(Family.CONV, "conv2d s" + stride + " p" + padding, ts(x, weight), flops,
                () -> cuda.conv2d(x, weight, bias, stride, padding));
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
        double flops = 4.0 * q.dim(0) * q.dim(1) * k.dim(1) * q.dim(2);  // q·kᵀ and p·v
        return time(Family.ATTENTION, "attention h" + heads, ts(q, k, v), flops, () -> cuda.attention(q, k, v, heads, causal));
    }

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        return time(Family.NORM, silu ? "groupNorm+silu" : "groupNorm", ts(x), 0,
                () -> cuda.groupNorm(x, groups, gamma, beta, eps, silu));
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        return time(Family.NORM, "layerNorm", ts(x), 0, () -> cuda.layerNorm(x, gamma, beta, eps));
    }

    @Override
    public Tensor pad2d(Tensor x, int left, int right, int top, int bottom) {
        return time(Family.OTHER, "pad2d", ts(x), 0, () -> cuda.pad2d(x, left, right, top, bottom));
    }

    @Override public Tensor silu(Tensor x) { return time(Family.OTHER, "silu", ts(x), 0, () -> cuda.silu(x)); }

    @Override public Tensor gelu(Tensor x) { return time(Family.OTHER, "gelu", ts(x), 0, () -> cuda.gelu(x)); }

    @Override
    public Tensor quickGelu(Tensor x) { return time(Family.OTHER, "quickGelu", ts(x), 0, () -> cuda.quickGelu(x)); }

    @Override public Tensor geglu(Tensor x) { return time(Family.OTHER, "geglu", ts(x), 0, () -> cuda.geglu(x)); }

    @Override public Tensor add(Tensor a, Tensor b) { return time(Family.OTHER, "add", ts(a, b), 0, () -> cuda.add(a, b)); }

    @Override
    public Tensor addChannelwise(Tensor x, Tensor v) {
        return time(Family.OTHER, "addChannelwise", ts(x, v), 0, () -> cuda.addChannelwise(x, v));
    }

    @Override public Tensor scale(Tensor x, float s) { return time(Family.OTHER, "scale", ts(x), 0, () -> cuda.scale(x, s)); }

    @Override
    public Tensor upsampleNearest2x(Tensor x) {
        return time(Family.OTHER, "upsampleNearest2x", ts(x), 0, () -> cuda.upsampleNearest2x(x));
    }

    @Override
    public Tensor concatChannels(Tensor a, Tensor b) {
        return time(Family.OTHER, "concatChannels", ts(a, b), 0, () -> cuda.concatChannels(a, b));
    }

    @Override public Tensor toTokens(Tensor x) { return time(Family.OTHER, "toTokens", ts(x), 0, () -> cuda.toTokens(x)); }

    @Override
    public Tensor fromTokens(Tensor x, long height, long width) {
        return time(Family.OTHER, "fromTokens", ts(x), 0, () -> cuda.fromTokens(x, height, width));
    }

    @Override
    public Tensor embedding(Tensor table, Tensor ids) {
        return time(Family.TRANSFER, "embedding", ts(table), 0, () -> cuda.embedding(table, ids));
    }

    /** Frees the events; the CUDA backend stays open (it is the caller's). */
    @Override
    public void close() {
        pending.clear();
        for (CudaEvent e : pool) e.close();
        pool.clear();
    }
}
