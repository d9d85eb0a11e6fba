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
}
