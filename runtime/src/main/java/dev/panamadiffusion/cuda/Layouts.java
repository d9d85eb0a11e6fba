package dev.panamadiffusion.cuda;

import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Physical layouts of CUDA tensors. The backend stores rank-4 tensors (images [N, C, H, W], conv filters
 * [O, C, kh, kw]) channels-last, i.e. as a dense [N, H, W, C] buffer viewed through strides
 * {@code [H*W*C, 1, W*C, C]}, and every other tensor densely row-major. Kernels get a strided view as the
 * {@code PdStrided} struct of kernels/src/common.cuh.
 */
final class Layouts {
    private Layouts() {}

    /** Maximum rank of a {@code PdStrided} view. */
    static final int MAX_RANK = 6;
    /** sizeof(PdStrided): shape[6], stride[6], offset (all int64), rank (int32), padding. */
    static final long STRIDED_BYTES = 112;

    /** Whether {@code t} is rank 4 with channels-last strides (dimensions of size 1 may have any stride). */
    static boolean isChannelsLast(Tensor t) {
        if (t.rank() != 4) return false;
        long n = t.dim(0), c = t.dim(1), h = t.dim(2), w = t.dim(3);
        long[] st = t.strides();
        long[] expected = {h * w * c, 1, w * c, c};
        long[] size = {n, c, h, w};
        for (int i = 0; i < 4; i++) {
            if (size[i] != 1 && st[i] != expected[i]) return false;
        }
        return true;
    }

    /** Device address of {@code t}'s first element. */
    static long address(Tensor t) {
        return t.storage().address() + t.offset() * t.dtype().byteSize();
    }

    /** The PdStrided struct: element k of a dense walk over {@code shape} is read at offset + Σ index·stride. */
    static MemorySegment strided(Arena arena, long[] shape, long[] strides, long offset) {
        if (shape.length > MAX_RANK) throw new IllegalArgumentException("rank " + shape.length + " > " + MAX_RANK);
        MemorySegment s = arena.allocate(STRIDED_BYTES, 8);
        for (int i = 0; i < shape.length; i++) {
            s.setAtIndex(ValueLayout.JAVA_LONG, i, shape[i]);
            s.setAtIndex(ValueLayout.JAVA_LONG, MAX_RANK + i, strides[i]);
        }
        s.set(ValueLayout.JAVA_LONG, 96, offset);
        s.set(ValueLayout.JAVA_INT, 104, shape.length);
        return s;
    }

    /** Shape [N, H, W, C] of a channels-last buffer for logical [N, C, H, W]. */
    static long[] nhwc(long[] nchw) { return new long[] {nchw[0], nchw[2], nchw[3], nchw[1]}; }

    /** Strides, for the dense walk over [N, H, W, C], of a row-major NCHW tensor. */
    static long[] nchwStridesForNhwcWalk(long[] nchw) {
        long c = nchw[1], h = nchw[2], w = nchw[3];
        return new long[] {c * h * w, w, 1, h * w};
    }
}
