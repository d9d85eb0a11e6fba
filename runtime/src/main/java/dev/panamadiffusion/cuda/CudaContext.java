package dev.panamadiffusion.cuda;

import dev.panamadiffusion.bindings.cuda.cuda_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The primary context of one device (retained on open, released on close), made current on the calling thread by
 * {@link #makeCurrent()}. The driver must have been initialised ({@link CudaProbe#probe()} does that).
 */
public final class CudaContext implements AutoCloseable {
    private final int device;
    private final MemorySegment context;
    private final int multiprocessors;
    private boolean closed;

    private CudaContext(int device, MemorySegment context, int multiprocessors) {
        this.device = device;
        this.context = context;
        this.multiprocessors = multiprocessors;
    }

    /** Retains device {@code ordinal}'s primary context and makes it current on this thread. */
    public static CudaContext open(int ordinal) {
        CudaStatus status = CudaProbe.probe();
        if (!status.available()) throw new CudaException(status.message());
        try (Arena a = Arena.ofConfined()) {
            MemorySegment i = a.allocate(ValueLayout.JAVA_INT);
            Check.cu(cuda_h.cuDeviceGet(i, ordinal), "cuDeviceGet");
            int dev = i.get(ValueLayout.JAVA_INT, 0);
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            Check.cu(cuda_h.cuDevicePrimaryCtxRetain(p, dev), "cuDevicePrimaryCtxRetain");
            MemorySegment ctx = p.get(ValueLayout.ADDRESS, 0);
            Check.cu(cuda_h.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
            Check.cu(cuda_h.cuDeviceGetAttribute(i, cuda_h.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT(), dev), "cuDeviceGetAttribute");
            return new CudaContext(dev, ctx, i.get(ValueLayout.JAVA_INT, 0));
        }
    }

    /** Makes this context current on the calling thread (cheap; every facade entry point calls it). */
    public void makeCurrent() {
        if (closed) throw new IllegalStateException("CUDA context of device " + device + " is closed");
        Check.cu(cuda_h.cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    public int device() { return device; }

    /** Streaming multiprocessors of the device (132 on an H100 SXM / H200). */
    public int multiprocessors() { return multiprocessors; }

    /** {free, total} device memory in bytes. */
    public long[] memoryInfo() {
        makeCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment free = a.allocate(ValueLayout.JAVA_LONG);
            MemorySegment total = a.allocate(ValueLayout.JAVA_LONG);
            Check.cu(cuda_h.cuMemGetInfo_v2(free, total), "cuMemGetInfo_v2");
            return new long[] {free.get(ValueLayout.JAVA_LONG, 0), total.get(ValueLayout.JAVA_LONG, 0)};
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Check.cu(cuda_h.cuDevicePrimaryCtxRelease_v2(device), "cuDevicePrimaryCtxRelease_v2");
    }
}
