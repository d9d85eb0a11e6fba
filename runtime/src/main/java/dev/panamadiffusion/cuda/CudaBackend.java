package dev.panamadiffusion.cuda;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.DeviceMemory;
import dev.panamadiffusion.backend.GraphBackend;
import dev.panamadiffusion.bindings.cuda.cuda_h;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Device;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The {@link Backend} on an NVIDIA GPU (compute capability 8.0+): f16 tensors in device memory, images and conv
 * filters channels-last (NHWC / KRSC, see {@link Layouts}), everything else row-major; f32 accumulation in every
 * reduction and product. Matrix products run in cuBLASLt, convolutions in cuDNN, the rest in our kernels
 * (kernels/src/*.cu). All work is queued on one stream; {@link #download} waits for it.
 *
 * <p>{@link #float32()} is a view of the same GPU that holds and computes f32 tensors (f32 cuBLASLt products, cuDNN
 * convolutions with FMA math, no TF32; the GEMM attention path): where diffusers runs a VAE in float32
 * ({@code force_upcast}). Both share the context, stream and arena; {@link #upload} of the other one's tensor converts
 * it on the device, and {@link #download} takes either one's tensors.
 *
 * <p>Construction probes CUDA ({@link CudaProbe}) and fails with its message when CUDA is unusable; nothing is
 * loaded before that, so the CPU backend is unaffected either way. Device memory is one arena taken at start
 * ({@code -Dpd.cuda.arena=BYTES}, suffixes k/m/g; default 60% of the free memory, on the CUDA emulator at most a quarter
 * of the host's memory); intermediate tensors return to it
 * when they become unreachable. Not thread-safe: use one backend from one thread at a time.
 */
public final class CudaBackend implements GraphBackend, DeviceMemory {
    /** System property: the arena size in bytes (k, m, g suffixes allowed). */
    public static final String ARENA_PROPERTY = "pd.cuda.arena";

    private final CudaDevice device;
    private final boolean owner;
    private final DType dtype;
    private final String suffix;  // the kernels' dtype suffix: f16 or f32
    private final CublasLt.Type blasType;
    private final CudaStream stream;
    private final DeviceArena arena;
    private CudaBackend f32;

    /** A backend on device 0 with the default arena size. */
    public CudaBackend() { this(-1); }

    /** A backend on device 0 with an arena of {@code arenaBytes} (≤ 0: the property or the default). */
    public CudaBackend(long arenaBytes) { this(new CudaDevice(arenaBytes), DType.F16, true); }

    private CudaBackend(CudaDevice device, DType dtype, boolean owner) {
        this.device = device;
        this.owner = owner;
        this.dtype = dtype;
        this.suffix = dtypeSuffix(dtype);
        this.blasType = dtype == DType.F32 ? CublasLt.Type.F32 : CublasLt.Type.F16;
        this.stream = device.stream;
        this.arena = device.arena;
    }

    /**
     * This GPU computing in f32 (diffusers' {@code vae.to(torch.float32)} under {@code force_upcast}): one view per
     * backend, sharing its context, stream and arena; closing it does nothing, closing this backend ends both.
     */
    @Override
    public CudaBackend float32() {
        if (dtype == DType.F32) return this;
        if (f32 == null) f32 = new CudaBackend(device, DType.F32, false);
        return f32;
    }

    /** The element type of this backend's tensors: F16, or F32 for {@link #float32()}. */
    public DType dtype() { return dtype; }

    @Override
    public String name() { return "cuda"; }

    /** What the probe found (device, driver, library versions). */
    public CudaStatus status() { return device.status; }

    /** Bytes of the device arena in use by live tensors and scratch. */
    public long arenaUsed() { return arena.used(); }

    @Override
    public long deviceBytesInUse() { return arena.used(); }

    @Override
    public long deviceBytesCapacity() { return arena.capacity(); }

    /** Waits for queued work, then returns unreachable tensors' blocks to the arena ({@link DeviceArena#reclaim}). */
    @Override
    public long reclaimDeviceMemory() {
        if (device.closed()) return 0;
        synchronize();
        return arena.reclaim();
    }

    /** Waits until all queued work has finished. */
    public void synchronize() {
        enter();
        stream.synchronize();
    }

    /**
     * Captures the work {@code work} queues (backend calls on this thread) into a CUDA graph, replayed by
     * {@link #launch(CudaGraph)}. Tensors made during the capture keep their device memory until the graph is
     * closed; tensors made before it and used by it must stay referenced by the caller. {@code work} must not
     * upload, download or call {@link #embedding} or {@link #timestepEmbedding} (host copies cannot be replayed).
     */
    public CudaGraph capture(Runnable work) {
        enter();
        arena.beginHold();
        Runnable[] release = new Runnable[1];
        CudaGraph graph;
        try {
            graph = CudaGraph.capture(stream, work, () -> release[0].run());
        } catch (RuntimeException e) {
            arena.endHold().run();
            throw e;
        }
        release[0] = arena.endHold();
        return graph;
    }

    /** Queues one replay of a graph captured by {@link #capture}. */
    public void launch(CudaGraph graph) {
        enter();
        graph.launch(stream);
    }

    @Override
    public Graph captureGraph(Runnable work) {
        CudaGraph graph = capture(work);
        return new Graph() {
            @Override
            public void replay() { launch(graph); }

            @Override
            public void close() {
                if (device.closed()) return;  // the backend's close released the context and everything in it
                enter();
                graph.close();
            }
        };
    }

    /**
     * Overwrites {@code dst} (row-major or channels-last, as this backend makes them) with the values of {@code src}
     * (same shape, any layout): one device-to-device copy when the layouts match, else one strided copy kernel.
     * Queued on the stream, so it can feed the inputs of a graph before {@link #launch}.
     */
    @Override
    public void copyInto(Tensor src, Tensor dst) {
        require(src, "copyInto src");
        require(dst, "copyInto dst");
        if (!src.sameShape(dst)) throw new IllegalArgumentException("copyInto " + src + " -> " + dst + ": shapes differ");
        boolean dstChannelsLast = Layouts.isChannelsLast(dst);
        if (!dstChannelsLast && !dst.isContiguous()) {
            throw new IllegalArgumentException("copyInto destination " + dst + " is neither row-major nor channels-last");
        }
        enter();
        long n = src.numel();
        if (n == 0) return;
        boolean sameDense = Arrays.equals(src.strides(), dst.strides()) && (src.isContiguous() || Layouts.isChannelsLast(src));
        if (sameDense) {
            Check.cu(cuda_h.cuMemcpyDtoDAsync_v2(Layouts.address(dst), Layouts.address(src), n * dtype.byteSize(), stream.handle()),
                    "cuMemcpyDtoDAsync_v2");
        } else if (dstChannelsLast) {
            long[] st = src.strides();
            copyStrided(copyKernel(dtype), Layouts.address(dst), src.storage().address(), Layouts.nhwc(src.shape()),
                    new long[] {st[0], st[2], st[3], st[1]}, src.offset(), n);
        } else {
            copyStrided(copyKernel(dtype), Layouts.address(dst), src.storage().address(), src.shape(), src.strides(),
                    src.offset(), n);
        }
    }

    /** Records {@code event} at the current end of this backend's stream (GPU-side timing of queued work). */
    public void record(CudaEvent event) {
        enter();
        event.record(stream);
    }

    /** The most bytes of the device arena in use at once since start or the last {@link #resetArenaPeak}. */
    public long arenaPeak() { return arena.peak(); }

    /** Starts a new {@link #arenaPeak} measurement from the bytes in use now. */
    public void resetArenaPeak() { arena.resetPeak(); }

    /** Bytes of the device arena (taken at start). */
    public long arenaCapacity() { return arena.capacity(); }

    /** {free, total} bytes of device memory as the driver reports them (cuMemGetInfo; the arena counts as used). */
    public long[] deviceMemory() {
        enter();
        return device.context.memoryInfo();
    }

    // ---- transfers ----------------------------------------------------------------------------------------------

    /**
     * A host tensor of any floating dtype copied into this backend's element type; a CUDA tensor of this backend
     * as it is, and one of the other element type (an f16 model's latents for an upcast VAE, or back) converted by
     * one kernel on the device, its layout kept.
     */
    @Override
    public Tensor upload(Tensor host) {
        if (host.device() == Device.CUDA) {
            if (host.dtype() == dtype) return host;
            requireCuda(host, "upload");
            enter();
            return Layouts.isChannelsLast(host) ? channelsLast(host) : materializeRowMajor(host);
        }
        if (!host.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("upload of " + host + ": the CUDA backend holds floating-point tensors"
                    + " (token ids stay on the host)");
        }
        enter();
        return CudaTransfers.toDevice(this, device, host);
    }

    /** A contiguous host f32 copy of {@code t}: a tensor of this backend or of its f16/f32 sibling, or a host tensor. */
    @Override
    public Tensor download(Tensor t) {
        if (t.device() == Device.CPU) return CudaTransfers.hostCopy(t);
        requireCuda(t, "download");
        enter();
        return CudaTransfers.toHost(device, t);
    }

    // ---- products -----------------------------------------------------------------------------------------------

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        require(x, "linear x");
        require(weight, "linear weight");
        if (bias != null) require(bias, "linear bias");
        if (weight.rank() != 2 || x.rank() < 1 || x.dim(-1) != weight.dim(1)) {
            throw new IllegalArgumentException("linear: x " + x + " with weight " + weight);
        }
        long out = weight.dim(0), in = weight.dim(1);
        if (bias != null && (bias.rank() != 1 || bias.dim(0) != out)) throw new IllegalArgumentException("linear bias " + bias);
        enter();
        Tensor xr = rowMajor(x), wr = rowMajor(weight), br = bias == null ? null : rowMajor(bias);
        long[] shape = x.shape();
        shape[shape.length - 1] = out;
        Tensor y = newRowMajor(shape);  // [..., out]
        if (in == 0) {  // empty products: the bias alone
            fill0(y);
            if (br != null) {
                long n = y.numel();
                launch(kernel("add_channels"), n, KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(y))
                        .ptr(Layouts.address(br)).i64(0).i64(Math.max(1, n)).i32((int) out).i64(n));
            }
            return y;
        }
        long m = x.numel() / in;
        device.blas.linear(blasType, Layouts.address(xr), Layouts.address(wr), br == null ? 0 : Layouts.address(br),
                Layouts.address(y), m, out, in);
        return y;
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        require(x, "conv2d x");
        require(weight, "conv2d weight");
        if (x.rank() != 4 || weight.rank() != 4 || weight.dim(1) != x.dim(1) || stride < 1 || padding < 0) {
            throw new IllegalArgumentException("conv2d: x " + x + ", weight " + weight + ", stride " + stride + ", padding " + padding);
        }
        enter();
        Tensor xc = channelsLast(x), wc = channelsLast(weight);
        Cudnn.Conv p = new Cudnn.Conv((int) x.dim(0), (int) x.dim(1), (int) x.dim(2), (int) x.dim(3),
                (int) weight.dim(0), (int) weight.dim(2), (int) weight.dim(3), stride, padding);
        if (p.outH() <= 0 || p.outW() <= 0) throw new IllegalArgumentException("conv2d output is empty for " + p);
        Tensor y = newChannelsLast(new long[] {p.n(), p.o(), p.outH(), p.outW()});  // [N, O, Ho, Wo]
        device.dnn.conv2dNhwc(p, dtype == DType.F32, Layouts.address(xc), Layouts.address(wc), Layouts.address(y));
        if (bias != null) {
            require(bias, "conv2d bias");
            if (bias.rank() != 1 || bias.dim(0) != p.o()) throw new IllegalArgumentException("conv2d bias " + bias);
            Tensor b = rowMajor(bias);
            long n = y.numel();
            launch(kernel("add_channels"), n, KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(y))
                    .ptr(Layouts.address(b)).i64(0).i64(Math.max(1, n)).i32(p.o()).i64(n));
        }
        return y;
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
        require(q, "attention q");
        require(k, "attention k");
        require(v, "attention v");
        if (q.rank() != 3 || k.rank() != 3 || v.rank() != 3 || k.dim(0) != q.dim(0) || v.dim(0) != q.dim(0)
                || k.dim(1) != v.dim(1) || k.dim(2) != q.dim(2) || v.dim(2) != q.dim(2) || heads < 1 || q.dim(2) % heads != 0) {
            throw new IllegalArgumentException("attention: q " + q + ", k " + k + ", v " + v + ", heads " + heads);
        }
        enter();
        return CudaAttention.run(this, device, q, k, v, heads, causal);
    }

    // ---- normalisation ------------------------------------------------------------------------------------------

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        require(x, "groupNorm x");
        require(gamma, "groupNorm gamma");
        require(beta, "groupNorm beta");
        if (x.rank() < 2 || groups < 1 || x.dim(1) % groups != 0 || gamma.numel() != x.dim(1) || beta.numel() != x.dim(1)) {
            throw new IllegalArgumentException("groupNorm: x " + x + ", groups " + groups + ", gamma " + gamma + ", beta " + beta);
        }
        enter();
        return CudaNorms.groupNorm(this, device, x, groups, gamma, beta, eps, silu);
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        require(x, "layerNorm x");
        require(gamma, "layerNorm gamma");
        require(beta, "layerNorm beta");
        if (x.rank() < 1 || gamma.numel() != x.dim(-1) || beta.numel() != x.dim(-1)) {
            throw new IllegalArgumentException("layerNorm: x " + x + ", gamma " + gamma + ", beta " + beta);
        }
        long d = x.dim(-1);
        if (d * 4 > 48 * 1024) throw new IllegalArgumentException("layerNorm over " + d + " > 12288 features");
        enter();
        return CudaNorms.layerNorm(this, device, x, gamma, beta, eps);
    }

    // ---- elementwise --------------------------------------------------------------------------------------------

    @Override
    public Tensor silu(Tensor x) { return unary("silu", x); }

    @Override
    public Tensor gelu(Tensor x) { return unary("gelu", x); }

    @Override
    public Tensor quickGelu(Tensor x) { return unary("quick_gelu", x); }

    @Override
    public Tensor scale(Tensor x, float s) {
        require(x, "scale");
        enter();
        Tensor xd = dense(x);
        Tensor y = newLike(xd);
        launch(kernel("scale"), y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xd)).f32(s).i64(y.numel()));
        return y;
    }

    private Tensor unary(String op, Tensor x) {
        require(x, op);
        enter();
        Tensor xd = dense(x);
        Tensor y = newLike(xd);
        launch(kernel(op), y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xd)).i64(y.numel()));
        return y;
    }

    @Override
    public Tensor geglu(Tensor x) {
        require(x, "geglu");
        if (x.rank() < 1 || x.dim(-1) % 2 != 0) throw new IllegalArgumentException("geglu of " + x);
        enter();
        Tensor xr = rowMajor(x);
        long f = x.dim(-1) / 2;
        long[] shape = x.shape();
        shape[shape.length - 1] = f;
        Tensor y = newRowMajor(shape);  // [..., F]
        long rows = f == 0 ? 0 : y.numel() / f;
        launch(kernel("geglu"), y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xr)).i64(rows).i32((int) f));
        return y;
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        require(a, "add a");
        require(b, "add b");
        if (!a.sameShape(b)) throw new IllegalArgumentException("add: " + a + " + " + b);
        enter();
        Tensor ad = dense(a);
        Tensor bd = Layouts.isChannelsLast(ad) ? channelsLast(b) : rowMajor(b);
        if (!Layouts.isChannelsLast(ad)) ad = rowMajor(ad);
        Tensor y = newLike(ad);
        launch(kernel("add"), y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(ad))
                .ptr(Layouts.address(bd)).i64(y.numel()));
        return y;
    }

    @Override
    public Tensor addChannelwise(Tensor x, Tensor v) {
        require(x, "addChannelwise x");
        require(v, "addChannelwise v");
        if (x.rank() != 4 || v.rank() != 2 || v.dim(0) != x.dim(0) || v.dim(1) != x.dim(1)) {
            throw new IllegalArgumentException("addChannelwise: x " + x + ", v " + v);
        }
        enter();
        Tensor xc = channelsLast(x), vr = rowMajor(v);
        Tensor y = newChannelsLast(x.shape());
        long c = x.dim(1), n = y.numel();
        launch(kernel("add_channels"), n, KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xc))
                .ptr(Layouts.address(vr)).i64(c).i64(Math.max(1, x.dim(2) * x.dim(3) * c)).i32((int) c).i64(n));
        return y;
    }

    // ---- spatial and layout -------------------------------------------------------------------------------------

    @Override
    public Tensor pad2d(Tensor x, int left, int right, int top, int bottom) {
        require(x, "pad2d");
        if (x.rank() != 4 || left < 0 || right < 0 || top < 0 || bottom < 0) {
            throw new IllegalArgumentException("pad2d of " + x + " by " + left + ", " + right + ", " + top + ", " + bottom);
        }
        enter();
        Tensor xc = channelsLast(x);
        long[] s = x.shape();
        Tensor y = newChannelsLast(new long[] {s[0], s[1], s[2] + top + bottom, s[3] + left + right});
        launch(kernel("pad2d_nhwc"), y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xc))
                .i32((int) s[0]).i32((int) s[2]).i32((int) s[3]).i32((int) s[1]).i32(left).i32(right).i32(top).i32(bottom));
        return y;
    }

    @Override
    public Tensor upsampleNearest2x(Tensor x) {
        require(x, "upsampleNearest2x");
        if (x.rank() != 4) throw new IllegalArgumentException("upsampleNearest2x of " + x);
        enter();
        Tensor xc = channelsLast(x);
        long[] s = x.shape();
        Tensor y = newChannelsLast(new long[] {s[0], s[1], 2 * s[2], 2 * s[3]});
        launch(kernel("upsample_nearest2x_nhwc"), y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xc))
                .i32((int) s[0]).i32((int) s[2]).i32((int) s[3]).i32((int) s[1]));
        return y;
    }

    @Override
    public Tensor concatChannels(Tensor a, Tensor b) {
        require(a, "concatChannels a");
        require(b, "concatChannels b");
        if (a.rank() != 4 || b.rank() != 4 || a.dim(0) != b.dim(0) || a.dim(2) != b.dim(2) || a.dim(3) != b.dim(3)) {
            throw new IllegalArgumentException("concatChannels: " + a + " and " + b);
        }
        enter();
        Tensor ac = channelsLast(a), bc = channelsLast(b);
        long ca = a.dim(1), cb = b.dim(1);
        Tensor y = newChannelsLast(new long[] {a.dim(0), ca + cb, a.dim(2), a.dim(3)});
        long pixels = a.dim(0) * a.dim(2) * a.dim(3);
        launch(kernel("concat_channels_nhwc"), y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(ac))
                .ptr(Layouts.address(bc)).i64(pixels).i32((int) ca).i32((int) cb));
        return y;
    }

    @Override
    public Tensor toTokens(Tensor x) {
        require(x, "toTokens");
        if (x.rank() != 4) throw new IllegalArgumentException("toTokens of " + x);
        enter();
        Tensor xc = channelsLast(x);
        long n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
        // the channels-last buffer [N, H, W, C] is already [N, H*W, C]: a view, no copy
        return Tensor.of(dtype, Device.CUDA, denseBytes(xc), n, hw, c);
    }

    @Override
    public Tensor fromTokens(Tensor x, long height, long width) {
        require(x, "fromTokens");
        if (x.rank() != 3 || x.dim(1) != height * width) {
            throw new IllegalArgumentException("fromTokens of " + x + " to " + height + "x" + width);
        }
        enter();
        Tensor xr = rowMajor(x);
        // [N, H*W, C] row-major is the channels-last buffer of [N, C, H, W]: a view, no copy
        return Tensor.of(dtype, Device.CUDA, denseBytes(xr), x.dim(0), height, width, x.dim(2)).permute(0, 3, 1, 2);
    }

    @Override
    public Tensor embedding(Tensor table, Tensor ids) {
        require(table, "embedding table");
        if (table.rank() != 2) throw new IllegalArgumentException("embedding table " + table);
        if (ids.device() != Device.CPU || ids.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("embedding ids must be a host integer tensor, got " + ids);
        }
        long vocab = table.dim(0), d = table.dim(1);
        long[] idv = ids.toLongArray();
        for (int i = 0; i < idv.length; i++) {
            if (idv[i] < 0 || idv[i] >= vocab) {
                throw new IllegalArgumentException("embedding id " + idv[i] + " at position " + i + " is outside [0, " + vocab + ")");
            }
        }
        enter();
        return CudaTransfers.embedding(this, device, table, ids.shape(), idv);
    }

    /**
     * diffusers' {@code get_timestep_embedding} on the GPU: [B] timesteps → [B, dim] sinusoidal embedding
     * (f32 arithmetic, a result of this backend's element type). Not a {@link Backend} op: the UNet may use it instead
     * of a host computation.
     */
    public Tensor timestepEmbedding(double[] timesteps, int dim, boolean flipSinToCos, float downscaleFreqShift,
                                    float scale, float maxPeriod) {
        enter();
        return CudaTransfers.timestepEmbedding(this, device, timesteps, dim, flipSinToCos, downscaleFreqShift, scale, maxPeriod);
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    private void enter() { device.enter(); }

    /** The kernel {@code op} for this backend's element type: {@code op_f16} or {@code op_f32}. */
    String kernel(String op) { return op + "_" + suffix; }

    /** The strided copy from {@code src} elements to this backend's. */
    String copyKernel(DType src) { return "copy_strided_" + dtypeSuffix(src) + "_" + suffix; }

    static String dtypeSuffix(DType t) {
        return switch (t) {
            case F16 -> "f16";
            case F32 -> "f32";
            case BF16 -> "bf16";
            default -> throw new IllegalStateException("no kernels for " + t);
        };
    }

    /** {@code t} is a tensor of this backend: on the device, of its element type. */
    private void require(Tensor t, String what) {
        if (t == null) throw new IllegalArgumentException(what + ": null tensor");
        if (t.device() != Device.CUDA || t.dtype() != dtype) {
            throw new IllegalArgumentException(what + ": " + t + " is not a CUDA " + dtype + " tensor of this backend"
                    + " (upload it first)");
        }
    }

    /** {@code t} is a tensor of this GPU's backends: on the device, f16 or f32. */
    private static void requireCuda(Tensor t, String what) {
        if (t == null) throw new IllegalArgumentException(what + ": null tensor");
        if (t.device() != Device.CUDA || (t.dtype() != DType.F16 && t.dtype() != DType.F32)) {
            throw new IllegalArgumentException(what + ": " + t + " is not a CUDA tensor of this backend (upload it first)");
        }
    }

    /** One launch of a grid-stride elementwise kernel over {@code n} elements. */
    void launch(String kernel, long n, KernelArgs args) { device.launch(kernel, n, args); }

    void copyStrided(String kernel, long dst, long srcBase, long[] shape, long[] strides, long offset, long n) {
        device.copyStrided(kernel, dst, srcBase, shape, strides, offset, n);
    }

    Tensor newRowMajor(long[] shape) {
        return Tensor.of(dtype, Device.CUDA, arena.allocate(Tensor.numel(shape) * dtype.byteSize()), shape);
    }

    /** A channels-last tensor of logical shape [N, C, H, W]. */
    Tensor newChannelsLast(long[] nchw) {
        long[] nhwc = Layouts.nhwc(nchw);
        return Tensor.of(dtype, Device.CUDA, arena.allocate(Tensor.numel(nhwc) * dtype.byteSize()), nhwc).permute(0, 3, 1, 2);
    }

    /** A new tensor with the shape and layout (channels-last or row-major) of a dense {@code t}. */
    private Tensor newLike(Tensor t) {
        return Layouts.isChannelsLast(t) ? newChannelsLast(t.shape()) : newRowMajor(t.shape());
    }

    /** {@code t} itself when channels-last or row-major (both dense, walkable linearly), else a row-major copy. */
    private Tensor dense(Tensor t) {
        return Layouts.isChannelsLast(t) || t.isContiguous() ? t : materializeRowMajor(t);
    }

    /** {@code t} when row-major, else a row-major copy. */
    Tensor rowMajor(Tensor t) {
        return t.isContiguous() ? t : materializeRowMajor(t);
    }

    /** A row-major copy of {@code t} (of this backend's element type, or converted from the other one's). */
    Tensor materializeRowMajor(Tensor t) {
        Tensor y = newRowMajor(t.shape());
        copyStrided(copyKernel(t.dtype()), Layouts.address(y), t.storage().address(), t.shape(), t.strides(), t.offset(), t.numel());
        return y;
    }

    /** {@code t} when channels-last (and of this element type), else a channels-last copy (rank 4). */
    private Tensor channelsLast(Tensor t) {
        if (Layouts.isChannelsLast(t) && t.dtype() == dtype) return t;
        long[] shape = t.shape();
        Tensor y = newChannelsLast(shape);
        long[] st = t.strides();
        copyStrided(copyKernel(t.dtype()), Layouts.address(y), t.storage().address(), Layouts.nhwc(shape),
                new long[] {st[0], st[2], st[3], st[1]}, t.offset(), t.numel());
        return y;
    }

    /** The bytes of a dense (row-major or channels-last) tensor, from its first element. */
    private static MemorySegment denseBytes(Tensor t) {
        long es = t.dtype().byteSize();
        return t.storage().asSlice(t.offset() * es, t.numel() * es);
    }

    Tensor fill0(Tensor y) {
        if (y.numel() > 0) {
            Check.cu(cuda_h.cuMemsetD8Async(Layouts.address(y), (byte) 0, y.numel() * dtype.byteSize(),
                    stream.handle()), "cuMemsetD8Async");
        }
        return y;
    }

    /** Ends this backend and its {@link #float32()} view (the view's own close does nothing). */
    @Override
    public void close() {
        if (owner) device.close();
    }
}
