package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.WeightPrecision;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Device;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.util.Arrays;
import java.util.Collection;

/**
 * The reference backend: host f32 tensors, Vector API kernels, a fixed pool of threads. Matrix products (linear,
 * convolution, attention) run on a blocked SGEMM whose weight operands are packed once and cached per weight
 * tensor; weights must therefore not be modified after their first use. The packed weights are stored in the
 * backend's {@link WeightPrecision} (f32, bf16 or int8; {@code -Dpd.cpu.weights} sets the default) and widened to f32
 * a panel at a time by the matrix products ({@link WeightKernels}). With f32 weights, 3x3 stride-1 convolutions with
 * at least 64 channels and enough pixels run as Winograd F(4x4, 3x3) ({@link WinogradCpu}, from the same packed
 * weight; {@code -Dpd.cpu.winograd=false} turns it off); with reduced weights they take the direct convolution.
 */
public final class CpuBackend implements Backend {
    /** Cache kinds: a linear weight packed as the B operand, a convolution weight as the A operand. */
    private static final String LINEAR = "linearB";
    private static final String CONV = "convA";
    private final Parallel par;
    private final WeightCache cache = new WeightCache();
    private final HostMemory memory = new HostMemory();
    private final WeightPrecision weights;
    private final Packed.Format format;

    /** A backend using every available processor, weights in {@code -Dpd.cpu.weights} (default f32). */
    public CpuBackend() { this(Runtime.getRuntime().availableProcessors()); }

    /** A backend with {@code threads} threads, weights in {@code -Dpd.cpu.weights} (default f32). */
    public CpuBackend(int threads) { this(threads, WeightPrecision.fromProperty()); }

    /** A backend with {@code threads} threads storing its linear and convolution weights in {@code weights}. */
    public CpuBackend(int threads, WeightPrecision weights) {
        if (weights == null) throw new NullPointerException("weights");
        this.format = switch (weights) {
            case F32 -> Packed.Format.F32;
            case BF16 -> Packed.Format.BF16;
            case INT8 -> Packed.Format.I8;
        };
        if (format != Packed.Format.F32 && !WeightKernels.SUPPORTED) {
            throw new IllegalArgumentException(weights.label() + " weights need vectors of at least 8 floats (AVX2 or wider); this JVM's are "
                    + Microkernel.VL);
        }
        this.weights = weights;
        this.par = new Parallel(threads);
    }

    @Override
    public String name() { return "cpu"; }

    public int threads() { return par.threads(); }

    /** How the linear and convolution weights are stored. */
    public WeightPrecision weights() { return weights; }

    /** Number of packed weight operands currently cached. */
    public int cachedWeights() { return cache.size(); }

    @Override
    public Tensor upload(Tensor host) { return keptWeight(host) ? host : LayoutCpu.contiguousF32(host); }

    /**
     * A contiguous host f16 or bf16 tensor of rank 2 or 4 (a checkpoint's linear or convolution weight, most often) is
     * uploaded as it is, not as an f32 copy: the ops that read it as a weight pack it once from a temporary f32
     * conversion (and hand a mapped file's pages back), so an f16 checkpoint is not held twice, once converted and
     * once packed; any other op converts it where it reads it, as for every input.
     */
    private static boolean keptWeight(Tensor t) {
        return t.device() == Device.CPU && (t.dtype() == DType.F16 || t.dtype() == DType.BF16) && t.isContiguous()
                && (t.rank() == 2 || t.rank() == 4);
    }

    @Override
    public Tensor download(Tensor t) {
        Tensor c = LayoutCpu.contiguousF32(t);
        if (c != t) return c;
        Tensor out = memory.uninitialized(t.shape());
        MemorySegment.copy(c.segment(), 0, out.segment(), 0, c.byteSize());
        return out;
    }

    // ---- matrix products -----------------------------------------------------------------------------------

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        x = f32(x);
        weight = packable(weight);
        require(weight.rank() == 2, "linear weight must be [out, in], got " + weight);
        require(x.rank() >= 1, "linear input must have a feature dimension, got " + x);
        int in = Math.toIntExact(weight.dim(1));
        int outF = Math.toIntExact(weight.dim(0));
        require(x.dim(-1) == in, "linear input " + x + " does not match weight " + weight);
        long[] shape = x.shape();
        shape[shape.length - 1] = outF;
        Tensor out = in == 0 ? memory.zeros(shape) : memory.uninitialized(shape);
        int m = Math.toIntExact(x.numel() / Math.max(1, in));
        if (m == 0 || outF == 0) return out;
        Packed w = packedLinear(weight);
        float[] b = biasArray(bias, outF, w.nPad());
        if (in == 0) return fillBias(out, m, outF, b);
        Sgemm.linear(par, x.segment(), 0, m, w, b, out.segment());
        Reference.reachabilityFence(weight); // its cache entry, and so the packed panels, live until here
        return out;
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        return conv2d(x, weight, bias, stride, padding, 1);
    }

    /** Read in place: the upsampled input is never made ({@link Conv2dCpu#conv}'s {@code up}). */
    @Override
    public Tensor upsampleNearest2xConv2d(Tensor x, Tensor weight, Tensor bias, int padding) {
        return conv2d(x, weight, bias, 1, padding, 2);
    }

    /** conv2d of x upsampled ×{@code up} (nearest; 1: x itself). */
    private Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding, int up) {
        x = f32(x);
        weight = packable(weight);
        require(x.rank() == 4 && weight.rank() == 4, "conv2d wants x [N, C, H, W] and weight [O, C, kh, kw], got " + x + ", " + weight);
        require(stride >= 1 && padding >= 0, "conv2d stride " + stride + ", padding " + padding);
        int n = Math.toIntExact(x.dim(0)), c = Math.toIntExact(x.dim(1));
        int h = Math.toIntExact(x.dim(2) * up), w = Math.toIntExact(x.dim(3) * up); // the (upsampled) input's size
        int o = Math.toIntExact(weight.dim(0)), kh = Math.toIntExact(weight.dim(2)), kw = Math.toIntExact(weight.dim(3));
        require(weight.dim(1) == c, "conv2d input " + x + " does not match weight " + weight);
        int ho = (h + 2 * padding - kh) / stride + 1;
        int wo = (w + 2 * padding - kw) / stride + 1;
        require(h + 2 * padding >= kh && w + 2 * padding >= kw, "conv2d kernel larger than padded input: " + x + ", " + weight);
        int k = c * kh * kw;
        Tensor out = k == 0 ? memory.zeros(n, o, ho, wo) : memory.uninitialized(n, o, ho, wo);
        if (out.numel() == 0) return out;
        if (format == Packed.Format.F32 && WinogradCpu.applies(n, c, h, w, o, kh, kw, stride, padding)) {
            Packed pw = packedConv(weight); // the direct convolution's packing: Winograd transforms its filters per call
            WinogradCpu.conv(par, x.segment(), 0, n, c, h, w, up, pw, o, padding, biasArray(bias, o, o), out.segment());
            Reference.reachabilityFence(weight);
            return out;
        }
        Packed pw = packedConv(weight);
        float[] b = biasArray(bias, o, pw.nPad());
        if (k == 0) {
            Elementwise.addPerRow(par, out.segment(), repeat(b, n, o), out.segment(), n * o, (long) ho * wo);
            return out;
        }
        Conv2dCpu.conv(par, x.segment(), 0, n, c, h / up, w / up, up, pw, kh, kw, stride, padding, b, out.segment());
        Reference.reachabilityFence(weight);
        return out;
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
        q = f32(q);
        k = f32(k);
        v = f32(v);
        require(q.rank() == 3 && k.rank() == 3 && v.rank() == 3, "attention wants [B, L, H*d] tensors, got " + q + ", " + k + ", " + v);
        require(k.sameShape(v), "attention k " + k + " and v " + v + " differ");
        require(q.dim(0) == k.dim(0) && q.dim(2) == k.dim(2), "attention q " + q + " does not match k " + k);
        require(heads >= 1 && q.dim(2) % heads == 0, "attention width " + q.dim(2) + " not divisible by " + heads + " heads");
        int b = Math.toIntExact(q.dim(0)), lq = Math.toIntExact(q.dim(1)), lk = Math.toIntExact(k.dim(1));
        int d = Math.toIntExact(q.dim(2) / heads);
        require(lk > 0 || lq == 0, "attention over zero keys");
        Tensor out = memory.uninitialized(q.shape());
        if (out.numel() == 0) return out;
        Tensor packs = memory.uninitialized(AttentionCpu.scratchFloats(b, heads, lk, d)); // K and V^T, packed per head
        AttentionCpu.attention(par, q.segment(), k.segment(), v.segment(), b, lq, lk, heads, d, causal, out.segment(),
                packs.segment());
        release(packs);
        return out;
    }

    // ---- normalisation -------------------------------------------------------------------------------------

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        x = f32(x);
        require(x.rank() >= 2, "groupNorm wants [N, C, ...], got " + x);
        int n = Math.toIntExact(x.dim(0));
        int c = Math.toIntExact(x.dim(1));
        require(groups >= 1 && c % groups == 0, "groupNorm: " + c + " channels not divisible into " + groups + " groups");
        float[] g = vector(gamma, c, "groupNorm gamma");
        float[] b = vector(beta, c, "groupNorm beta");
        long spatial = x.numel() / Math.max(1, (long) n * c);
        Tensor out = memory.uninitialized(x.shape());
        if (out.numel() == 0) return out;
        NormsCpu.groupNorm(par, x.segment(), out.segment(), n, c, spatial, groups, g, b, eps, silu);
        return out;
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        x = f32(x);
        require(x.rank() >= 1, "layerNorm of a scalar");
        int d = Math.toIntExact(x.dim(-1));
        float[] g = vector(gamma, d, "layerNorm gamma");
        float[] b = vector(beta, d, "layerNorm beta");
        Tensor out = memory.uninitialized(x.shape());
        if (out.numel() == 0) return out;
        NormsCpu.layerNorm(par, x.segment(), out.segment(), x.numel() / d, d, g, b, eps);
        return out;
    }

    // ---- elementwise ---------------------------------------------------------------------------------------

    @Override
    public Tensor silu(Tensor x) { return map(x, Elementwise.Unary.SILU, 0f); }

    @Override
    public Tensor gelu(Tensor x) { return map(x, Elementwise.Unary.GELU, 0f); }

    @Override
    public Tensor quickGelu(Tensor x) { return map(x, Elementwise.Unary.QUICK_GELU, 0f); }

    @Override
    public Tensor geglu(Tensor x) {
        x = f32(x);
        require(x.rank() >= 1 && x.dim(-1) % 2 == 0, "geglu wants an even last dimension, got " + x);
        int f = Math.toIntExact(x.dim(-1) / 2);
        long[] shape = x.shape();
        shape[shape.length - 1] = f;
        Tensor out = memory.uninitialized(shape);
        if (out.numel() == 0) return out;
        Elementwise.geglu(par, x.segment(), out.segment(), out.numel() / f, f);
        return out;
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        a = f32(a);
        b = f32(b);
        require(a.sameShape(b), "add of different shapes " + a + " and " + b);
        Tensor out = memory.uninitialized(a.shape());
        Elementwise.add(par, a.segment(), b.segment(), out.segment(), a.numel());
        return out;
    }

    @Override
    public Tensor addChannelwise(Tensor x, Tensor v) {
        x = f32(x);
        v = f32(v);
        require(x.rank() == 4 && v.rank() == 2 && v.dim(0) == x.dim(0) && v.dim(1) == x.dim(1),
                "addChannelwise wants x [N, C, H, W] and v [N, C], got " + x + ", " + v);
        Tensor out = memory.uninitialized(x.shape());
        int rows = Math.toIntExact(x.dim(0) * x.dim(1));
        Elementwise.addPerRow(par, x.segment(), v.toFloatArray(), out.segment(), rows, x.dim(2) * x.dim(3));
        return out;
    }

    @Override
    public Tensor scale(Tensor x, float s) {
        return map(x, Elementwise.Unary.SCALE, s);
    }

    // ---- layout --------------------------------------------------------------------------------------------

    @Override
    public Tensor pad2d(Tensor x, int left, int right, int top, int bottom) {
        x = f32(x);
        require(x.rank() == 4, "pad2d wants [N, C, H, W], got " + x);
        require(left >= 0 && right >= 0 && top >= 0 && bottom >= 0, "pad2d with negative padding");
        int h = Math.toIntExact(x.dim(2)), w = Math.toIntExact(x.dim(3));
        Tensor out = memory.zeros(x.dim(0), x.dim(1), h + top + bottom, w + left + right);
        LayoutCpu.pad2d(par, x.segment(), out.segment(), Math.toIntExact(x.dim(0) * x.dim(1)), h, w, left, right, top, bottom);
        return out;
    }

    @Override
    public Tensor upsampleNearest2x(Tensor x) {
        x = f32(x);
        require(x.rank() == 4, "upsampleNearest2x wants [N, C, H, W], got " + x);
        int h = Math.toIntExact(x.dim(2)), w = Math.toIntExact(x.dim(3));
        Tensor out = memory.uninitialized(x.dim(0), x.dim(1), 2L * h, 2L * w);
        LayoutCpu.upsample2x(par, x.segment(), out.segment(), Math.toIntExact(x.dim(0) * x.dim(1)), h, w);
        return out;
    }

    @Override
    public Tensor concatChannels(Tensor a, Tensor b) {
        a = f32(a);
        b = f32(b);
        require(a.rank() == 4 && b.rank() == 4 && a.dim(0) == b.dim(0) && a.dim(2) == b.dim(2) && a.dim(3) == b.dim(3),
                "concatChannels wants [N, C1, H, W] and [N, C2, H, W], got " + a + ", " + b);
        long plane = a.dim(2) * a.dim(3);
        Tensor out = memory.uninitialized(a.dim(0), a.dim(1) + b.dim(1), a.dim(2), a.dim(3));
        LayoutCpu.concat(par, a.segment(), b.segment(), out.segment(), Math.toIntExact(a.dim(0)), a.dim(1) * plane, b.dim(1) * plane);
        return out;
    }

    @Override
    public Tensor toTokens(Tensor x) {
        x = f32(x);
        require(x.rank() == 4, "toTokens wants [N, C, H, W], got " + x);
        int c = Math.toIntExact(x.dim(1));
        int hw = Math.toIntExact(x.dim(2) * x.dim(3));
        Tensor out = memory.uninitialized(x.dim(0), hw, c);
        LayoutCpu.transpose(par, x.segment(), out.segment(), Math.toIntExact(x.dim(0)), c, hw);
        return out;
    }

    @Override
    public Tensor fromTokens(Tensor x, long height, long width) {
        x = f32(x);
        require(x.rank() == 3 && x.dim(1) == height * width,
                "fromTokens wants [N, " + height + "*" + width + ", C], got " + x);
        int c = Math.toIntExact(x.dim(2));
        int hw = Math.toIntExact(x.dim(1));
        Tensor out = memory.uninitialized(x.dim(0), c, height, width);
        LayoutCpu.transpose(par, x.segment(), out.segment(), Math.toIntExact(x.dim(0)), hw, c);
        return out;
    }

    @Override
    public Tensor embedding(Tensor table, Tensor ids) {
        table = packable(table);
        require(table.rank() == 2, "embedding table must be [V, D], got " + table);
        require(ids.device() == dev.panamadiffusion.tensor.Device.CPU, "embedding ids must be a host tensor, got " + ids);
        long[] shape = Arrays.copyOf(ids.shape(), ids.rank() + 1);
        int d = Math.toIntExact(table.dim(1));
        shape[ids.rank()] = d;
        Tensor out = memory.uninitialized(shape);
        LayoutCpu.embedding(table, ids, out.segment());
        return out;
    }

    /** Pooled results whose whole storage is {@code done} go back to the pool now (see {@link HostMemory#release}). */
    @Override
    public void release(Tensor... done) {
        for (Tensor t : done) {
            if (t != null && t.device() == Device.CPU && t.offset() == 0 && t.isContiguous()
                    && t.byteSize() == t.storage().byteSize()) memory.release(t.storage());
        }
    }

    /**
     * Packs now every weight of {@code weights} that the models pass to {@link #linear} (rank 2: the B operand) or
     * {@link #conv2d} (rank 4: the A operand), with all threads, so that the first step costs what later ones do.
     * A weight packed already, or not host f32 (it would be converted at each use: nothing to keep), is skipped;
     * other ranks are ignored. The result is the very packing a first use would make. The first time this packs
     * anything in the JVM, the kernels are also run on small inputs until compiled ({@link KernelWarmup}).
     */
    @Override
    public void prepareWeights(Collection<Tensor> weights) {
        boolean any = false;
        for (Tensor t : weights) {
            if (t == null || t.device() != Device.CPU || !t.dtype().isFloatingPoint() || !t.isContiguous()) continue;
            if (t.rank() == 2) packedLinear(t);
            else if (t.rank() == 4) packedConv(t);
            else continue;
            any = true;
        }
        if (any) KernelWarmup.once(par.threads()); // the kernels compiled too, the first time a model loads
    }

    /**
     * Frees the packed panels of {@code weights} (every kind: GEMM, convolution) and unloads their mapped
     * pages; a later use packs them again (the same panels). The caller must not be computing with them meanwhile.
     */
    @Override
    public void releaseWeights(Collection<Tensor> weights) {
        for (Tensor t : weights) {
            if (t == null || t.device() != Device.CPU) continue;
            cache.evict(t);
            unloadMapped(t);
        }
    }

    /**
     * Bytes of activations (pooled results) this backend has handed out so far, and the share of them that came back
     * through {@link #release} rather than the garbage collector.
     */
    public long activationBytes() { return memory.borrowedBytes(); }

    public long releasedActivationBytes() { return memory.releasedBytes(); }

    /** Bytes of packed weight panels cached now (native memory, off the Java heap). */
    public long cachedWeightBytes() { return cache.bytes(); }

    @Override
    public void close() {
        par.close();
        cache.clear();
        memory.close();
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    private Tensor map(Tensor x, Elementwise.Unary op, float s) {
        x = f32(x);
        Tensor out = memory.uninitialized(x.shape());
        Elementwise.map(par, x.segment(), out.segment(), x.numel(), op, s);
        return out;
    }

    /** The packed B operand of a linear weight [out, in] (contiguous host, any floating dtype), packed on first use. */
    private Packed packedLinear(Tensor weight) {
        int outF = Math.toIntExact(weight.dim(0)), in = Math.toIntExact(weight.dim(1));
        return cache.get(weight, LINEAR, arena -> packF32(weight, f -> Sgemm.packWeightT(packer(f), f.segment(), 0, outF, in, format, arena)));
    }

    /** The packed A operand of a convolution weight [O, C, kh, kw] (contiguous host, any floating dtype), packed on first use. */
    private Packed packedConv(Tensor weight) {
        int o = Math.toIntExact(weight.dim(0));
        int k = Math.toIntExact(weight.dim(1) * weight.dim(2) * weight.dim(3));
        return cache.get(weight, CONV, arena -> packF32(weight, f -> Conv2dCpu.packWeight(packer(f), f.segment(), 0, o, k, format, arena)));
    }

    /**
     * Once a weight read from a memory-mapped file is packed, this backend never reads its f32 source again: the
     * mapping's pages are handed back ({@link MemorySegment#unload}: the process's resident memory drops by the
     * weight's size, and anything that does read it later, a LoRA merge, gets it from the file again).
     */
    private static Packed release(Tensor weight, Packed packed) {
        unloadMapped(weight);
        return packed;
    }

    /** Hands back the pages of {@code t}'s memory-mapped file (unless {@code -Dpd.cpu.keepMapped=true}). */
    private static void unloadMapped(Tensor t) {
        MemorySegment s = t.segment();
        if (RELEASE_MAPPED && s.isMapped() && s.byteSize() > 0) s.unload();
    }

    /**
     * {@code pack} applied to {@code weight} as contiguous f32: itself, or (an f16 or bf16 weight) a conversion made
     * for the packing and freed after it; then {@link #release(Tensor, Packed)}.
     */
    private Packed packF32(Tensor weight, java.util.function.Function<Tensor, Packed> pack) {
        if (weight.dtype() == DType.F32) return release(weight, pack.apply(weight)); // packable(): contiguous already
        try (Arena temp = Arena.ofShared()) {
            Tensor f = Tensor.allocate(temp, DType.F32, weight.shape());
            LayoutCpu.widen(packer(weight), weight, f.segment());
            return release(weight, pack.apply(f));
        }
    }

    /** {@code -Dpd.cpu.keepMapped=true} keeps packed weights' mapped pages resident (for comparisons). */
    private static final boolean RELEASE_MAPPED = !Boolean.getBoolean("pd.cpu.keepMapped");

    /**
     * An input the pool's threads will read: contiguous host f32, copied into shared memory when its segment is
     * confined to the calling thread (a tensor from {@code Arena.ofConfined()}).
     */
    private Tensor f32(Tensor t) {
        Tensor c = weightF32(t);
        if (par.canRead(c.segment())) return c;
        Tensor shared = memory.uninitialized(c.shape());
        MemorySegment.copy(c.segment(), 0, shared.segment(), 0, c.byteSize());
        return shared;
    }

    /**
     * A linear or convolution weight as the ops take it: as it is when it is contiguous (any floating dtype: packing
     * converts it), else a contiguous f32 copy.
     */
    private static Tensor packable(Tensor t) {
        if (t == null) throw new NullPointerException("tensor argument is null");
        return t.device() == Device.CPU && t.dtype().isFloatingPoint() && t.isContiguous() ? t : LayoutCpu.contiguousF32(t);
    }

    /** A weight, read only by the calling thread (packing) or converted to arrays: contiguous host f32. */
    private static Tensor weightF32(Tensor t) {
        if (t == null) throw new NullPointerException("tensor argument is null");
        return LayoutCpu.contiguousF32(t);
    }

    /** The pool for packing {@code weight}, or null (pack on the calling thread) when its memory is confined to it. */
    private Parallel packer(Tensor weight) {
        return par.canRead(weight.segment()) ? par : null;
    }

    private static float[] vector(Tensor t, long n, String what) {
        if (t == null) throw new NullPointerException(what + " is null");
        require(t.numel() == n && t.rank() == 1, what + " must be [" + n + "], got " + t);
        return LayoutCpu.floats(t);
    }

    /** The bias as an array padded with zeros to {@code padded}, or null. */
    private static float[] biasArray(Tensor bias, int n, int padded) {
        if (bias == null) return null;
        float[] b = vector(bias, n, "bias");
        return Arrays.copyOf(b, Math.max(padded, n));
    }

    private static float[] repeat(float[] b, int n, int o) {
        float[] r = new float[n * o];
        if (b != null) for (int i = 0; i < n; i++) System.arraycopy(b, 0, r, i * o, o);
        return r;
    }

    private static Tensor fillBias(Tensor out, int m, int n, float[] b) {
        if (b == null) return out;
        MemorySegment s = out.segment();
        for (long i = 0; i < m; i++) MemorySegment.copy(b, 0, s, java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i * n * 4, n);
        return out;
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }
}
