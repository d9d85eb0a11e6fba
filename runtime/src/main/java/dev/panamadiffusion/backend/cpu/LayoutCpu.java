package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Data movement: padding, upsampling, concatenation, NCHW ↔ token transposes, row gathers, strided copies. */
final class LayoutCpu {
    private LayoutCpu() {}

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final VectorSpecies<Float> S = Microkernel.S;
    private static final int VL = S.length();
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final int TB = 2 * VL; // transpose tile
    private static final VectorShuffle<Float> LOW = VectorShuffle.fromOp(S, i -> i / 2);
    private static final VectorShuffle<Float> HIGH = VectorShuffle.fromOp(S, i -> (i + VL) / 2);

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

    /** x [planes, h, w] → out [planes, 2h, 2w]: each vector of a row becomes two interleaved vectors, stored twice. */
    static void upsample2x(Parallel par, MemorySegment x, MemorySegment out, int planes, int h, int w) {
        par.forRange(planes, Math.max(1, (1 << 16) / Math.max(1, h * w)), (p0, p1) -> {
            for (long p = p0; p < p1; p++) {
                for (int y = 0; y < h; y++) {
                    long src = (p * h + y) * w;
                    long o = (p * 2 * h + 2L * y) * 2 * w;
                    int i = 0;
                    for (; i + VL <= w; i += VL) {
                        FloatVector v = FloatVector.fromMemorySegment(S, x, (src + i) * 4, NO);
                        FloatVector lo = v.rearrange(LOW);
                        FloatVector hi = v.rearrange(HIGH);
                        long d = (o + 2L * i) * 4;
                        lo.intoMemorySegment(out, d, NO);
                        hi.intoMemorySegment(out, d + VL * 4L, NO);
                        lo.intoMemorySegment(out, d + 2L * w * 4, NO);
                        hi.intoMemorySegment(out, d + 2L * w * 4 + VL * 4L, NO);
                    }
                    for (; i < w; i++) {
                        float v = x.getAtIndex(F, src + i);
                        out.setAtIndex(F, o + 2L * i, v);
                        out.setAtIndex(F, o + 2L * i + 1, v);
                        out.setAtIndex(F, o + 2L * w + 2L * i, v);
                        out.setAtIndex(F, o + 2L * w + 2L * i + 1, v);
                    }
                }
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

    /** Per image: x [rows, cols] → out [cols, rows], in TB x TB tiles (vector row loads, scalar transpose). */
    static void transpose(Parallel par, MemorySegment x, MemorySegment out, int n, int rows, int cols) {
        int rb = (rows + TB - 1) / TB;
        par.forEach(n * rb, task -> {
            int img = task / rb;
            int r0 = (task % rb) * TB;
            int rh = Math.min(TB, rows - r0);
            long base = (long) img * rows * cols;
            float[] in = new float[TB * TB];
            float[] t = new float[TB * TB];
            for (int c0 = 0; c0 < cols; c0 += TB) {
                int cw = Math.min(TB, cols - c0);
                for (int r = 0; r < rh; r++) read(x, base + (long) (r0 + r) * cols + c0, in, r * TB, cw);
                for (int r = 0; r < rh; r++) {
                    for (int c = 0; c < cw; c++) t[c * TB + r] = in[r * TB + c];
                }
                for (int c = 0; c < cw; c++) write(t, c * TB, out, base + (long) (c0 + c) * rows + r0, rh);
            }
        });
    }

    private static void read(MemorySegment src, long index, float[] dst, int at, int len) {
        if (len == TB) {
            FloatVector.fromMemorySegment(S, src, index * 4, NO).intoArray(dst, at);
            FloatVector.fromMemorySegment(S, src, (index + VL) * 4, NO).intoArray(dst, at + VL);
        } else {
            MemorySegment.copy(src, F, index * 4, dst, at, len);
        }
    }

    private static void write(float[] src, int at, MemorySegment dst, long index, int len) {
        if (len == TB) {
            FloatVector.fromArray(S, src, at).intoMemorySegment(dst, index * 4, NO);
            FloatVector.fromArray(S, src, at + VL).intoMemorySegment(dst, (index + VL) * 4, NO);
        } else {
            MemorySegment.copy(src, at, dst, F, index * 4, len);
        }
    }

    /** table [V, D] rows gathered by ids [count] into out [count, D]. */
    static void embedding(Tensor table, Tensor ids, MemorySegment out) {
        long count = ids.numel(), vocab = table.dim(0);
        int d = Math.toIntExact(table.dim(1));
        boolean f32 = table.dtype() == DType.F32;
        for (long i = 0; i < count; i++) {
            long id = ids.getLong(i);
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("embedding id " + id + " at position " + i + " outside [0, " + vocab + ")");
            }
            // an f16 or bf16 table (kept as uploaded) has only the rows it gives converted
            MemorySegment row = f32 ? table.segment() : table.slice(0, id, id + 1).to(DType.F32).segment();
            MemorySegment.copy(row, f32 ? id * d * 4 : 0, out, i * d * 4, (long) d * 4);
        }
    }

    /** out[i] = t's i-th value as f32, for a contiguous f16 or bf16 tensor {@code t}; on the pool's threads unless null. */
    static void widen(Parallel par, Tensor t, MemorySegment out) {
        if (!t.isContiguous() || (t.dtype() != DType.F16 && t.dtype() != DType.BF16)) {
            throw new IllegalArgumentException("widen takes a contiguous f16 or bf16 tensor, got " + t);
        }
        MemorySegment src = t.segment();
        boolean f16 = t.dtype() == DType.F16;
        Parallel.RangeBody body = (a, b) -> {
            for (long i = a; i < b; i++) {
                short bits = src.getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i);
                out.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i,
                        f16 ? dev.panamadiffusion.tensor.Halfs.f16ToF32(bits) : dev.panamadiffusion.tensor.Halfs.bf16ToF32(bits));
            }
        };
        if (par == null) body.run(0, t.numel());
        else par.forRange(t.numel(), 1 << 16, body);
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
