package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The register-blocked SGEMM inner kernel: an {@link #MR} x {@link #NR} tile of C updated with an A micro-panel
 * (element (r, k) at {@code a[ao + r*ars + k*aks]}: packed [k][r] panels or plain row-major rows) times a packed B
 * micro-panel ({@code kc} steps of NR values, [k][c]). C is row-major in a memory segment. The tile starts from C
 * ({@code accumulate}) or from the biases.
 *
 * <p>Three variants, by where the packed weight lies: {@link #tile(float[], int, int, int, MemorySegment, long, int,
 * MemorySegment, long, long, int, int, boolean, float[], int, float[], int) A from an array, B from a segment}
 * (linear: activation rows times off-heap weight panels) and {@link #tile(MemorySegment, long, float[], int, int,
 * MemorySegment, long, long, int, int, boolean, float[], int, float[], int) A from a segment of packed [k][r]
 * panels, B from an array} (convolution: weight panels times activation columns); attention, whose panels are
 * packed per call, keeps both operands in arrays. Each reads its array operands exactly as the array kernel does.
 */
final class Microkernel {
    private Microkernel() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int VL = S.length();
    static final int MR = 6;
    static final int NR = 2 * VL;
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** As the next, A packed MR-wide ([k][r] panels): attention's per-call K and V^T panels, on the heap. */
    static void tile(float[] a, int ao, float[] b, int bo, int kc, MemorySegment c, long cIndex, long ldc, int mr, int nr,
                     boolean accumulate, float[] rowBias, int ri, float[] colBias, int ci) {
        tile(a, ao, 1, MR, b, bo, kc, c, cIndex, ldc, mr, nr, accumulate, rowBias, ri, colBias, ci);
    }

    /** As below with both operands arrays, A elements at {@code a[ao + r*ars + k*aks]}. */
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

    /**
     * C[r][c] (= or +=) sum_k a[k][r] * b[k][c] for r < mr, c < nr. {@code cIndex} and {@code ldc} in elements;
     * {@code bo} in elements of {@code b}. Without {@code accumulate} the tile starts from rowBias[ri + r] +
     * colBias[ci + c] (each may be null; padded to whole tiles). A and B must hold whole MR x kc and kc x NR panels;
     * rows and columns past mr and nr are computed from whatever they hold and discarded.
     */
    static void tile(float[] a, int ao, int ars, int aks, MemorySegment b, long bo, int kc, MemorySegment c, long cIndex,
                     long ldc, int mr, int nr, boolean accumulate, float[] rowBias, int ri, float[] colBias, int ci) {
        if (mr == MR && nr == NR) {
            kernel(a, ao, ars, aks, b, bo * 4, kc, c, cIndex * 4, ldc * 4, accumulate, rowBias, ri, colBias, ci);
            return;
        }
        MemorySegment t = edgeIn(c, cIndex, ldc, mr, nr, accumulate);
        kernel(a, ao, ars, aks, b, bo * 4, kc, t, 0, NR * 4L, accumulate, rowBias, ri, colBias, ci);
        edgeOut(t, c, cIndex, ldc, mr, nr);
    }

    /** As above with A packed MR-wide ([k][r] panels from element {@code ao} of {@code a}) and B an array. */
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
     * Writes the tile's starting values into C: rowBias[ri + r] + colBias[ci + c] (either may be null, then 0), so
     * that every kernel starts by loading C.
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

    /** A rows from an array, B panel from a segment at byte {@code bo}. */
    private static void kernel(float[] a, int ao, int ars, int aks, MemorySegment b, long bo, int kc, MemorySegment c, long co,
                               long ldc, boolean accumulate, float[] rowBias, int ri, float[] colBias, int ci) {
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
            FloatVector b0 = FloatVector.fromMemorySegment(S, b, bo, NO);
            FloatVector b1 = FloatVector.fromMemorySegment(S, b, bo + vb, NO);
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
