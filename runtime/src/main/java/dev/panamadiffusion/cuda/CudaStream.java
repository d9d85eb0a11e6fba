package dev.panamadiffusion.cuda;

import dev.panamadiffusion.bindings.cuda.cuda_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A non-blocking CUDA stream of the current context. */
public final class CudaStream implements AutoCloseable {
    private final MemorySegment handle;
    private boolean closed;

    private CudaStream(MemorySegment handle) { this.handle = handle; }

    public static CudaStream create() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            Check.cu(cuda_h.cuStreamCreate(p, cuda_h.CU_STREAM_NON_BLOCKING()), "cuStreamCreate");
            return new CudaStream(p.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** The CUstream (also a cudaStream_t for cuBLASLt and cuDNN). */
    public MemorySegment handle() { return handle; }

    /** Blocks until all work queued on this stream has finished. */
    public void synchronize() { Check.cu(cuda_h.cuStreamSynchronize(handle), "cuStreamSynchronize"); }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Check.cu(cuda_h.cuStreamDestroy_v2(handle), "cuStreamDestroy_v2");
    }
}
