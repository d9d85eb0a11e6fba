package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Data movement: padding, upsampling, concatenation, NCHW ↔ token transposes, row gathers, strided copies. */
final class LayoutCpu {
    private LayoutCpu() {}

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final int TB = 32; // transpose block

    /** x [planes, h, w] → out [planes, h + top + bottom, w + left + right] (out zero-filled). */
    static void pad2d(Parallel par, MemorySegment x, MemorySegment out, int planes, int h, int w, int left, int right, int top,
                      int bottom) {
        int ow = w + left + right;
        int oh = h + top + bottom;
        par.forEach(planes, p -> {
            for (int y = 0; y < h; y++) {
                MemorySegment.copy(x, ((long) p * h + y) * w * 4, out, (((long) p * oh + y + top) * ow + left) * 4, (long) w * 4);
            }
        });
    }

    /** x [planes, h, w] → out [planes, 2h, 2w]. */
    static void upsample2x(Parallel par, MemorySegment x, MemorySegment out, int planes, int h, int w) {
        par.forEach(planes, p -> {
            float[] row = new float[w];
            float[] wide = new float[2 * w];
            for (int y = 0; y < h; y++) {
                MemorySegment.copy(x, F, ((long) p * h + y) * w * 4, row, 0, w);
                for (int i = 0; i < w; i++) {
                    wide[2 * i] = row[i];
                    wide[2 * i + 1] = row[i];
                }
                long o = ((long) p * 2 * h + 2 * y) * 2 * w;
                MemorySegment.copy(wide, 0, out, F, o * 4, 2 * w);
                MemorySegment.copy(wide, 0, out, F, (o + 2L * w) * 4, 2 * w);
            }
        });
    }

    /** a [n, ca*plane] and b [n, cb*plane] → out [n, (ca + cb)*plane]. */
    static void concat(Parallel par, MemorySegment a, MemorySegment b, MemorySegment out, int n, long aLen, long bLen) {
        par.forEach(n, i -> {
            MemorySegment.copy(a, i * aLen * 4, out, i * (aLen + bLen) * 4, aLen * 4);
            MemorySegment.copy(b, i * bLen * 4, out, (i * (aLen + bLen) + aLen) * 4, bLen * 4);
        });
    }

    /** Per image: x [rows, cols] → out [cols, rows], in blocks. */
    static void transpose(Parallel par, MemorySegment x, MemorySegment out, int n, int rows, int cols) {
        int rb = (rows + TB - 1) / TB;
        par.forEach(n * rb, task -> {
            int img = task / rb;
            int r0 = (task % rb) * TB;
            int r1 = Math.min(rows, r0 + TB);
            long base = (long) img * rows * cols;
            float[] blk = new float[TB * TB];
            for (int c0 = 0; c0 < cols; c0 += TB) {
                int c1 = Math.min(cols, c0 + TB);
                int cw = c1 - c0;
                for (int r = r0; r < r1; r++) MemorySegment.copy(x, F, (base + (long) r * cols + c0) * 4, blk, (r - r0) * TB, cw);
                float[] t = new float[TB];
                for (int c = c0; c < c1; c++) {
                    for (int r = r0; r < r1; r++) t[r - r0] = blk[(r - r0) * TB + c - c0];
                    MemorySegment.copy(t, 0, out, F, (base + (long) c * rows + r0) * 4, r1 - r0);
                }
            }
        });
    }

    /** table [V, D] rows gathered by ids [count] into out [count, D]. */
    static void embedding(MemorySegment table, long vocab, int d, Tensor ids, MemorySegment out) {
        long count = ids.numel();
        for (long i = 0; i < count; i++) {
            long id = ids.getLong(i);
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("embedding id " + id + " at position " + i + " outside [0, " + vocab + ")");
            }
            MemorySegment.copy(table, id * d * 4, out, i * d * 4, (long) d * 4);
        }
    }

    /** A contiguous host f32 tensor with the values of {@code t} (t itself when it already is one). */
    static Tensor contiguousF32(Tensor t) {
        if (t.device() != dev.panamadiffusion.tensor.Device.CPU) {
            throw new IllegalArgumentException("cpu backend got a tensor on " + t.device() + ": " + t);
        }
        if (t.dtype() == DType.F32 && t.isContiguous()) return t;
        if (!t.dtype().isFloatingPoint()) throw new IllegalArgumentException("expected a floating-point tensor, got " + t);
        if (t.dtype() != DType.F32) return t.to(DType.F32);
        // strided f32: copy row by row along the last dimension
        Tensor out = Tensor.allocate(DType.F32, t.shape());
        MemorySegment dst = out.segment();
        MemorySegment src = t.storage();
        long[] shape = t.shape();
        long[] st = t.strides();
        int r = shape.length;
        long inner = r == 0 ? 1 : shape[r - 1];
        long innerStride = r == 0 ? 1 : st[r - 1];
        long outer = t.numel() / Math.max(1, inner);
        long[] idx = new long[Math.max(0, r - 1)];
        for (long o = 0; o < outer; o++) {
            long off = t.offset();
            for (int d = 0; d < idx.length; d++) off += idx[d] * st[d];
            long dBase = o * inner;
            if (innerStride == 1) {
                MemorySegment.copy(src, off * 4, dst, dBase * 4, inner * 4);
            } else {
                for (long i = 0; i < inner; i++) dst.setAtIndex(F, dBase + i, src.getAtIndex(F, off + i * innerStride));
            }
            for (int d = idx.length - 1; d >= 0; d--) {
                if (++idx[d] < shape[d]) break;
                idx[d] = 0;
            }
        }
        return out;
    }

    static float[] floats(Tensor t) { return contiguousF32(t).toFloatArray(); }
}
