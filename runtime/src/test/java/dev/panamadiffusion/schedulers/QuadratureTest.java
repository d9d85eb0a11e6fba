package dev.panamadiffusion.schedulers;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class QuadratureTest {
    @Test
    void integratesPolynomialsUpToDegree22ExactlyInOnePass() {
        for (int k = 0; k <= 22; k++) {
            int p = k;
            double a = -0.3, b = 1.7;
            double exact = (Math.pow(b, p + 1) - Math.pow(a, p + 1)) / (p + 1);
            double got = Quadrature.integrate(x -> Math.pow(x, p), a, b, 0, 0); // zero tolerance: a single pass is exact
            assertEquals(exact, got, 1e-12 * Math.max(1, Math.abs(exact)), "x^" + p);
        }
    }

    @Test
    void adaptsToSmoothAndPeakedIntegrands() {
        assertEquals(Math.E - 1, Quadrature.integrate(Math::exp, 0, 1, 1e-12, 1e-12), 1e-13);
        assertEquals(2.0, Quadrature.integrate(Math::sin, 0, Math.PI, 1e-12, 1e-12), 1e-12);
        // a narrow peak needs subdivision: ∫ 1 / (1e-4 + x²) over [-1, 1] = 2 / 1e-2 * atan(1 / 1e-2)
        double exact = 2 / 1e-2 * Math.atan(1 / 1e-2);
        assertEquals(exact, Quadrature.integrate(x -> 1 / (1e-4 + x * x), -1, 1, 1e-10, 1e-10), exact * 1e-8);
        // reversed limits flip the sign, as scipy's quad does
        assertEquals(-(Math.E - 1), Quadrature.integrate(Math::exp, 1, 0, 1e-12, 1e-12), 1e-13);
    }

    /** An integrand that counts its evaluations. */
    private static final class Counted implements java.util.function.DoubleUnaryOperator {
        final java.util.function.DoubleUnaryOperator f;
        int calls;

        Counted(java.util.function.DoubleUnaryOperator f) { this.f = f; }

        @Override
        public double applyAsDouble(double x) {
            calls++;
            return f.applyAsDouble(x);
        }
    }

    @Test
    void stopsAfterOnePassWhenTheEstimateIsWithinTheTolerance() {
        // a cubic (an LMS coefficient's degree): Kronrod and Gauss agree, one 15-point pass
        Counted cubic = new Counted(x -> 1 - 2 * x + 3 * x * x * x);
        assertEquals(0.75, Quadrature.integrate(cubic, 0, 1, 1.49e-8, 1e-4), 1e-14);
        assertEquals(15, cubic.calls);
        // an estimate of exactly 0 meets a tolerance of exactly 0 ("within")
        Counted zero = new Counted(x -> 0);
        assertEquals(0.0, Quadrature.integrate(zero, -1, 2, 0, 0));
        assertEquals(15, zero.calls);
    }

    @Test
    void subdividesAtMostToFiftyIntervals() {
        // QUADPACK's limit: an unreachable tolerance stops at 50 intervals, the first pass plus 49 bisections of two rules
        Counted root = new Counted(Math::sqrt);
        double got = Quadrature.integrate(root, 0, 1, 0, 0);
        assertEquals(15 * (1 + 2 * 49), root.calls);
        assertEquals(2.0 / 3, got, 1e-12);
    }

    @Test
    void aRelativeToleranceIsMetBeforeTheLimit() {
        // sqrt's singular derivative at 0 needs bisections; a relative tolerance of 1e-10 is met well before 50 intervals
        Counted root = new Counted(Math::sqrt);
        double got = Quadrature.integrate(root, 0, 1, 0, 1e-10);
        assertEquals(2.0 / 3, got, 1e-10 * 2.0 / 3);
        assertTrue(root.calls < 15 * 99, "calls " + root.calls);
        // the tolerance is relative to the integral's size: ∫ sqrt over [0, 100] = 2000 / 3
        Counted big = new Counted(Math::sqrt);
        assertEquals(2000.0 / 3, Quadrature.integrate(big, 0, 100, 0, 1e-9), 1e-9 * 2000 / 3);
        assertTrue(big.calls < 15 * 99, "calls " + big.calls);
        assertTrue(root.calls > 15, "calls " + root.calls);
        // and an absolute one the same way, on a reversed interval
        Counted reversed = new Counted(Math::sqrt);
        assertEquals(-2.0 / 3, Quadrature.integrate(reversed, 1, 0, 1e-11, 0), 1e-11);
        assertTrue(reversed.calls < 15 * 99 && reversed.calls > 15, "calls " + reversed.calls);
    }
}
