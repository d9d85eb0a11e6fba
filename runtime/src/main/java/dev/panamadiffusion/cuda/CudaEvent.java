package dev.panamadiffusion.cuda;

import dev.panamadiffusion.bindings.cuda.cuda_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A CUDA event (with timing) of the current context: ordering between host and stream, and GPU-side timing. */
public final class CudaEvent implements AutoCloseable {
    private final MemorySegment handle;
    private boolean closed;

    private CudaEvent(MemorySegment handle) { this.handle = handle; }

    public static CudaEvent create() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            Check.cu(cuda_h.cuEventCreate(p, cuda_h.CU_EVENT_DEFAULT()), "cuEventCreate");
            return new CudaEvent(p.get(ValueLayout.ADDRESS, 0));
        }
    }

    public MemorySegment handle() { return handle; }

    /** Records this event at the current end of {@code stream}'s queue. */
    public void record(CudaStream stream) { Check.cu(cuda_h.cuEventRecord(handle, stream.handle()), "cuEventRecord"); }

    /** Blocks until the work before the last {@link #record} has finished. */
    public void synchronize() { Check.cu(cuda_h.cuEventSynchronize(handle), "cuEventSynchronize"); }

    /** Milliseconds of GPU time between two recorded (and completed) events. */
    public static float elapsedMillis(CudaEvent start, CudaEvent end) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ms = a.allocate(ValueLayout.JAVA_FLOAT);
            Check.cu(cuda_h.cuEventElapsedTime_v2(ms, start.handle, end.handle), "cuEventElapsedTime_v2");
            return ms.get(ValueLayout.JAVA_FLOAT, 0);
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Check.cu(cuda_h.cuEventDestroy_v2(handle), "cuEventDestroy_v2");
    }
}
