package dev.panamadiffusion.cuda;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.DeviceMemory;
import dev.panamadiffusion.backend.GraphBackend;
import dev.panamadiffusion.bindings.cuda.cuda_h;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Device;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The {@link Backend} on an NVIDIA GPU (compute capability 8.0+): f16 tensors in device memory, images and conv
 * filters channels-last (NHWC / KRSC, see {@link Layouts}), everything else row-major; f32 accumulation in every
 * reduction and product. Matrix products run in cuBLASLt, convolutions in cuDNN, the rest in our kernels
 * (kernels/src/*.cu). All work is queued on one stream; {@link #download} waits for it.
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

    private static final int BLOCK = 256;
    private static final long STAGING_CHUNK = 8L << 20;
    private static final long CUBLAS_WORKSPACE = 32L << 20;
    private static final long CUDNN_MAX_WORKSPACE = 512L << 20;
    private static final int[] FLASH_HEAD_DIMS = {40, 64, 80, 128, 160};
    private static final long FALLBACK_SCORE_BYTES = 256L << 20;  // bound on the fallback attention's score chunk

    private final CudaStatus status;
    private final CudaContext context;
    private final CudaStream stream;
    private final DeviceArena arena;
    private final CudaModule kernels;
    private final Staging staging;
    private final CublasLt blas;
    private final Cudnn dnn;
    private final int maxGrid;
    private boolean closed;

    /** A backend on device 0 with the default arena size. */
    public CudaBackend() { this(-1); }

    /** A backend on device 0 with an arena of {@code arenaBytes} (≤ 0: the property or the default). */
    public CudaBackend(long arenaBytes) {
        this.status = CudaProbe.probe();
        if (!status.available()) throw new CudaException(status.message());
        this.context = CudaContext.open(0);
        CudaStream s = null;
        DeviceArena a = null;
        CudaModule m = null;
        Staging st = null;
        CublasLt b = null;
        try {
            s = CudaStream.create();
            a = DeviceArena.create(arenaBytes > 0 ? arenaBytes : defaultArenaBytes(context));
            m = CudaModule.loadKernels();
            st = new Staging(s, STAGING_CHUNK);
            b = new CublasLt(s, a, Math.min(CUBLAS_WORKSPACE, a.capacity() / 8));
            this.dnn = new Cudnn(s, a, Math.min(CUDNN_MAX_WORKSPACE, a.capacity() / 4));
        } catch (RuntimeException e) {
            for (AutoCloseable c : new AutoCloseable[] {b, st, m, a, s, context}) {
                try {
                    if (c != null) c.close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        this.stream = s;
        this.arena = a;
        this.kernels = m;
        this.staging = st;
        this.blas = b;
        this.maxGrid = context.multiprocessors() * 32;
    }

    /**
     * Threads for a kernel that reduces one row of {@code n} values per block: whole warps (the block reductions
     * shuffle over full warps), no more than the row needs, at most {@link #BLOCK}.
     */
    static int rowBlock(long n) {
        return (int) Math.min(BLOCK, Math.max(32, (n + 31) / 32 * 32));
    }

    static long defaultArenaBytes(CudaContext context) {
        String p = System.getProperty(ARENA_PROPERTY);
        if (p != null && !p.isBlank()) return parseBytes(p.trim());
        long free = context.memoryInfo()[0];
        long bytes = (long) (free * 0.6);
        if (CudaProbe.boundDriver() == CudaDriver.EMULATOR) {
            // the emulator's "device" memory is this host's memory, whatever size the emulated H200 reports
            var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
            bytes = Math.min(bytes, os.getTotalMemorySize() / 4);
        }
        // never more than the device has free (a floor above it failed every start on a small or busy GPU)
        return Math.max(Math.min(256L << 20, free / 2), bytes);
    }

    /** "4g", "512m", "1048576" → bytes. */
    static long parseBytes(String s) {
        char last = Character.toLowerCase(s.charAt(s.length() - 1));
        long unit = switch (last) {
            case 'k' -> 1L << 10;
            case 'm' -> 1L << 20;
            case 'g' -> 1L << 30;
            default -> 1;
        };
        String digits = unit == 1 ? s : s.substring(0, s.length() - 1);
        return Long.parseLong(digits.trim()) * unit;
    }

    @Override
    public String name() { return "cuda"; }

    /** What the probe found (device, driver, library versions). */
    public CudaStatus status() { return status; }

    /** Bytes of the device arena in use by live tensors and scratch. */
    public long arenaUsed() { return arena.used(); }

    @Override
    public long deviceBytesInUse() { return arena.used(); }

    @Override
    public long deviceBytesCapacity() { return arena.capacity(); }

    /** Waits for queued work, then returns unreachable tensors' blocks to the arena ({@link DeviceArena#reclaim}). */
    @Override
    public long reclaimDeviceMemory() {
        if (closed) return 0;
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
                if (closed) return;  // the backend's close released the context and everything in it
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
        requireF16(src, "copyInto src");
        requireF16(dst, "copyInto dst");
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
            Check.cu(cuda_h.cuMemcpyDtoDAsync_v2(Layouts.address(dst), Layouts.address(src), n * 2, stream.handle()),
                    "cuMemcpyDtoDAsync_v2");
        } else if (dstChannelsLast) {
            long[] st = src.strides();
            copyStrided("copy_strided_f16_f16", Layouts.address(dst), src.storage().address(), Layouts.nhwc(src.shape()),
                    new long[] {st[0], st[2], st[3], st[1]}, src.offset(), n);
        } else {
            copyStrided("copy_strided_f16_f16", Layouts.address(dst), src.storage().address(), src.shape(), src.strides(),
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
        return context.memoryInfo();
    }

    // ---- transfers ----------------------------------------------------------------------------------------------

    @Override
    public Tensor upload(Tensor host) {
        if (host.device() == Device.CUDA) return host;
        if (!host.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("upload of " + host + ": the CUDA backend holds floating-point tensors"
                    + " (token ids stay on the host)");
        }
        enter();
        Tensor src = host.dtype() == DType.F64 ? host.to(DType.F32) : host.contiguous();
        long[] shape = src.shape();
        long n = src.numel();
        boolean image = shape.length == 4;
        Tensor out = image ? newChannelsLast(shape) : newRowMajor(shape);
        if (n == 0) return out;
        if (src.dtype() == DType.F16 && !image) {
            staging.toDevice(src.segment(), Layouts.address(out));
            return out;
        }
        long rawBytes = src.byteSize();
        long raw = arena.allocateScratch(rawBytes);
        try {
            staging.toDevice(src.segment(), raw);
            long[] walk = image ? Layouts.nhwc(shape) : new long[] {n};
            long[] strides = image ? Layouts.nchwStridesForNhwcWalk(shape) : new long[] {1};
            String kernel = switch (src.dtype()) {
                case F32 -> "copy_strided_f32_f16";
                case F16 -> "copy_strided_f16_f16";
                case BF16 -> "copy_strided_bf16_f16";
                default -> throw new IllegalStateException("upload of " + src.dtype());
            };
            copyStrided(kernel, Layouts.address(out), raw, walk, strides, 0, n);
        } finally {
            arena.release(raw, rawBytes);
        }
        return out;
    }

    @Override
    public Tensor download(Tensor t) {
        if (t.device() == Device.CPU) {  // a host tensor: a contiguous f32 copy, like the CPU backend gives
            Tensor c = t.to(DType.F32);
            if (c != t) return c;
            Tensor copy = Tensor.allocate(DType.F32, t.shape());
            MemorySegment.copy(t.segment(), 0, copy.segment(), 0, t.byteSize());
            return copy;
        }
        requireF16(t, "download");
        enter();
        long[] shape = t.shape();
        Tensor host = Tensor.allocate(DType.F32, shape);
        long n = t.numel();
        if (n == 0) return host;
        long bytes = n * 4;
        long tmp = arena.allocateScratch(bytes);
        try {
            copyStrided("copy_strided_f16_f32", tmp, t.storage().address(), shape, t.strides(), t.offset(), n);
            staging.toHost(tmp, host.segment());
        } finally {
            arena.release(tmp, bytes);
        }
        return host;
    }

    // ---- products -----------------------------------------------------------------------------------------------

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        requireF16(x, "linear x");
        requireF16(weight, "linear weight");
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
                launch("add_channels_f16", n, KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(y))
                        .ptr(Layouts.address(br)).i64(0).i64(Math.max(1, n)).i32((int) out).i64(n));
            }
            return y;
        }
        long m = x.numel() / in;
        blas.linear(Layouts.address(xr), Layouts.address(wr), br == null ? 0 : Layouts.address(br), Layouts.address(y), m, out, in);
        return y;
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        requireF16(x, "conv2d x");
        requireF16(weight, "conv2d weight");
        if (x.rank() != 4 || weight.rank() != 4 || weight.dim(1) != x.dim(1) || stride < 1 || padding < 0) {
            throw new IllegalArgumentException("conv2d: x " + x + ", weight " + weight + ", stride " + stride + ", padding " + padding);
        }
        enter();
        Tensor xc = channelsLast(x), wc = channelsLast(weight);
        Cudnn.Conv p = new Cudnn.Conv((int) x.dim(0), (int) x.dim(1), (int) x.dim(2), (int) x.dim(3),
                (int) weight.dim(0), (int) weight.dim(2), (int) weight.dim(3), stride, padding);
        if (p.outH() <= 0 || p.outW() <= 0) throw new IllegalArgumentException("conv2d output is empty for " + p);
        Tensor y = newChannelsLast(new long[] {p.n(), p.o(), p.outH(), p.outW()});  // [N, O, Ho, Wo]
        dnn.conv2dNhwc(p, Layouts.address(xc), Layouts.address(wc), Layouts.address(y));
        if (bias != null) {
            requireF16(bias, "conv2d bias");
            if (bias.rank() != 1 || bias.dim(0) != p.o()) throw new IllegalArgumentException("conv2d bias " + bias);
            Tensor b = rowMajor(bias);
            long n = y.numel();
            launch("add_channels_f16", n, KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(y))
                    .ptr(Layouts.address(b)).i64(0).i64(Math.max(1, n)).i32(p.o()).i64(n));
        }
        return y;
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
        requireF16(q, "attention q");
        requireF16(k, "attention k");
        requireF16(v, "attention v");
        if (q.rank() != 3 || k.rank() != 3 || v.rank() != 3 || k.dim(0) != q.dim(0) || v.dim(0) != q.dim(0)
                || k.dim(1) != v.dim(1) || k.dim(2) != q.dim(2) || v.dim(2) != q.dim(2) || heads < 1 || q.dim(2) % heads != 0) {
            throw new IllegalArgumentException("attention: q " + q + ", k " + k + ", v " + v + ", heads " + heads);
        }
        enter();
        int b = (int) q.dim(0), lq = (int) q.dim(1), lk = (int) k.dim(1), e = (int) q.dim(2), d = e / heads;
        Tensor out = newRowMajor(new long[] {b, lq, e});  // [B, Lq, H*d]
        if (out.numel() == 0) return out;
        if (lk == 0) return fill0(out);
        float scale = (float) (1.0 / Math.sqrt(d));
        if (Arrays.stream(FLASH_HEAD_DIMS).anyMatch(x -> x == d)) {
            Tensor qa = attentionOperand(q), ka = attentionOperand(k), va = attentionOperand(v);
            int bc = d >= 128 ? 32 : 64;
            int sharedBytes = (64 + 2 * bc) * ((d + 15) / 16 * 16 + 8) * 2;
            kernels.function("attention_f16_d" + d).launch(stream, (lq + 63) / 64, heads, b, 128, 1, 1, sharedBytes,
                    KernelArgs.of().ptr(Layouts.address(out)).ptr(Layouts.address(qa)).ptr(Layouts.address(ka))
                            .ptr(Layouts.address(va)).i32(heads).i32(lq).i32(lk).i64(qa.strides()[1])
                            .i64(ka.strides()[1]).i64(va.strides()[1]).i64(e).f32(scale).i32(causal ? 1 : 0));
        } else {
            attentionByGemm(rowMajor(q), rowMajor(k), rowMajor(v), out, b, lq, lk, heads, d, scale, causal);
        }
        return out;
    }

    /** A view the flash kernel can read: unit stride in the last dim, dense rows per batch, 16-byte aligned rows. */
    private Tensor attentionOperand(Tensor t) {
        long[] st = t.strides();
        boolean ok = st[2] == 1 && (t.dim(0) == 1 || st[0] == t.dim(1) * st[1]) && st[1] % 8 == 0 && Layouts.address(t) % 16 == 0;
        return ok ? t : materializeRowMajor(t);
    }

    /**
     * Attention for head dims without a flash kernel (the VAE's single 512-wide head): per head, S = Q Kᵀ in f32 by
     * cuBLASLt, the softmax kernel, then O = P V, in chunks of query rows that bound the score buffer.
     */
    private void attentionByGemm(Tensor q, Tensor k, Tensor v, Tensor out, int b, int lq, int lk, int heads, int d,
                                 float scale, boolean causal) {
        long e = (long) heads * d;
        int chunk = (int) Math.max(1, Math.min(lq, FALLBACK_SCORE_BYTES / (6L * b * lk)));
        long sBytes = 4L * b * chunk * lk, pBytes = 2L * b * chunk * lk;
        long s = arena.allocateScratch(sBytes), p = arena.allocateScratch(pBytes);
        try {
            for (int h = 0; h < heads; h++) {
                for (int q0 = 0; q0 < lq; q0 += chunk) {
                    int rows = Math.min(chunk, lq - q0);
                    long qAddr = Layouts.address(q) + 2 * ((long) q0 * e + (long) h * d);
                    long kAddr = Layouts.address(k) + 2L * h * d;
                    long vAddr = Layouts.address(v) + 2L * h * d;
                    long oAddr = Layouts.address(out) + 2 * ((long) q0 * e + (long) h * d);
                    // Sᵀ (col-major Lk × rows) = op_T(K as d × Lk) · (Q as d × rows): row-major S [rows, Lk]
                    blas.matmul(true, new CublasLt.Matrix(kAddr, CublasLt.Type.F16, d, lk, e, b, (long) lk * e),
                            false, new CublasLt.Matrix(qAddr, CublasLt.Type.F16, d, rows, e, b, (long) lq * e),
                            new CublasLt.Matrix(s, CublasLt.Type.F32, lk, rows, lk, b, (long) rows * lk), 0, 1.0f, 0.0f);
                    kernels.function("softmax_rows_f32_f16").launch(stream, b * rows, rowBlock(lk), 0, KernelArgs.of()
                            .ptr(p).ptr(s).i32(lk).i32(rows).i32(q0).f32(scale).i32(causal ? 1 : 0));
                    // Oᵀ (col-major d × rows) = (V as d × Lk) · (P as Lk × rows)
                    blas.matmul(false, new CublasLt.Matrix(vAddr, CublasLt.Type.F16, d, lk, e, b, (long) lk * e),
                            false, new CublasLt.Matrix(p, CublasLt.Type.F16, lk, rows, lk, b, (long) rows * lk),
                            new CublasLt.Matrix(oAddr, CublasLt.Type.F16, d, rows, e, b, (long) lq * e), 0, 1.0f, 0.0f);
                }
            }
        } finally {
            arena.release(s, sBytes);
            arena.release(p, pBytes);
        }
    }

    // ---- normalisation ------------------------------------------------------------------------------------------

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        requireF16(x, "groupNorm x");
        if (x.rank() < 2 || groups < 1 || x.dim(1) % groups != 0 || gamma.numel() != x.dim(1) || beta.numel() != x.dim(1)) {
            throw new IllegalArgumentException("groupNorm: x " + x + ", groups " + groups + ", gamma " + gamma + ", beta " + beta);
        }
        enter();
        long n = x.dim(0), c = x.dim(1);
        Tensor xin, y;
        long spatial, strideC, strideS;
        if (Layouts.isChannelsLast(x)) {
            xin = x;
            spatial = x.dim(2) * x.dim(3);
            strideC = 1;
            strideS = c;
            y = newChannelsLast(x.shape());
        } else {
            xin = rowMajor(x);
            spatial = c == 0 || n == 0 ? 0 : x.numel() / (n * c);
            strideC = spatial;
            strideS = 1;
            y = newRowMajor(x.shape());
        }
        long total = x.numel();
        if (total == 0) return y;
        Tensor g = rowMajor(gamma), bt = rowMajor(beta);
        int ng = (int) (n * groups);
        long count = (c / groups) * spatial;
        int splits = (int) Math.max(1, Math.min(64, Math.min((count + 8191) / 8192, (4L * maxGrid / 32 + ng - 1) / ng)));
        long partialBytes = 12L * ng * splits, statsBytes = 8L * ng;
        long partial = arena.allocateScratch(partialBytes), stats = arena.allocateScratch(statsBytes);
        try {
            kernels.function("groupnorm_stats_f16").launch(stream, ng, splits, 1, rowBlock((count + splits - 1) / splits), 1, 1, 0, KernelArgs.of()
                    .ptr(partial).ptr(Layouts.address(xin)).i32((int) c).i64(spatial).i32(groups).i64(strideC)
                    .i64(strideS).i32(splits));
            kernels.function("groupnorm_finalize_f32").launch(stream, (ng + 127) / 128, 128, 0, KernelArgs.of()
                    .ptr(stats).ptr(partial).i32(ng).i32(splits).f32(eps));
            launch("groupnorm_apply_f16", total, KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xin))
                    .ptr(stats).ptr(Layouts.address(g)).ptr(Layouts.address(bt)).ptr(0).i32((int) c).i64(spatial)
                    .i32(groups).i64(strideC).i32(silu ? 1 : 0).i64(total));
        } finally {
            arena.release(partial, partialBytes);
            arena.release(stats, statsBytes);
        }
        return y;
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        requireF16(x, "layerNorm x");
        if (x.rank() < 1 || gamma.numel() != x.dim(-1) || beta.numel() != x.dim(-1)) {
            throw new IllegalArgumentException("layerNorm: x " + x + ", gamma " + gamma + ", beta " + beta);
        }
        long d = x.dim(-1);
        if (d * 4 > 48 * 1024) throw new IllegalArgumentException("layerNorm over " + d + " > 12288 features");
        enter();
        Tensor xr = rowMajor(x), g = rowMajor(gamma), bt = rowMajor(beta);
        Tensor y = newRowMajor(x.shape());
        if (x.numel() == 0) return y;
        long rows = x.numel() / d;
        kernels.function("layernorm_f16").launch(stream, Math.toIntExact(rows), rowBlock(d), (int) (d * 4), KernelArgs.of()
                .ptr(Layouts.address(y)).ptr(Layouts.address(xr)).ptr(Layouts.address(g)).ptr(Layouts.address(bt))
                .i32((int) d).f32(eps));
        return y;
    }

    // ---- elementwise --------------------------------------------------------------------------------------------

    @Override
    public Tensor silu(Tensor x) { return unary("silu_f16", x); }

    @Override
    public Tensor gelu(Tensor x) { return unary("gelu_f16", x); }

    @Override
    public Tensor quickGelu(Tensor x) { return unary("quick_gelu_f16", x); }

    @Override
    public Tensor scale(Tensor x, float s) {
        requireF16(x, "scale");
        enter();
        Tensor xd = dense(x);
        Tensor y = newLike(xd);
        launch("scale_f16", y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xd)).f32(s).i64(y.numel()));
        return y;
    }

    private Tensor unary(String kernel, Tensor x) {
        requireF16(x, kernel);
        enter();
        Tensor xd = dense(x);
        Tensor y = newLike(xd);
        launch(kernel, y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xd)).i64(y.numel()));
        return y;
    }

    @Override
    public Tensor geglu(Tensor x) {
        requireF16(x, "geglu");
        if (x.rank() < 1 || x.dim(-1) % 2 != 0) throw new IllegalArgumentException("geglu of " + x);
        enter();
        Tensor xr = rowMajor(x);
        long f = x.dim(-1) / 2;
        long[] shape = x.shape();
        shape[shape.length - 1] = f;
        Tensor y = newRowMajor(shape);  // [..., F]
        long rows = f == 0 ? 0 : y.numel() / f;
        launch("geglu_f16", y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xr)).i64(rows).i32((int) f));
        return y;
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        requireF16(a, "add a");
        requireF16(b, "add b");
        if (!a.sameShape(b)) throw new IllegalArgumentException("add: " + a + " + " + b);
        enter();
        Tensor ad = dense(a);
        Tensor bd = Layouts.isChannelsLast(ad) ? channelsLast(b) : rowMajor(b);
        if (!Layouts.isChannelsLast(ad)) ad = rowMajor(ad);
        Tensor y = newLike(ad);
        launch("add_f16", y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(ad))
                .ptr(Layouts.address(bd)).i64(y.numel()));
        return y;
    }

    @Override
    public Tensor addChannelwise(Tensor x, Tensor v) {
        requireF16(x, "addChannelwise x");
        requireF16(v, "addChannelwise v");
        if (x.rank() != 4 || v.rank() != 2 || v.dim(0) != x.dim(0) || v.dim(1) != x.dim(1)) {
            throw new IllegalArgumentException("addChannelwise: x " + x + ", v " + v);
        }
        enter();
        Tensor xc = channelsLast(x), vr = rowMajor(v);
        Tensor y = newChannelsLast(x.shape());
        long c = x.dim(1), n = y.numel();
        launch("add_channels_f16", n, KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xc))
                .ptr(Layouts.address(vr)).i64(c).i64(Math.max(1, x.dim(2) * x.dim(3) * c)).i32((int) c).i64(n));
        return y;
    }

    // ---- spatial and layout -------------------------------------------------------------------------------------

    @Override
    public Tensor pad2d(Tensor x, int left, int right, int top, int bottom) {
        requireF16(x, "pad2d");
        if (x.rank() != 4 || left < 0 || right < 0 || top < 0 || bottom < 0) {
            throw new IllegalArgumentException("pad2d of " + x + " by " + left + ", " + right + ", " + top + ", " + bottom);
        }
        enter();
        Tensor xc = channelsLast(x);
        long[] s = x.shape();
        Tensor y = newChannelsLast(new long[] {s[0], s[1], s[2] + top + bottom, s[3] + left + right});
        launch("pad2d_nhwc_f16", y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xc))
                .i32((int) s[0]).i32((int) s[2]).i32((int) s[3]).i32((int) s[1]).i32(left).i32(right).i32(top).i32(bottom));
        return y;
    }

    @Override
    public Tensor upsampleNearest2x(Tensor x) {
        requireF16(x, "upsampleNearest2x");
        if (x.rank() != 4) throw new IllegalArgumentException("upsampleNearest2x of " + x);
        enter();
        Tensor xc = channelsLast(x);
        long[] s = x.shape();
        Tensor y = newChannelsLast(new long[] {s[0], s[1], 2 * s[2], 2 * s[3]});
        launch("upsample_nearest2x_nhwc_f16", y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xc))
                .i32((int) s[0]).i32((int) s[2]).i32((int) s[3]).i32((int) s[1]));
        return y;
    }

    @Override
    public Tensor concatChannels(Tensor a, Tensor b) {
        requireF16(a, "concatChannels a");
        requireF16(b, "concatChannels b");
        if (a.rank() != 4 || b.rank() != 4 || a.dim(0) != b.dim(0) || a.dim(2) != b.dim(2) || a.dim(3) != b.dim(3)) {
            throw new IllegalArgumentException("concatChannels: " + a + " and " + b);
        }
        enter();
        Tensor ac = channelsLast(a), bc = channelsLast(b);
        long ca = a.dim(1), cb = b.dim(1);
        Tensor y = newChannelsLast(new long[] {a.dim(0), ca + cb, a.dim(2), a.dim(3)});
        long pixels = a.dim(0) * a.dim(2) * a.dim(3);
        launch("concat_channels_nhwc_f16", y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(ac))
                .ptr(Layouts.address(bc)).i64(pixels).i32((int) ca).i32((int) cb));
        return y;
    }

    @Override
    public Tensor toTokens(Tensor x) {
        requireF16(x, "toTokens");
        if (x.rank() != 4) throw new IllegalArgumentException("toTokens of " + x);
        enter();
        Tensor xc = channelsLast(x);
        long n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
        // the channels-last buffer [N, H, W, C] is already [N, H*W, C]: a view, no copy
        return Tensor.of(DType.F16, Device.CUDA, denseBytes(xc), n, hw, c);
    }

    @Override
    public Tensor fromTokens(Tensor x, long height, long width) {
        requireF16(x, "fromTokens");
        if (x.rank() != 3 || x.dim(1) != height * width) {
            throw new IllegalArgumentException("fromTokens of " + x + " to " + height + "x" + width);
        }
        enter();
        Tensor xr = rowMajor(x);
        // [N, H*W, C] row-major is the channels-last buffer of [N, C, H, W]: a view, no copy
        return Tensor.of(DType.F16, Device.CUDA, denseBytes(xr), x.dim(0), height, width, x.dim(2)).permute(0, 3, 1, 2);
    }

    @Override
    public Tensor embedding(Tensor table, Tensor ids) {
        requireF16(table, "embedding table");
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
        Tensor tr = rowMajor(table);
        long[] shape = Arrays.copyOf(ids.shape(), ids.rank() + 1);
        shape[ids.rank()] = d;
        Tensor y = newRowMajor(shape);  // [..., D]
        if (idv.length == 0 || d == 0) return y;
        long bytes = 4L * idv.length;
        long dev = arena.allocateScratch(bytes);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(ValueLayout.JAVA_INT, idv.length);
            for (int i = 0; i < idv.length; i++) host.setAtIndex(ValueLayout.JAVA_INT, i, (int) idv[i]);
            staging.toDevice(host, dev);
            launch("embedding_f16", y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(tr))
                    .ptr(dev).i64(idv.length).i32((int) d));
        } finally {
            arena.release(dev, bytes);
        }
        return y;
    }

    /**
     * diffusers' {@code get_timestep_embedding} on the GPU: [B] timesteps → [B, dim] sinusoidal embedding
     * (f32 arithmetic, f16 result). Not a {@link Backend} op: the UNet may use it instead of a host computation.
     */
    public Tensor timestepEmbedding(double[] timesteps, int dim, boolean flipSinToCos, float downscaleFreqShift,
                                    float scale, float maxPeriod) {
        enter();
        int b = timesteps.length;
        Tensor y = newRowMajor(new long[] {b, dim});  // [B, dim]
        if (b == 0 || dim == 0) return y;
        long bytes = 4L * b;
        long dev = arena.allocateScratch(bytes);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(ValueLayout.JAVA_FLOAT, b);
            for (int i = 0; i < b; i++) host.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) timesteps[i]);
            staging.toDevice(host, dev);
            launch("timestep_embedding_f16", y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(dev).i32(b).i32(dim)
                    .i32(flipSinToCos ? 1 : 0).f32(downscaleFreqShift).f32(maxPeriod).f32(scale));
        } finally {
            arena.release(dev, bytes);
        }
        return y;
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    private void enter() {
        if (closed) throw new IllegalStateException("CUDA backend is closed");
        context.makeCurrent();
    }

    private static void requireF16(Tensor t, String what) {
        if (t == null) throw new IllegalArgumentException(what + ": null tensor");
        if (t.device() != Device.CUDA || t.dtype() != DType.F16) {
            throw new IllegalArgumentException(what + ": " + t + " is not a CUDA tensor of this backend (upload it first)");
        }
    }

    /** One launch of a grid-stride elementwise kernel over {@code n} elements. */
    private void launch(String kernel, long n, KernelArgs args) {
        if (n == 0) return;
        int grid = (int) Math.min((n + BLOCK - 1) / BLOCK, maxGrid);
        kernels.function(kernel).launch(stream, grid, BLOCK, 0, args);
    }

    private void copyStrided(String kernel, long dst, long srcBase, long[] shape, long[] strides, long offset, long n) {
        try (Arena a = Arena.ofConfined()) {
            launch(kernel, n, KernelArgs.of().ptr(dst).ptr(srcBase).struct(Layouts.strided(a, shape, strides, offset)).i64(n));
        }
    }

    private Tensor newRowMajor(long[] shape) {
        return Tensor.of(DType.F16, Device.CUDA, arena.allocate(Tensor.numel(shape) * 2), shape);
    }

    /** A channels-last tensor of logical shape [N, C, H, W]. */
    private Tensor newChannelsLast(long[] nchw) {
        long[] nhwc = Layouts.nhwc(nchw);
        return Tensor.of(DType.F16, Device.CUDA, arena.allocate(Tensor.numel(nhwc) * 2), nhwc).permute(0, 3, 1, 2);
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
    private Tensor rowMajor(Tensor t) {
        return t.isContiguous() ? t : materializeRowMajor(t);
    }

    private Tensor materializeRowMajor(Tensor t) {
        Tensor y = newRowMajor(t.shape());
        copyStrided("copy_strided_f16_f16", Layouts.address(y), t.storage().address(), t.shape(), t.strides(), t.offset(), t.numel());
        return y;
    }

    /** {@code t} when channels-last, else a channels-last copy (rank 4). */
    private Tensor channelsLast(Tensor t) {
        if (Layouts.isChannelsLast(t)) return t;
        long[] shape = t.shape();
        Tensor y = newChannelsLast(shape);
        long[] st = t.strides();
        copyStrided("copy_strided_f16_f16", Layouts.address(y), t.storage().address(), Layouts.nhwc(shape),
                new long[] {st[0], st[2], st[3], st[1]}, t.offset(), t.numel());
        return y;
    }

    /** The bytes of a dense (row-major or channels-last) tensor, from its first element. */
    private static MemorySegment denseBytes(Tensor t) {
        return t.storage().asSlice(t.offset() * 2, t.numel() * 2);
    }

    private Tensor fill0(Tensor y) {
        if (y.numel() > 0) {
            Check.cu(cuda_h.cuMemsetD8Async(Layouts.address(y), (byte) 0, y.numel() * 2,
                    stream.handle()), "cuMemsetD8Async");
        }
        return y;
    }

    @Override
    public void close() {
        if (closed) return;
        context.makeCurrent();
        try {
            stream.synchronize();
        } finally {
            closed = true;
            dnn.close();
            blas.close();
            staging.close();
            kernels.close();
            arena.close();
            stream.close();
            context.close();
        }
    }
}
