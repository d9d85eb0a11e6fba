package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Transcendentals and reductions that give the same bits whether the JIT has compiled the caller or not. The Vector
 * API leaves both open: {@code lanewise(EXP)} is SVML in C2-compiled code and {@code Math.exp} per lane before, and
 * {@code reduceLanes(ADD)} may add in any order; either would make the same seed give different images from one run
 * to the next. Everything here is built from exactly rounded operations (add, mul, fma, conversions) in a fixed order.
 */
final class VectorMath {
    private static final VectorSpecies<Float> S = Microkernel.S;
    private static final float HI = 88.3762626647950f;
    private static final float LO = -87.3365447505531f; // below: the result is 0 or a denormal; we return 0
    private static final float LOG2E = 1.44269504088896341f;
    private static final float C1 = 0.693359375f;
    private static final float C2 = -2.12194440e-4f;
    private static final float ROUND = 12582912f; // 1.5 * 2^23

    private VectorMath() {}

    /**
     * e^x per lane (Cephes' expf polynomial: |relative error| < 2e-7), exactly 0 below -87.34, +inf above 88.38.
     * n = rint(x log2 e) by adding and subtracting 1.5·2^23; 2^n built in the exponent bits.
     *
     * <p>Callers should not inline many copies of this into one method: C2 stops inlining past a node budget and
     * then boxes every vector (10× slower). Loops over arrays use {@link #expInPlace}.
     */
    static FloatVector exp(FloatVector x) {
        VectorMask<Float> under = x.compare(VectorOperators.LT, LO);
        VectorMask<Float> over = x.compare(VectorOperators.GT, HI);
        FloatVector v = x.blend(LO, under).blend(HI, over); // as max(LO).min(HI), without Java's max/min sequences
        FloatVector n = v.mul(LOG2E).add(ROUND).sub(ROUND);
        FloatVector r = v.sub(n.mul(C1)).sub(n.mul(C2));
        FloatVector y = FloatVector.broadcast(S, 1.9875691500e-4f);
        y = y.fma(r, FloatVector.broadcast(S, 1.3981999507e-3f));
        y = y.fma(r, FloatVector.broadcast(S, 8.3334519073e-3f));
        y = y.fma(r, FloatVector.broadcast(S, 4.1665795894e-2f));
        y = y.fma(r, FloatVector.broadcast(S, 1.6666665459e-1f));
        y = y.fma(r, FloatVector.broadcast(S, 5.0000001201e-1f));
        y = y.mul(r.mul(r)).add(r).add(1f);
        IntVector bits = n.convert(VectorOperators.F2I, 0).reinterpretAsInts().add(127).lanewise(VectorOperators.LSHL, 23);
        FloatVector result = y.mul(bits.reinterpretAsFloats());
        return result.blend(0f, under).blend(Float.POSITIVE_INFINITY, over);
    }

    /**
     * dst[d, d + VL) = e^x with x = s[at, at + VL) - m[mo, mo + VL) ≤ 0 (softmax's shifted scores; {@code at} in
     * bytes), cheaper than {@link #exp}: x·log2 e = n + f with n = rint, f in [-1/2, 1/2] taken with one fma (so the
     * only error is log2 e's rounding, 2e-8·|x| absolute in f), 2^f by its degree-6 Taylor polynomial (|relative
     * error| < 2e-7), 2^n in the exponent bits. Below -87.3 (n < -126) the result is 2^-126·2^f (under 1.2e-38) rather
     * than 0: callers that need exact zeros (masks) blend them in. It loads and stores its vectors itself: a call that
     * C2 does not inline boxes the vectors it passes (see {@code AttentionCpu.Block.maxBlock}).
     */
    static void expNonPositive(MemorySegment s, long at, float[] m, int mo, float[] dst, int d) {
        FloatVector x = FloatVector.fromMemorySegment(S, s, at, ByteOrder.nativeOrder()).sub(FloatVector.fromArray(S, m, mo));
        FloatVector v = x.blend(LO_SOFTMAX, x.compare(VectorOperators.LT, LO_SOFTMAX));
        FloatVector nr = v.mul(LOG2E).add(ROUND);                 // ROUND + n
        FloatVector f = v.fma(FloatVector.broadcast(S, LOG2E), nr.sub(ROUND).neg()); // x·log2 e - n
        FloatVector p = FloatVector.broadcast(S, P6);
        p = p.fma(f, FloatVector.broadcast(S, P5));
        p = p.fma(f, FloatVector.broadcast(S, P4));
        p = p.fma(f, FloatVector.broadcast(S, P3));
        p = p.fma(f, FloatVector.broadcast(S, P2));
        p = p.fma(f, FloatVector.broadcast(S, P1));
        p = p.fma(f, FloatVector.broadcast(S, 1f));
        IntVector bits = nr.reinterpretAsInts().add(127 - Float.floatToRawIntBits(ROUND)).lanewise(VectorOperators.LSHL, 23);
        p.mul(bits.reinterpretAsFloats()).intoArray(dst, d);
    }

    private static final float LO_SOFTMAX = -87.33654f; // -126 ln 2
    private static final float P1 = 0.6931471806f, P2 = 0.2402265070f, P3 = 0.05550410866f, P4 = 0.009618129108f,
            P5 = 0.001333355815f, P6 = 1.540353040e-4f;

    /** a[from, to) = e^a[from, to), {@code to - from} a multiple of the vector length. */
    static void expInPlace(float[] a, int from, int to) {
        for (int i = from; i < to; i += S.length()) exp(FloatVector.fromArray(S, a, i)).intoArray(a, i);
    }

    /** The lanes of {@code v} added in lane order, in double. */
    static double sum(FloatVector v) {
        float[] lanes = v.toArray();
        double s = 0;
        for (float f : lanes) s += f;
        return s;
    }
}
