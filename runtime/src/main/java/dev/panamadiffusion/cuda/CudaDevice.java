package dev.panamadiffusion.cuda;

import java.lang.foreign.Arena;

/**
 * What every {@link CudaBackend} on one GPU shares, whatever its element type: the context, the one stream all work is
 * queued on (so an f16 backend and its f32 view never race), the device arena, our kernels, the staging buffers and
 * the cuBLASLt and cuDNN handles. Made and closed by the f16 backend that owns it ({@link CudaBackend#CudaBackend(long)});
 * its views ({@link CudaBackend#float32()}) only borrow it. Not thread-safe, as the backends.
 */
final class CudaDevice implements AutoCloseable {
    static final int BLOCK = 256;
    private static final long STAGING_CHUNK = 8L << 20;
    private static final long CUBLAS_WORKSPACE = 32L << 20;
    private static final long CUDNN_MAX_WORKSPACE = 512L << 20;

    final CudaStatus status;
    final CudaContext context;
    final CudaStream stream;
    final DeviceArena arena;
    final CudaModule kernels;
    final Staging staging;
    final CublasLt blas;
    final Cudnn dnn;
    final int maxGrid;
    private boolean closed;

    /** Probes CUDA, opens device 0 and takes an arena of {@code arenaBytes} (≤ 0: the property or the default). */
    CudaDevice(long arenaBytes) {
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

    static long defaultArenaBytes(CudaContext context) {
        String p = System.getProperty(CudaBackend.ARENA_PROPERTY);
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

    /**
     * Threads for a kernel that reduces one row of {@code n} values per block: whole warps (the block reductions
     * shuffle over full warps), no more than the row needs, at most {@link #BLOCK}.
     */
    static int rowBlock(long n) {
        return (int) Math.min(BLOCK, Math.max(32, (n + 31) / 32 * 32));
    }

    boolean closed() { return closed; }

    /** Makes the context current on this thread; throws once closed. */
    void enter() {
        if (closed) throw new IllegalStateException("CUDA backend is closed");
        context.makeCurrent();
    }

    /** One launch of a grid-stride elementwise kernel over {@code n} elements. */
    void launch(String kernel, long n, KernelArgs args) {
        if (n == 0) return;
        int grid = (int) Math.min((n + BLOCK - 1) / BLOCK, maxGrid);
        kernels.function(kernel).launch(stream, grid, BLOCK, 0, args);
    }

    /** {@code kernel} (a copy_strided_<src>_<dst>) over the strided view {@code shape}/{@code strides} of {@code srcBase}. */
    void copyStrided(String kernel, long dst, long srcBase, long[] shape, long[] strides, long offset, long n) {
        try (Arena a = Arena.ofConfined()) {
            launch(kernel, n, KernelArgs.of().ptr(dst).ptr(srcBase).struct(Layouts.strided(a, shape, strides, offset)).i64(n));
        }
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
