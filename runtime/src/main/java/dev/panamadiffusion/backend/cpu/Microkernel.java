package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The register-blocked SGEMM inner kernel: an {@link #MR} x {@link #NR} tile of C updated with an A micro-panel
 * (MR rows of kc reduction steps) times a packed B micro-panel ({@code kc} steps of NR values, [k][c]). C is row-major
 * in a memory segment. The tile starts from C ({@code accumulate}) or from the biases.
 *
 * <p>Four variants, by where the operands lie. A from a segment, as packed [k][r] panels (convolution and Winograd
 * weights, attention's K and V^T) or as plain rows read in place (linear's input: no copy), times B from an array
 * (the columns a convolution packs per call) or from a segment (linear's packed weight); and both from arrays (a
 * reduced-precision weight panel widened to f32). The kernels that read A rows in place take each row's offset, so
 * that a partial tile repeats its last row rather than read past the input.
 */
final class Microkernel {
    private Microkernel() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int VL = S.length();
    static final int MR = 6;
    static final int NR = 2 * VL;
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /**
     * C[r][c] (= or +=) sum_k a[ao + r*ars + k*aks] * b[bo + k*NR + c] for r < mr, c < nr, both operands arrays.
     * {@code cIndex} and {@code ldc} in elements. Without {@code accumulate} the tile starts from rowBias[ri + r] +
     * colBias[ci + c] (each may be null; padded to whole tiles). A and B must hold whole MR x kc and kc x NR panels;
     * rows and columns past mr and nr are computed from whatever they hold and discarded.
     */
    static void tile(float[] a, int ao, int ars, int aks, float[] b, int bo, int kc, MemorySegment c, long cIndex, long ldc,
                     int mr, int nr, boolean accumulate, float[] rowBias, int ri, float[] colBias, int ci) {
        if (mr == MR && nr == NR) {
            kernel(a, ao, ars, aks, b, bo, kc, c, cIndex * 4, ldc * 4, accumulate, rowBias, ri, colBias, ci);
            return;
        }
        MemorySegment t = edgeIn(c, cIndex, ldc, mr, nr, accumulate);
        kernel(a, ao, ars, aks, b, bo, kc, t, 0, NR * 4L, accumulate, rowBias, ri, colBias, ci);
        edgeOut(t, c, cIndex, ldc, mr, nr);
    }

    /** As above with A packed MR-wide ([k][r] panels from element {@code ao} of segment {@code a}). */
    static void tile(MemorySegment a, long ao, float[] b, int bo, int kc, MemorySegment c, long cIndex, long ldc,
                     int mr, int nr, boolean accumulate, float[] rowBias, int ri, float[] colBias, int ci) {
        if (mr == MR && nr == NR) {
            kernel(a, ao * 4, b, bo, kc, c, cIndex * 4, ldc * 4, accumulate, rowBias, ri, colBias, ci);
            return;
        }
        MemorySegment t = edgeIn(c, cIndex, ldc, mr, nr, accumulate);
        kernel(a, ao * 4, b, bo, kc, t, 0, NR * 4L, accumulate, rowBias, ri, colBias, ci);
        edgeOut(t, c, cIndex, ldc, mr, nr);
    }

    /**
     * As above with A rows in place: element (r, k) at {@code a[ao + r*ars + k]} (elements) for r < mr, and B an
     * array (a reduced-precision weight panel widened to f32).
     */
    static void tile(MemorySegment a, long ao, long ars, float[] b, int bo, int kc, MemorySegment c, long cIndex, long ldc,
                     int mr, int nr, boolean accumulate, float[] colBias, int ci) {
        long r0 = ao * 4, rs = ars * 4;
        MemorySegment t = mr == MR && nr == NR ? null : edgeIn(c, cIndex, ldc, mr, nr, accumulate);
        kernel(a, r0, r0 + row(1, mr) * rs, r0 + row(2, mr) * rs, r0 + row(3, mr) * rs, r0 + row(4, mr) * rs,
                r0 + row(5, mr) * rs, b, bo, kc, t == null ? c : t, t == null ? cIndex * 4 : 0,
                t == null ? ldc * 4 : NR * 4L, accumulate, colBias, ci);
        if (t != null) edgeOut(t, c, cIndex, ldc, mr, nr);
    }

    /** As above with B packed in a segment ({@code bo} in elements): linear's f32 weight times its input in place. */
    static void tile(MemorySegment a, long ao, long ars, MemorySegment b, long bo, int kc, MemorySegment c, long cIndex,
                     long ldc, int mr, int nr, boolean accumulate, float[] colBias, int ci) {
        long r0 = ao * 4, rs = ars * 4;
        MemorySegment t = mr == MR && nr == NR ? null : edgeIn(c, cIndex, ldc, mr, nr, accumulate);
        kernel(a, r0, r0 + row(1, mr) * rs, r0 + row(2, mr) * rs, r0 + row(3, mr) * rs, r0 + row(4, mr) * rs,
                r0 + row(5, mr) * rs, b, bo * 4, kc, t == null ? c : t, t == null ? cIndex * 4 : 0,
                t == null ? ldc * 4 : NR * 4L, accumulate, colBias, ci);
        if (t != null) edgeOut(t, c, cIndex, ldc, mr, nr);
    }

    /** Row r of a tile of mr rows read in place: past the last, the last again (its results are discarded). */
    private static long row(int r, int mr) { return Math.min(r, mr - 1); }

    /** The calling thread's whole-tile stand-in for a partial tile of C, holding C's values when accumulating. */
    private static MemorySegment edgeIn(MemorySegment c, long cIndex, long ldc, int mr, int nr, boolean accumulate) {
        MemorySegment t = Scratch.get().tile;
        if (accumulate) {
            for (int r = 0; r < mr; r++) {
                MemorySegment.copy(c, (cIndex + r * ldc) * 4, t, (long) r * NR * 4, (long) nr * 4);
            }
        }
        return t;
    }

    private static void edgeOut(MemorySegment t, MemorySegment c, long cIndex, long ldc, int mr, int nr) {
        for (int r = 0; r < mr; r++) {
            MemorySegment.copy(t, (long) r * NR * 4, c, (cIndex + r * ldc) * 4, (long) nr * 4);
        }
    }

    /**
     * Writes the tile's starting values into C: rowBias[ri + r] + colBias[ci + c] (either may be null, then 0), for
     * the kernels that start by loading C (in registers, measured 5% slower for attention's short reductions).
     */
    private static void startFromBiases(MemorySegment c, long co, long ldc, float[] rowBias, int ri, float[] colBias, int ci) {
        FloatVector z0 = FloatVector.zero(S), z1 = z0;
        if (colBias != null) {
            z0 = FloatVector.fromArray(S, colBias, ci);
            z1 = FloatVector.fromArray(S, colBias, ci + VL);
        }
        for (int r = 0; r < MR; r++) {
            float rb = rowBias != null ? rowBias[ri + r] : 0f;
            z0.add(rb).intoMemorySegment(c, co + r * ldc, NO);
            z1.add(rb).intoMemorySegment(c, co + r * ldc + VL * 4L, NO);
        }
    }

    /**
     * A rows at byte offsets r0..r5 of a segment, consecutive along k; B panel from a segment at byte {@code bo}. A
     * tile that does not accumulate starts from colBias + 0 in registers (the sum the other kernels store and load).
     */
    private static void kernel(MemorySegment a, long r0, long r1, long r2, long r3, long r4, long r5, MemorySegment b,
                               long bo, int kc, MemorySegment c, long co, long ldc, boolean accumulate, float[] colBias, int ci) {
        final long vb = VL * 4L;
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (accumulate) {
            c00 = FloatVector.fromMemorySegment(S, c, co, NO);
            c01 = FloatVector.fromMemorySegment(S, c, co + vb, NO);
            c10 = FloatVector.fromMemorySegment(S, c, co + ldc, NO);
            c11 = FloatVector.fromMemorySegment(S, c, co + ldc + vb, NO);
            c20 = FloatVector.fromMemorySegment(S, c, co + 2 * ldc, NO);
            c21 = FloatVector.fromMemorySegment(S, c, co + 2 * ldc + vb, NO);
            c30 = FloatVector.fromMemorySegment(S, c, co + 3 * ldc, NO);
            c31 = FloatVector.fromMemorySegment(S, c, co + 3 * ldc + vb, NO);
            c40 = FloatVector.fromMemorySegment(S, c, co + 4 * ldc, NO);
            c41 = FloatVector.fromMemorySegment(S, c, co + 4 * ldc + vb, NO);
            c50 = FloatVector.fromMemorySegment(S, c, co + 5 * ldc, NO);
            c51 = FloatVector.fromMemorySegment(S, c, co + 5 * ldc + vb, NO);
        } else {
            FloatVector z = FloatVector.zero(S);
            c00 = c10 = c20 = c30 = c40 = c50 = colBias == null ? z : FloatVector.fromArray(S, colBias, ci).add(0f);
            c01 = c11 = c21 = c31 = c41 = c51 = colBias == null ? z : FloatVector.fromArray(S, colBias, ci + VL).add(0f);
        }
        for (int k = 0; k < kc; k++) {
            FloatVector b0 = FloatVector.fromMemorySegment(S, b, bo, NO);
            FloatVector b1 = FloatVector.fromMemorySegment(S, b, bo + vb, NO);
            long kk = 4L * k;
            FloatVector av = FloatVector.broadcast(S, a.get(F, r0 + kk));
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a.get(F, r1 + kk));
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a.get(F, r2 + kk));
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a.get(F, r3 + kk));
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a.get(F, r4 + kk));
            c40 = av.fma(b0, c40); c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a.get(F, r5 + kk));
            c50 = av.fma(b0, c50); c51 = av.fma(b1, c51);
            bo += NR * 4L;
        }
        c00.intoMemorySegment(c, co, NO);
        c01.intoMemorySegment(c, co + vb, NO);
        c10.intoMemorySegment(c, co + ldc, NO);
        c11.intoMemorySegment(c, co + ldc + vb, NO);
        c20.intoMemorySegment(c, co + 2 * ldc, NO);
        c21.intoMemorySegment(c, co + 2 * ldc + vb, NO);
        c30.intoMemorySegment(c, co + 3 * ldc, NO);
        c31.intoMemorySegment(c, co + 3 * ldc + vb, NO);
        c40.intoMemorySegment(c, co + 4 * ldc, NO);
        c41.intoMemorySegment(c, co + 4 * ldc + vb, NO);
        c50.intoMemorySegment(c, co + 5 * ldc, NO);
        c51.intoMemorySegment(c, co + 5 * ldc + vb, NO);
    }

    /** A panel ([k][r], MR wide) from a segment at byte {@code ao}, B panel from an array. */
    private static void kernel(MemorySegment a, long ao, float[] b, int bo, int kc, MemorySegment c, long co, long ldc,
                               boolean accumulate, float[] rowBias, int ri, float[] colBias, int ci) {
        final long vb = VL * 4L;
        if (!accumulate) startFromBiases(c, co, ldc, rowBias, ri, colBias, ci);
        FloatVector c00 = FloatVector.fromMemorySegment(S, c, co, NO),
                c01 = FloatVector.fromMemorySegment(S, c, co + vb, NO),
                c10 = FloatVector.fromMemorySegment(S, c, co + ldc, NO),
                c11 = FloatVector.fromMemorySegment(S, c, co + ldc + vb, NO),
                c20 = FloatVector.fromMemorySegment(S, c, co + 2 * ldc, NO),
                c21 = FloatVector.fromMemorySegment(S, c, co + 2 * ldc + vb, NO),
                c30 = FloatVector.fromMemorySegment(S, c, co + 3 * ldc, NO),
                c31 = FloatVector.fromMemorySegment(S, c, co + 3 * ldc + vb, NO),
                c40 = FloatVector.fromMemorySegment(S, c, co + 4 * ldc, NO),
                c41 = FloatVector.fromMemorySegment(S, c, co + 4 * ldc + vb, NO),
                c50 = FloatVector.fromMemorySegment(S, c, co + 5 * ldc, NO),
                c51 = FloatVector.fromMemorySegment(S, c, co + 5 * ldc + vb, NO);
        for (int k = 0; k < kc; k++) {
            FloatVector b0 = FloatVector.fromArray(S, b, bo);
            FloatVector b1 = FloatVector.fromArray(S, b, bo + VL);
            FloatVector av = FloatVector.broadcast(S, a.get(F, ao));
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a.get(F, ao + 4));
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a.get(F, ao + 8));
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a.get(F, ao + 12));
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a.get(F, ao + 16));
            c40 = av.fma(b0, c40); c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a.get(F, ao + 20));
            c50 = av.fma(b0, c50); c51 = av.fma(b1, c51);
            ao += MR * 4L;
            bo += NR;
        }
        c00.intoMemorySegment(c, co, NO);
        c01.intoMemorySegment(c, co + vb, NO);
        c10.intoMemorySegment(c, co + ldc, NO);
        c11.intoMemorySegment(c, co + ldc + vb, NO);
        c20.intoMemorySegment(c, co + 2 * ldc, NO);
        c21.intoMemorySegment(c, co + 2 * ldc + vb, NO);
        c30.intoMemorySegment(c, co + 3 * ldc, NO);
        c31.intoMemorySegment(c, co + 3 * ldc + vb, NO);
        c40.intoMemorySegment(c, co + 4 * ldc, NO);
        c41.intoMemorySegment(c, co + 4 * ldc + vb, NO);
        c50.intoMemorySegment(c, co + 5 * ldc, NO);
        c51.intoMemorySegment(c, co + 5 * ldc + vb, NO);
    }

    /** As above with the B panel from an array. */
    private static void kernel(MemorySegment a, long r0, long r1, long r2, long r3, long r4, long r5, float[] b,
                               int bo, int kc, MemorySegment c, long co, long ldc, boolean accumulate, float[] colBias, int ci) {
        final long vb = VL * 4L;
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (accumulate) {
            c00 = FloatVector.fromMemorySegment(S, c, co, NO);
            c01 = FloatVector.fromMemorySegment(S, c, co + vb, NO);
            c10 = FloatVector.fromMemorySegment(S, c, co + ldc, NO);
            c11 = FloatVector.fromMemorySegment(S, c, co + ldc + vb, NO);
            c20 = FloatVector.fromMemorySegment(S, c, co + 2 * ldc, NO);
            c21 = FloatVector.fromMemorySegment(S, c, co + 2 * ldc + vb, NO);
            c30 = FloatVector.fromMemorySegment(S, c, co + 3 * ldc, NO);
            c31 = FloatVector.fromMemorySegment(S, c, co + 3 * ldc + vb, NO);
            c40 = FloatVector.fromMemorySegment(S, c, co + 4 * ldc, NO);
            c41 = FloatVector.fromMemorySegment(S, c, co + 4 * ldc + vb, NO);
            c50 = FloatVector.fromMemorySegment(S, c, co + 5 * ldc, NO);
            c51 = FloatVector.fromMemorySegment(S, c, co + 5 * ldc + vb, NO);
        } else {
            FloatVector z = FloatVector.zero(S);
            c00 = c10 = c20 = c30 = c40 = c50 = colBias == null ? z : FloatVector.fromArray(S, colBias, ci).add(0f);
            c01 = c11 = c21 = c31 = c41 = c51 = colBias == null ? z : FloatVector.fromArray(S, colBias, ci + VL).add(0f);
        }
        for (int k = 0; k < kc; k++) {
            FloatVector b0 = FloatVector.fromArray(S, b, bo);
            FloatVector b1 = FloatVector.fromArray(S, b, bo + VL);
            long kk = 4L * k;
            FloatVector av = FloatVector.broadcast(S, a.get(F, r0 + kk));
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a.get(F, r1 + kk));
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a.get(F, r2 + kk));
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a.get(F, r3 + kk));
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a.get(F, r4 + kk));
            c40 = av.fma(b0, c40); c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a.get(F, r5 + kk));
            c50 = av.fma(b0, c50); c51 = av.fma(b1, c51);
            bo += NR;
        }
        c00.intoMemorySegment(c, co, NO);
        c01.intoMemorySegment(c, co + vb, NO);
        c10.intoMemorySegment(c, co + ldc, NO);
        c11.intoMemorySegment(c, co + ldc + vb, NO);
        c20.intoMemorySegment(c, co + 2 * ldc, NO);
        c21.intoMemorySegment(c, co + 2 * ldc + vb, NO);
        c30.intoMemorySegment(c, co + 3 * ldc, NO);
        c31.intoMemorySegment(c, co + 3 * ldc + vb, NO);
        c40.intoMemorySegment(c, co + 4 * ldc, NO);
        c41.intoMemorySegment(c, co + 4 * ldc + vb, NO);
        c50.intoMemorySegment(c, co + 5 * ldc, NO);
        c51.intoMemorySegment(c, co + 5 * ldc + vb, NO);
    }

    /** A and B from arrays. */
    private static void kernel(float[] a, int ao, int ars, int aks, float[] b, int bo, int kc, MemorySegment c, long co, long ldc,
                               boolean accumulate, float[] rowBias, int ri, float[] colBias, int ci) {
        final int a1 = ars, a2 = 2 * ars, a3 = 3 * ars, a4 = 4 * ars, a5 = 5 * ars;
        final long vb = VL * 4L;
        if (!accumulate) startFromBiases(c, co, ldc, rowBias, ri, colBias, ci);
        FloatVector c00 = FloatVector.fromMemorySegment(S, c, co, NO),
                c01 = FloatVector.fromMemorySegment(S, c, co + vb, NO),
                c10 = FloatVector.fromMemorySegment(S, c, co + ldc, NO),
                c11 = FloatVector.fromMemorySegment(S, c, co + ldc + vb, NO),
                c20 = FloatVector.fromMemorySegment(S, c, co + 2 * ldc, NO),
                c21 = FloatVector.fromMemorySegment(S, c, co + 2 * ldc + vb, NO),
                c30 = FloatVector.fromMemorySegment(S, c, co + 3 * ldc, NO),
                c31 = FloatVector.fromMemorySegment(S, c, co + 3 * ldc + vb, NO),
                c40 = FloatVector.fromMemorySegment(S, c, co + 4 * ldc, NO),
                c41 = FloatVector.fromMemorySegment(S, c, co + 4 * ldc + vb, NO),
                c50 = FloatVector.fromMemorySegment(S, c, co + 5 * ldc, NO),
                c51 = FloatVector.fromMemorySegment(S, c, co + 5 * ldc + vb, NO);
        for (int k = 0; k < kc; k++) {
            FloatVector b0 = FloatVector.fromArray(S, b, bo);
            FloatVector b1 = FloatVector.fromArray(S, b, bo + VL);
            FloatVector av = FloatVector.broadcast(S, a[ao]);
            c00 = av.fma(b0, c00); c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[ao + a1]);
            c10 = av.fma(b0, c10); c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[ao + a2]);
            c20 = av.fma(b0, c20); c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[ao + a3]);
            c30 = av.fma(b0, c30); c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[ao + a4]);
            c40 = av.fma(b0, c40); c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[ao + a5]);
            c50 = av.fma(b0, c50); c51 = av.fma(b1, c51);
            ao += aks;
            bo += NR;
        }
        c00.intoMemorySegment(c, co, NO);
        c01.intoMemorySegment(c, co + vb, NO);
        c10.intoMemorySegment(c, co + ldc, NO);
        c11.intoMemorySegment(c, co + ldc + vb, NO);
        c20.intoMemorySegment(c, co + 2 * ldc, NO);
        c21.intoMemorySegment(c, co + 2 * ldc + vb, NO);
        c30.intoMemorySegment(c, co + 3 * ldc, NO);
        c31.intoMemorySegment(c, co + 3 * ldc + vb, NO);
        c40.intoMemorySegment(c, co + 4 * ldc, NO);
        c41.intoMemorySegment(c, co + 4 * ldc + vb, NO);
        c50.intoMemorySegment(c, co + 5 * ldc, NO);
        c51.intoMemorySegment(c, co + 5 * ldc + vb, NO);
    }
}
