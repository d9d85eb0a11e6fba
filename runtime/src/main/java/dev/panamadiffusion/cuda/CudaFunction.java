package dev.panamadiffusion.cuda;

import dev.panamadiffusion.bindings.cuda.cuda_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A kernel of a loaded {@link CudaModule}, launched on a stream with {@link KernelArgs}, passed as one packed parameter
 * buffer ({@code extra}) so that the driver sees its size.
 */
public final class CudaFunction {
    private final String name;
    private final MemorySegment handle;

    CudaFunction(String name, MemorySegment handle) {
        this.name = name;
        this.handle = handle;
    }

    public String name() { return name; }

    /** Launches a 1-D block grid (blocks of {@code block} threads). */
    public void launch(CudaStream stream, int grid, int block, int sharedBytes, KernelArgs args) {
        launch(stream, grid, 1, 1, block, 1, 1, sharedBytes, args);
    }

    /** Launches with explicit grid and block dimensions. */
    public void launch(CudaStream stream, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
                       int sharedBytes, KernelArgs args) {
        if (gridX <= 0 || gridY <= 0 || gridZ <= 0) return;  // nothing to do (empty tensor)
        try (Arena a = Arena.ofConfined()) {
            int rc = cuda_h.cuLaunchKernel(handle, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes,
                    stream.handle(), MemorySegment.NULL, args.packExtra(a));
            if (rc != cuda_h.CUDA_SUCCESS()) {
                throw new CudaException("cuLaunchKernel(" + name + ")", rc, Check.cuErrorName(rc),
                        "grid " + gridX + "x" + gridY + "x" + gridZ + ", block " + blockX + "x" + blockY + "x" + blockZ
                                + ", " + sharedBytes + " B shared");
            }
        }
    }

    /** Raises the dynamic shared memory this kernel may use above the 48 KiB default. */
    public void setMaxDynamicSharedBytes(int bytes) {
        Check.cu(cuda_h.cuFuncSetAttribute(handle, cuda_h.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES(), bytes),
                "cuFuncSetAttribute(" + name + ")");
    }
}
