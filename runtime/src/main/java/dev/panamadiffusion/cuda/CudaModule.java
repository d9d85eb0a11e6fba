package dev.panamadiffusion.cuda;

import dev.panamadiffusion.bindings.cuda.cuda_h;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * A module loaded with cuModuleLoadData, by default the kernels fatbin that the kernels module embeds
 * ({@link #FATBIN_RESOURCE}, built from kernels/src/*.cu by kernels/build-kernels.sh). Functions are looked up by
 * name once and cached.
 */
public final class CudaModule implements AutoCloseable {
    /** Class-path resource holding the fatbin of our kernels. */
    public static final String FATBIN_RESOURCE = "/dev/panamadiffusion/kernels/kernels.fatbin";

    private final MemorySegment handle;
    private final Map<String, CudaFunction> functions = new HashMap<>();
    private boolean closed;

    private CudaModule(MemorySegment handle) { this.handle = handle; }

    /** Whether the kernels jar carries the fatbin (it does not when built without nvcc). */
    public static boolean hasKernelImage() { return CudaModule.class.getResource(FATBIN_RESOURCE) != null; }

    /** Loads our kernels into the current context. */
    public static CudaModule loadKernels() {
        try (InputStream in = CudaModule.class.getResourceAsStream(FATBIN_RESOURCE)) {
            if (in == null) {
                throw new CudaException("no " + FATBIN_RESOURCE + " on the class path: the kernels module was built"
                        + " without nvcc (see kernels/build-kernels.sh)");
            }
            return load(in.readAllBytes());
        } catch (IOException e) {
            throw new CudaException("cannot read " + FATBIN_RESOURCE + ": " + e.getMessage(), e);
        }
    }

    /** Loads a cubin, PTX (NUL-terminated) or fatbin image into the current context. */
    public static CudaModule load(byte[] image) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment img = a.allocate(image.length + 1L, 16);
            MemorySegment.copy(image, 0, img, ValueLayout.JAVA_BYTE, 0, image.length);
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            Check.cu(cuda_h.cuModuleLoadData(p, img), "cuModuleLoadData");
            return new CudaModule(p.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** The kernel {@code name} (an extern "C" name, e.g. {@code silu_f16}). */
    public synchronized CudaFunction function(String name) {
        if (closed) throw new IllegalStateException("module is closed");
        CudaFunction f = functions.get(name);
        if (f == null) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ValueLayout.ADDRESS);
                Check.cu(cuda_h.cuModuleGetFunction(p, handle, a.allocateFrom(name)), "cuModuleGetFunction(" + name + ")");
                f = new CudaFunction(name, p.get(ValueLayout.ADDRESS, 0));
            }
            functions.put(name, f);
        }
        return f;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        Check.cu(cuda_h.cuModuleUnload(handle), "cuModuleUnload");
    }
}
