package dev.panamadiffusion.backend.cpu;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VectorMathTest {
    private static final int VL = Microkernel.S.length();

    private static float[] exp(float[] x) { return map(x, VectorMath::exp); }

    private static float[] expNonPositive(float[] x) {
        float[] out = new float[x.length], zeros = new float[VL];
        for (int i = 0; i < x.length; i += VL) VectorMath.expNonPositive(MemorySegment.ofArray(x), 4L * i, zeros, 0, out, i);
        return out;
    }

    private static float[] map(float[] x, UnaryOperator<FloatVector> f) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i += VL) f.apply(FloatVector.fromArray(Microkernel.S, x, i)).intoArray(out, i);
        return out;
    }

    @Test
    void expMatchesMathExpToTwoTenthsOfAMillionth() {
        int n = 200_000 / VL * VL;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -87f + 175f * i / n;
        float[] y = exp(x);
        for (int i = 0; i < n; i++) {
            double want = Math.exp(x[i]);
            assertTrue(Math.abs(y[i] - want) <= 2.5e-7 * want, "exp(" + x[i] + ") = " + y[i] + ", want " + want);
        }
    }

    @Test
    void expEdges() {
        float[] x = new float[VL];
        x[0] = Float.NEGATIVE_INFINITY;
        x[1] = -1000f;
        x[2] = 0f;
        x[3] = 1000f;
        x[4] = Float.POSITIVE_INFINITY;
        x[5] = 1f;
        float[] y = exp(x);
        assertEquals(0f, y[0]);
        assertEquals(0f, y[1]);
        assertEquals(1f, y[2]);
        assertEquals(Float.POSITIVE_INFINITY, y[3]);
        assertEquals(Float.POSITIVE_INFINITY, y[4]);
        assertEquals((float) Math.E, y[5], 1e-6f);
    }

    @Test
    void expNonPositiveMatchesMathExpWhereSoftmaxWeightsLie() {
        int n = 200_000 / VL * VL;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -87f * i / n;
        float[] y = expNonPositive(x);
        for (int i = 0; i < n; i++) {
            double want = Math.exp(x[i]);
            // log2 e's rounding costs 2e-8·|x| in the reduced argument: relative 3e-7 near 0, 1.4e-6 at -87
            double tol = 3e-7 + 1.4e-8 * -x[i];
            assertTrue(Math.abs(y[i] - want) <= tol * want, "exp(" + x[i] + ") = " + y[i] + ", want " + want);
        }
    }

    @Test
    void expNonPositiveEdges() {
        float[] x = new float[VL];
        x[0] = Float.NEGATIVE_INFINITY;
        x[1] = -1000f;
        x[2] = 0f;
        x[3] = -0f;
        x[4] = Float.NaN;
        x[5] = -1f;
        x[6] = -87.33654f;
        float[] y = expNonPositive(x);
        assertTrue(y[0] >= 0f && y[0] < 1.2e-38f, "exp(-inf) = " + y[0]);
        assertTrue(y[1] >= 0f && y[1] < 1.2e-38f, "exp(-1000) = " + y[1]);
        assertEquals(1f, y[2]);
        assertEquals(1f, y[3]);
        assertTrue(Float.isNaN(y[4]), "exp(NaN) = " + y[4]);
        assertEquals((float) Math.exp(-1), y[5], 1e-7f);
        assertEquals(Math.exp(-87.33654), y[6], 1e-6 * Math.exp(-87.33654));
    }

    @Test
    void sumAddsInLaneOrder() {
        float[] v = new float[VL];
        for (int i = 0; i < VL; i++) v[i] = (i % 2 == 0 ? 1e8f : 1f);
        double want = 0;
        for (float f : v) want += f;
        assertEquals(want, VectorMath.sum(FloatVector.fromArray(Microkernel.S, v, 0)));
    }

    @Test
    void expNonPositiveSubtractsTheRowMaxima() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(3);
        float[] x = new float[4 * VL], m = new float[VL], out = new float[4 * VL];
        for (int i = 0; i < m.length; i++) m[i] = (float) (r.nextDouble() * 40 - 20);
        for (int i = 0; i < x.length; i++) x[i] = m[i % VL] - (float) (r.nextDouble() * 30);
        for (int i = 0; i < x.length; i += VL) VectorMath.expNonPositive(MemorySegment.ofArray(x), 4L * i, m, 0, out, i);
        for (int i = 0; i < x.length; i++) {
            float d = x[i] - m[i % VL];
            double want = Math.exp(d);
            assertTrue(Math.abs(out[i] - want) <= (3e-7 + 1.4e-8 * -d) * want, i + ": " + out[i] + " against " + want);
        }
    }
}
