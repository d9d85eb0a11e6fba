package dev.panamadiffusion.cuda;

import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Host ↔ device copies of {@link CudaBackend}: through the pinned staging buffers, with one strided copy kernel on
 * the device for every dtype conversion and layout change (NCHW host images ↔ channels-last device images); and the
 * two ops whose inputs come from the host (the embedding's ids, the timesteps). Arguments are checked by the backend.
 */
final class CudaTransfers {
    private CudaTransfers() {}

    /**
     * A host tensor (f64, f32, f16 or bf16, any strides) as a new tensor of {@code be}'s element type: rank 4
     * channels-last, others row-major. Bytes already in that type and order are staged straight into place.
     */
    static Tensor toDevice(CudaBackend be, CudaDevice dev, Tensor host) {
        Tensor src = host.dtype() == DType.F64 ? host.to(DType.F32) : host.contiguous();
        long[] shape = src.shape();
        long n = src.numel();
        boolean image = shape.length == 4;
        Tensor out = image ? be.newChannelsLast(shape) : be.newRowMajor(shape);
        if (n == 0) return out;
        if (src.dtype() == be.dtype() && !image) {
            dev.staging.toDevice(src.segment(), Layouts.address(out));
            return out;
        }
        long rawBytes = src.byteSize();
        long raw = dev.arena.allocateScratch(rawBytes);
        try {
            dev.staging.toDevice(src.segment(), raw);
            long[] walk = image ? Layouts.nhwc(shape) : new long[] {n};
            long[] strides = image ? Layouts.nchwStridesForNhwcWalk(shape) : new long[] {1};
            dev.copyStrided(be.copyKernel(src.dtype()), Layouts.address(out), raw, walk, strides, 0, n);
        } finally {
            dev.arena.release(raw, rawBytes);
        }
        return out;
    }

    /** A device tensor (f16 or f32, any view) as a contiguous host f32 tensor; waits for the queued work. */
    static Tensor toHost(CudaDevice dev, Tensor t) {
        long[] shape = t.shape();
        Tensor host = Tensor.allocate(DType.F32, shape);
        long n = t.numel();
        if (n == 0) return host;
        long bytes = n * 4;
        long tmp = dev.arena.allocateScratch(bytes);
        try {
            dev.copyStrided("copy_strided_" + CudaBackend.dtypeSuffix(t.dtype()) + "_f32", tmp, t.storage().address(), shape,
                    t.strides(), t.offset(), n);
            dev.staging.toHost(tmp, host.segment());
        } finally {
            dev.arena.release(tmp, bytes);
        }
        return host;
    }

    /** A host tensor: a contiguous f32 copy, like the CPU backend gives. */
    static Tensor hostCopy(Tensor t) {
        Tensor c = t.to(DType.F32);
        if (c != t) return c;
        Tensor copy = Tensor.allocate(DType.F32, t.shape());
        MemorySegment.copy(t.segment(), 0, copy.segment(), 0, t.byteSize());
        return copy;
    }

    /** Rows {@code ids} (range-checked) of {@code table}: [..., D] for ids of shape {@code idShape}. */
    static Tensor embedding(CudaBackend be, CudaDevice dev, Tensor table, long[] idShape, long[] ids) {
        long d = table.dim(1);
        Tensor tr = be.rowMajor(table);
        long[] shape = Arrays.copyOf(idShape, idShape.length + 1);
        shape[idShape.length] = d;
        Tensor y = be.newRowMajor(shape);  // [..., D]
        if (ids.length == 0 || d == 0) return y;
        long bytes = 4L * ids.length;
        long dIds = dev.arena.allocateScratch(bytes);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(ValueLayout.JAVA_INT, ids.length);
            for (int i = 0; i < ids.length; i++) host.setAtIndex(ValueLayout.JAVA_INT, i, (int) ids[i]);
            dev.staging.toDevice(host, dIds);
            dev.launch(be.kernel("embedding"), y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(tr))
                    .ptr(dIds).i64(ids.length).i32((int) d));
        } finally {
            dev.arena.release(dIds, bytes);
        }
        return y;
    }

    /** diffusers' {@code get_timestep_embedding} of host timesteps: [B] → [B, dim] of {@code be}'s element type. */
    static Tensor timestepEmbedding(CudaBackend be, CudaDevice dev, double[] timesteps, int dim, boolean flipSinToCos,
                                    float downscaleFreqShift, float scale, float maxPeriod) {
        int b = timesteps.length;
        Tensor y = be.newRowMajor(new long[] {b, dim});  // [B, dim]
        if (b == 0 || dim == 0) return y;
        long bytes = 4L * b;
        long dT = dev.arena.allocateScratch(bytes);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(ValueLayout.JAVA_FLOAT, b);
            for (int i = 0; i < b; i++) host.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) timesteps[i]);
            dev.staging.toDevice(host, dT);
            dev.launch(be.kernel("timestep_embedding"), y.numel(), KernelArgs.of().ptr(Layouts.address(y)).ptr(dT).i32(b)
                    .i32(dim).i32(flipSinToCos ? 1 : 0).f32(downscaleFreqShift).f32(maxPeriod).f32(scale));
        } finally {
            dev.arena.release(dT, bytes);
        }
        return y;
    }
}
