package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.GraphBackend;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Device;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * A {@link GraphBackend} on the host with the semantics of CUDA graphs, for testing graph users without a GPU: while
 * recording, each op runs once (so the recording returns real tensors) and is kept as "recompute from the same input
 * tensors, write into the same output tensor"; a replay re-runs the kept ops in order without calling the recorded
 * code. As on CUDA, uploads, downloads and embeddings are refused while recording, and a replay sees whatever values
 * its input tensors hold at that time. {@link #opCalls} counts op calls made through this backend (not by replays).
 * Over a deterministic backend (the naive one) a replay equals the eager pass bit for bit.
 */
final class RecordingBackend implements GraphBackend {
    private final Backend inner;
    private List<Runnable> tape;  // non-null while recording
    private int opCalls;
    private int graphsOpen;

    RecordingBackend(Backend inner) { this.inner = inner; }

    /** Op calls made on this backend so far (a replay makes none). */
    int opCalls() { return opCalls; }

    private boolean failGraphClose;

    /** From now on each graph's close still closes it but then throws (a driver error on cudaGraphExecDestroy). */
    void failGraphClose() { failGraphClose = true; }

    /** Graphs recorded and not yet closed. */
    int graphsOpen() { return graphsOpen; }

    @Override
    public Graph captureGraph(Runnable work) {
        if (tape != null) throw new IllegalStateException("already recording");
        List<Runnable> ops = new ArrayList<>();
        tape = ops;
        try {
            work.run();
        } finally {
            tape = null;
        }
        graphsOpen++;
        return new Graph() {
            private boolean closed;

            @Override
            public void replay() {
                if (closed) throw new IllegalStateException("graph is closed");
                for (Runnable op : ops) op.run();
            }

            @Override
            public void close() {
                if (closed) return;
                closed = true;
                graphsOpen--;
                if (failGraphClose) throw new IllegalStateException("graph close failed (" + graphsOpen + " open)");
            }
        };
    }

    @Override
    public void copyInto(Tensor src, Tensor dst) {
        if (!src.sameShape(dst)) throw new IllegalArgumentException("copyInto " + src + " -> " + dst);
        Tensor s = src.contiguous();
        if (tape != null) {
            tape.add(() -> copyValues(s, dst));
        }
        copyValues(s, dst);
    }

    private static void copyValues(Tensor src, Tensor dst) {
        if (src.dtype() == DType.F32 && dst.dtype() == DType.F32 && src.isContiguous() && dst.isContiguous()) {
            MemorySegment.copy(src.segment(), 0, dst.segment(), 0, src.byteSize());
            return;
        }
        long n = src.numel();
        for (long i = 0; i < n; i++) dst.setFloat(i, src.getFloat(i));
    }

    /** Runs {@code op} now; while recording, also keeps it as "recompute and write into this result". */
    private Tensor op(Supplier<Tensor> op) {
        opCalls++;
        Tensor out = op.get();
        if (tape != null) tape.add(() -> copyValues(op.get(), out));
        return out;
    }

    private void refuseWhileRecording(String what) {
        if (tape != null) throw new IllegalStateException(what + " while recording a graph");
    }

    @Override public String name() { return "recording(" + inner.name() + ")"; }

    @Override
    public Tensor upload(Tensor host) {
        refuseWhileRecording("upload");
        if (host.device() != Device.CPU) return host;
        Tensor copy = Tensor.allocate(DType.F32, host.shape());  // never adopt: a caller may reuse its tensor
        copyValues(host.contiguous(), copy);
        return copy;
    }

    @Override
    public Tensor download(Tensor t) {
        refuseWhileRecording("download");
        Tensor copy = Tensor.allocate(DType.F32, t.shape());  // always a copy, as the Backend contract says
        copyValues(inner.download(t), copy);
        return copy;
    }

    @Override
    public Tensor embedding(Tensor table, Tensor ids) {
        refuseWhileRecording("embedding");
        return inner.embedding(table, ids);
    }

    @Override public Tensor linear(Tensor x, Tensor w, Tensor b) { return op(() -> inner.linear(x, w, b)); }

    @Override
    public Tensor conv2d(Tensor x, Tensor w, Tensor b, int stride, int padding) {
        return op(() -> inner.conv2d(x, w, b, stride, padding));
    }

    @Override
    public Tensor pad2d(Tensor x, int left, int right, int top, int bottom) {
        return op(() -> inner.pad2d(x, left, right, top, bottom));
    }

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        return op(() -> inner.groupNorm(x, groups, gamma, beta, eps, silu));
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        return op(() -> inner.layerNorm(x, gamma, beta, eps));
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
        return op(() -> inner.attention(q, k, v, heads, causal));
    }

    @Override public Tensor silu(Tensor x) { return op(() -> inner.silu(x)); }

    @Override public Tensor gelu(Tensor x) { return op(() -> inner.gelu(x)); }

    @Override public Tensor quickGelu(Tensor x) { return op(() -> inner.quickGelu(x)); }

    @Override public Tensor geglu(Tensor x) { return op(() -> inner.geglu(x)); }

    @Override public Tensor add(Tensor a, Tensor b) { return op(() -> inner.add(a, b)); }

    @Override public Tensor addChannelwise(Tensor x, Tensor v) { return op(() -> inner.addChannelwise(x, v)); }

    @Override public Tensor scale(Tensor x, float s) { return op(() -> inner.scale(x, s)); }

    @Override public Tensor upsampleNearest2x(Tensor x) { return op(() -> inner.upsampleNearest2x(x)); }

    @Override public Tensor concatChannels(Tensor a, Tensor b) { return op(() -> inner.concatChannels(a, b)); }

    @Override public Tensor toTokens(Tensor x) { return op(() -> inner.toTokens(x)); }

    @Override
    public Tensor fromTokens(Tensor x, long height, long width) { return op(() -> inner.fromTokens(x, height, width)); }

    @Override
    public void close() { inner.close(); }
}
