package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

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
