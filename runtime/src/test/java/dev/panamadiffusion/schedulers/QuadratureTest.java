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

    /**
     * QUADPACK's QAG with the 7-point Gauss / 15-point Kronrod pair, written plainly: the sums are taken afresh over all
     * intervals each round, bisecting the interval of largest error until the summed error is within
     * max(epsAbs, epsRel × |summed value|) or there are 50 intervals. Returns {value, evaluations}.
     */
    private static double[] plainQag(java.util.function.DoubleUnaryOperator f, double a, double b, double epsAbs, double epsRel) {
        double[] xgk = {0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
                0.207784955007898467600689403773245, 0};
        double[] wgk = {0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                0.204432940075298892414161999234649, 0.209482141084727828012999174891714};
        double[] wg = {0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
                0.381830050505118944950369775488975, 0.417959183673469387755102040816327};
        Counted g = new Counted(f);
        java.util.List<double[]> pieces = new java.util.ArrayList<>(); // {a, b, value, error}
        java.util.function.BiFunction<Double, Double, double[]> rule = (lo, hi) -> {
            double c = (lo + hi) / 2, half = (hi - lo) / 2, kron = 0, gauss = 0;
            for (int i = 0; i < 8; i++) {
                double v = i == 7 ? g.applyAsDouble(c) : g.applyAsDouble(c - half * xgk[i]) + g.applyAsDouble(c + half * xgk[i]);
                kron += wgk[i] * v;
                if (i % 2 == 1) gauss += wg[i / 2] * v;
            }
            return new double[] {lo, hi, kron * half, Math.abs((kron - gauss) * half)};
        };
        pieces.add(rule.apply(a, b));
        while (true) {
            double value = 0, error = 0;
            for (double[] p : pieces) { value += p[2]; error += p[3]; }
            if (error <= Math.max(epsAbs, epsRel * Math.abs(value)) || pieces.size() >= 50) return new double[] {value, g.calls};
            double[] worst = pieces.get(0);
            for (double[] p : pieces) if (p[3] > worst[3]) worst = p;
            pieces.remove(worst);
            double mid = (worst[0] + worst[1]) / 2;
            pieces.add(rule.apply(worst[0], mid));
            pieces.add(rule.apply(mid, worst[1]));
        }
    }

    @Test
    void bisectsAsOftenAsPlainQag() {
        java.util.function.DoubleUnaryOperator peak = x -> 1 / (1e-4 + x * x);
        java.util.function.DoubleUnaryOperator kink = x -> Math.abs(x - 0.3);
        Object[][] cases = {
                {peak, -1.0, 1.0, 0.0, 1e-6}, {peak, -1.0, 1.0, 0.0, 1e-9}, {peak, -1.0, 1.0, 1e-5, 0.0}, {peak, -0.2, 1.0, 0.0, 1e-7},
                {(java.util.function.DoubleUnaryOperator) Math::sqrt, 0.0, 1.0, 0.0, 1e-8},
                {(java.util.function.DoubleUnaryOperator) Math::sqrt, 0.0, 0.01, 0.0, 1e-6},
                {kink, 0.0, 1.0, 0.0, 1e-12}, {kink, 0.0, 1.0, 1e-9, 0.0}};
        for (Object[] c : cases) {
            java.util.function.DoubleUnaryOperator f = (java.util.function.DoubleUnaryOperator) c[0];
            double a = (double) c[1], b = (double) c[2], epsAbs = (double) c[3], epsRel = (double) c[4];
            double[] plain = plainQag(f, a, b, epsAbs, epsRel);
            Counted ours = new Counted(f);
            double got = Quadrature.integrate(ours, a, b, epsAbs, epsRel);
            String what = "[" + a + ", " + b + "] epsAbs " + epsAbs + " epsRel " + epsRel;
            assertEquals((int) plain[1], ours.calls, what + ": evaluations");
            assertEquals(plain[0], got, 1e-12 * Math.max(1, Math.abs(plain[0])), what);
        }
    }
}
