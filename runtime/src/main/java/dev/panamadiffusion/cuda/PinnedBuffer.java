package dev.panamadiffusion.cuda;

import dev.panamadiffusion.bindings.cuda.cuda_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Page-locked host memory (cuMemHostAlloc) for asynchronous copies; freed by {@link #close()}. */
public final class PinnedBuffer implements AutoCloseable {
    private final MemorySegment raw;
    private final MemorySegment segment;
    private boolean closed;

    @SuppressWarnings("restricted") // device/driver addresses: sizes come from the driver
    private PinnedBuffer(MemorySegment raw, long bytes) {
        this.raw = raw;
        this.segment = raw.reinterpret(bytes);
    }

    public static PinnedBuffer allocate(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            Check.cu(cuda_h.cuMemHostAlloc(p, bytes, cuda_h.CU_MEMHOSTALLOC_PORTABLE()), "cuMemHostAlloc");
            return new PinnedBuffer(p.get(ValueLayout.ADDRESS, 0), bytes);
        }
    }

    /** The buffer's bytes (invalid after {@link #close()}). */
    public MemorySegment segment() {
        if (closed) throw new IllegalStateException("pinned buffer is closed");
        return segment;
    }

    public long byteSize() { return segment.byteSize(); }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Check.cu(cuda_h.cuMemFreeHost(raw), "cuMemFreeHost");
    }
}
