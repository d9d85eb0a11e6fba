package dev.panamadiffusion.models;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * {@link NaiveBackend}'s ops, keeping the books of {@link Backend#release}: which op results the model code hands
 * back, and that it never reads one afterwards (an op, or a download, given a released tensor or a view of one fails
 * with an {@link AssertionError} naming the op). As the CPU backend's pool does, it takes back only an op's result
 * whole: a view, or a tensor no op of this backend made (the caller's uploads, weights), is ignored. It never reuses
 * memory, so a read after release is caught here by name rather than as a wrong number.
 */
public final class ReleaseLedger implements Backend {
    private final NaiveBackend ops = new NaiveBackend();
    private final List<Tensor> made = new ArrayList<>();                        // every op result, in order
    private final Set<MemorySegment> results = Collections.newSetFromMap(new IdentityHashMap<>());
    private final Set<MemorySegment> released = Collections.newSetFromMap(new IdentityHashMap<>());

    /** How many results the ops have made so far: a mark for {@link #liveSince}. */
    public int mark() { return made.size(); }

    /** Whether {@code t}'s storage, an op result, has been handed back. */
    public boolean isReleased(Tensor t) { return released.contains(t.storage()); }

    /** The results made since {@code mark} that were not handed back, in the order they were made. */
    public List<Tensor> liveSince(int mark) {
        List<Tensor> live = new ArrayList<>();
        for (Tensor t : made.subList(mark, made.size())) if (!isReleased(t)) live.add(t);
        return live;
    }

    private void read(String op, Tensor... inputs) {
        for (Tensor t : inputs) {
            if (t != null && released.contains(t.storage())) throw new AssertionError(op + " read a released tensor " + t);
        }
    }

    /** {@code result} of {@code op}, recorded as made unless it shares memory with one of the inputs (a view). */
    private Tensor made(Tensor result, Tensor... inputs) {
        for (Tensor t : inputs) if (t != null && t.storage() == result.storage()) return result;
        if (results.add(result.storage())) made.add(result);
        return result;
    }

    @Override
    public void release(Tensor... done) {
        for (Tensor t : done) {
            if (t == null || !results.contains(t.storage())) continue;
            boolean whole = t.offset() == 0 && t.isContiguous() && t.byteSize() == t.storage().byteSize();
            if (whole) released.add(t.storage());
        }
    }

    @Override public String name() { return "ledger"; }

    @Override public Tensor upload(Tensor host) { read("upload", host); return ops.upload(host); }

    @Override public Tensor download(Tensor t) { read("download", t); return ops.download(t); }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        read("linear", x, weight, bias);
        return made(ops.linear(x, weight, bias), x);
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        read("conv2d", x, weight, bias);
        return made(ops.conv2d(x, weight, bias, stride, padding), x);
    }

    @Override
    public Tensor pad2d(Tensor x, int left, int right, int top, int bottom) {
        read("pad2d", x);
        return made(ops.pad2d(x, left, right, top, bottom), x);
    }

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        read("groupNorm", x, gamma, beta);
        return made(ops.groupNorm(x, groups, gamma, beta, eps, silu), x);
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        read("layerNorm", x, gamma, beta);
        return made(ops.layerNorm(x, gamma, beta, eps), x);
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
        read("attention", q, k, v);
        return made(ops.attention(q, k, v, heads, causal), q, k, v);
    }

    @Override public Tensor silu(Tensor x) { read("silu", x); return made(ops.silu(x), x); }

    @Override public Tensor gelu(Tensor x) { read("gelu", x); return made(ops.gelu(x), x); }

    @Override public Tensor quickGelu(Tensor x) { read("quickGelu", x); return made(ops.quickGelu(x), x); }

    @Override public Tensor geglu(Tensor x) { read("geglu", x); return made(ops.geglu(x), x); }

    @Override public Tensor add(Tensor a, Tensor b) { read("add", a, b); return made(ops.add(a, b), a, b); }

    @Override
    public Tensor addChannelwise(Tensor x, Tensor v) {
        read("addChannelwise", x, v);
        return made(ops.addChannelwise(x, v), x, v);
    }

    @Override public Tensor scale(Tensor x, float s) { read("scale", x); return made(ops.scale(x, s), x); }

    @Override
    public Tensor upsampleNearest2x(Tensor x) {
        read("upsampleNearest2x", x);
        return made(ops.upsampleNearest2x(x), x);
    }

    @Override
    public Tensor concatChannels(Tensor a, Tensor b) {
        read("concatChannels", a, b);
        return made(ops.concatChannels(a, b), a, b);
    }

    @Override public Tensor toTokens(Tensor x) { read("toTokens", x); return made(ops.toTokens(x), x); }

    @Override
    public Tensor fromTokens(Tensor x, long height, long width) {
        read("fromTokens", x);
        return made(ops.fromTokens(x, height, width), x);
    }

    @Override
    public Tensor embedding(Tensor table, Tensor ids) {
        read("embedding", table, ids);
        return made(ops.embedding(table, ids), table);
    }
}
