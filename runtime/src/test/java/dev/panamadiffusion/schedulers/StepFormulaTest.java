package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.JavaNoiseGenerator;
import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.function.DoubleUnaryOperator;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Single steps checked against diffusers' formulas written out here in double precision, for v-prediction, sample
 * prediction and the DPM-Solver variants the recorded loops do not cover.
 */
class StepFormulaTest {
    private static final long[] SHAPE = {1, 4, 3, 3};
    private static final float[] AC = TrainingSchedule.of(SchedulerConfig.sd15()).alphasCumprod();

    private static SchedulerConfig sd(String predictionType) {
        return SchedulerConfig.sd15().with("prediction_type", predictionType);
    }

    private static Tensor random(long seed) {
        return new JavaNoiseGenerator(seed).randn(SHAPE);
    }

    private static void assertClose(double[] expected, Tensor actual, String what) {
        float[] a = actual.toFloatArray();
        assertEquals(expected.length, a.length);
        for (int i = 0; i < a.length; i++) {
            assertEquals(expected[i], a[i], 2e-6 * Math.max(1, Math.abs(expected[i])), what + " element " + i);
        }
    }

    @Test
    void ddimVPredictionAndSample() {
        Tensor x = random(1), v = random(2);
        DDIMScheduler s = new DDIMScheduler(sd("v_prediction"));
        s.setTimesteps(10); // leading: 901, 801, ...
        Tensor out = s.step(v, 0, x, null);
        double a = AC[901], ap = AC[801];
        float[] xs = x.toFloatArray(), vs = v.toFloatArray();
        double[] expected = new double[xs.length];
        for (int i = 0; i < xs.length; i++) {
            double x0 = Math.sqrt(a) * xs[i] - Math.sqrt(1 - a) * vs[i];
            double eps = Math.sqrt(a) * vs[i] + Math.sqrt(1 - a) * xs[i];
            expected[i] = Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * eps;
        }
        assertClose(expected, out, "DDIM v");

        DDIMScheduler sample = new DDIMScheduler(sd("sample"));
        sample.setTimesteps(10);
        out = sample.step(v, 9, x, null); // t = 1, previous: alphas_cumprod[0] (set_alpha_to_one false)
        a = AC[1];
        ap = AC[0];
        for (int i = 0; i < xs.length; i++) {
            double eps = (xs[i] - Math.sqrt(a) * vs[i]) / Math.sqrt(1 - a);
            expected[i] = Math.sqrt(ap) * vs[i] + Math.sqrt(1 - ap) * eps;
        }
        assertClose(expected, out, "DDIM sample");
    }

    @Test
    void ddimClipsAndAddsEtaNoise() {
        Tensor x = random(1), eps = random(2);
        DDIMScheduler s = new DDIMScheduler(sd("epsilon").with("clip_sample", true).with("clip_sample_range", 0.5), 0.7);
        s.setTimesteps(10);
        Tensor z = random(3);
        NoiseGenerator fixed = shape -> z;
        Tensor out = s.step(eps, 2, x, fixed); // t = 701, previous 601
        double a = AC[701], ap = AC[601];
        double variance = (1 - ap) / (1 - a) * (1 - a / ap);
        double std = 0.7 * Math.sqrt(variance);
        float[] xs = x.toFloatArray(), es = eps.toFloatArray(), zs = z.toFloatArray();
        double[] expected = new double[xs.length];
        for (int i = 0; i < xs.length; i++) {
            double x0 = Math.max(-0.5, Math.min(0.5, (xs[i] - Math.sqrt(1 - a) * es[i]) / Math.sqrt(a)));
            expected[i] = Math.sqrt(ap) * x0 + Math.sqrt(1 - ap - std * std) * es[i] + std * zs[i];
        }
        assertClose(expected, out, "DDIM eta 0.7, clipped");
    }

    @Test
    void pndmVPredictionFirstStep() {
        Tensor x = random(1), v = random(2);
        PNDMScheduler s = new PNDMScheduler(sd("v_prediction"));
        s.setTimesteps(10); // 901, 801, 801, 701, ...
        Tensor out = s.step(v, 0, x, null);
        double a = AC[901], ap = AC[801];
        float[] xs = x.toFloatArray(), vs = v.toFloatArray();
        double[] expected = new double[xs.length];
        for (int i = 0; i < xs.length; i++) {
            double eps = Math.sqrt(a) * vs[i] + Math.sqrt(1 - a) * xs[i];
            double denom = a * Math.sqrt(1 - ap) + Math.sqrt(a * (1 - a) * ap);
            expected[i] = Math.sqrt(ap / a) * xs[i] - (ap - a) * eps / denom;
        }
        assertClose(expected, out, "PNDM v");
        assertThrows(IllegalStateException.class, () -> s.step(v, 2, x, null), "steps out of order");
    }

    @Test
    void eulerVPrediction() {
        Tensor x = random(1), v = random(2);
        EulerDiscreteScheduler s = new EulerDiscreteScheduler(sd("v_prediction").with("timestep_spacing", "linspace"));
        s.setTimesteps(6);
        double sigma = s.sigmas()[1], next = s.sigmas()[2];
        Tensor out = s.step(v, 1, x, null);
        float[] xs = x.toFloatArray(), vs = v.toFloatArray();
        double[] expected = new double[xs.length];
        for (int i = 0; i < xs.length; i++) {
            double x0 = vs[i] * (-sigma / Math.sqrt(sigma * sigma + 1)) + xs[i] / (sigma * sigma + 1);
            expected[i] = xs[i] + (xs[i] - x0) / sigma * (next - sigma);
        }
        assertClose(expected, out, "Euler v");
        // the model input is the latents divided by sqrt(sigma² + 1)
        float[] scaled = s.scaleModelInput(x, 1).toFloatArray();
        for (int i = 0; i < xs.length; i++) assertEquals(xs[i] / Math.sqrt(sigma * sigma + 1), scaled[i], 1e-6);
    }

    @Test
    void eulerContinuousTimestepsForVPrediction() {
        EulerDiscreteScheduler s = new EulerDiscreteScheduler(sd("v_prediction").with("timestep_type", "continuous")
                .with("timestep_spacing", "linspace"));
        s.setTimesteps(5);
        for (int i = 0; i < 5; i++) assertEquals(0.25 * Math.log(s.sigmas()[i]), s.timesteps()[i], 1e-6);
    }

    @Test
    void eulerAncestralVPrediction() {
        Tensor x = random(1), v = random(2), z = random(3);
        EulerAncestralDiscreteScheduler s = new EulerAncestralDiscreteScheduler(sd("v_prediction").with("timestep_spacing", "trailing"));
        s.setTimesteps(5);
        double from = s.sigmas()[2], to = s.sigmas()[3];
        Tensor out = s.step(v, 2, x, shape -> z);
        double up = Math.sqrt(to * to * (from * from - to * to) / (from * from));
        double down = Math.sqrt(to * to - up * up);
        float[] xs = x.toFloatArray(), vs = v.toFloatArray(), zs = z.toFloatArray();
        double[] expected = new double[xs.length];
        for (int i = 0; i < xs.length; i++) {
            double x0 = vs[i] * (-from / Math.sqrt(from * from + 1)) + xs[i] / (from * from + 1);
            expected[i] = xs[i] + (xs[i] - x0) / from * (down - from) + zs[i] * up;
        }
        assertClose(expected, out, "Euler a v");
    }

    @Test
    void lmsCoefficientsAreTheIntegralsOfTheLagrangeBasis() {
        LMSDiscreteScheduler s = new LMSDiscreteScheduler(SchedulerConfig.sd15().with("timestep_spacing", "linspace"));
        s.setTimesteps(8);
        float[] sig = s.sigmas();
        for (int t = 3; t < 7; t++) {
            for (int order = 1; order <= 4; order++) {
                double sum = 0;
                for (int cur = 0; cur < order; cur++) {
                    int c = cur;
                    int o = order;
                    int tt = t;
                    // the basis polynomial has degree order - 1 <= 3: Simpson's rule is exact
                    DoubleUnaryOperator basis = tau -> {
                        double p = 1;
                        for (int k = 0; k < o; k++) if (k != c) p *= (tau - sig[tt - k]) / ((double) sig[tt - c] - sig[tt - k]);
                        return p;
                    };
                    double a = sig[t], b = sig[t + 1];
                    double simpson = (b - a) / 6 * (basis.applyAsDouble(a) + 4 * basis.applyAsDouble((a + b) / 2) + basis.applyAsDouble(b));
                    double coeff = s.lmsCoefficient(order, t, cur);
                    assertEquals(simpson, coeff, 1e-12 * Math.max(1, Math.abs(simpson)), "order " + order + " t " + t + " cur " + cur);
                    sum += coeff;
                }
                // the basis polynomials sum to 1: the coefficients to the step length
                assertEquals(sig[t + 1] - sig[t], sum, 1e-9, "partition of unity");
            }
        }
    }

    @Test
    void lmsVPredictionFirstTwoSteps() {
        Tensor x = random(1), v0 = random(2), v1 = random(3);
        LMSDiscreteScheduler s = new LMSDiscreteScheduler(sd("v_prediction").with("timestep_spacing", "linspace"));
        s.setTimesteps(6);
        float[] sig = s.sigmas();
        float[] xs = x.toFloatArray();
        double[] d0 = derivative(xs, v0.toFloatArray(), sig[0]);
        double[] expected = new double[xs.length];
        for (int i = 0; i < xs.length; i++) expected[i] = xs[i] + (sig[1] - sig[0]) * d0[i];
        Tensor x1 = s.step(v0, 0, x, null);
        assertClose(expected, x1, "LMS first step (order 1)");
        // order 2: Adams-Bashforth in sigma with weights from the linear Lagrange basis on (sigma_1, sigma_0)
        float[] x1s = x1.toFloatArray();
        double[] d1 = derivative(x1s, v1.toFloatArray(), sig[1]);
        double s0 = sig[0], s1 = sig[1], s2 = sig[2];
        double w1 = ((s2 - s0) * (s2 - s0) - (s1 - s0) * (s1 - s0)) / 2 / (s1 - s0); // ∫ (tau - s0) / (s1 - s0)
        double w0 = ((s2 - s1) * (s2 - s1)) / 2 / (s0 - s1); // ∫ (tau - s1) / (s0 - s1)
        for (int i = 0; i < xs.length; i++) expected[i] = x1s[i] + w1 * d1[i] + w0 * d0[i];
        assertClose(expected, s.step(v1, 1, x1, null), "LMS second step (order 2)");
    }

    private static double[] derivative(float[] x, float[] v, double sigma) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double x0 = v[i] * (-sigma / Math.sqrt(sigma * sigma + 1)) + x[i] / (sigma * sigma + 1);
            d[i] = (x[i] - x0) / sigma;
        }
        return d;
    }

    /** alpha_t, sigma_t and lambda_t of DPM-Solver at noise level s (variance preserving). */
    private record Level(double alpha, double sigma, double lambda) {
        static Level of(double s) {
            double alpha = 1 / Math.sqrt(s * s + 1);
            double sigma = s * alpha;
            return new Level(alpha, sigma, Math.log(alpha) - Math.log(sigma));
        }
    }

    @Test
    void dpmSolverPlusPlusVPredictionFirstAndSecondOrder() {
        Tensor x = random(1), v0 = random(2), v1 = random(3);
        DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(sd("v_prediction").with("timestep_spacing", "linspace"));
        s.setTimesteps(8);
        float[] sig = s.sigmas();
        Level l0 = Level.of(sig[0]), l1 = Level.of(sig[1]), l2 = Level.of(sig[2]);
        float[] xs = x.toFloatArray();
        double[] m0 = new double[xs.length];
        double[] expected = new double[xs.length];
        float[] v0s = v0.toFloatArray();
        double h = l1.lambda - l0.lambda;
        for (int i = 0; i < xs.length; i++) {
            m0[i] = l0.alpha * xs[i] - l0.sigma * v0s[i];
            expected[i] = l1.sigma / l0.sigma * xs[i] - l1.alpha * (Math.exp(-h) - 1) * m0[i];
        }
        Tensor x1 = s.step(v0, 0, x, null);
        assertClose(expected, x1, "DPM++ first order");
        float[] x1s = x1.toFloatArray(), v1s = v1.toFloatArray();
        double h1 = l2.lambda - l1.lambda;
        double r0 = h / h1;
        for (int i = 0; i < xs.length; i++) {
            double m1 = l1.alpha * x1s[i] - l1.sigma * v1s[i];
            double d1 = (m1 - m0[i]) / r0;
            expected[i] = l2.sigma / l1.sigma * x1s[i] - l2.alpha * (Math.exp(-h1) - 1) * m1
                    - 0.5 * l2.alpha * (Math.exp(-h1) - 1) * d1;
        }
        assertClose(expected, s.step(v1, 1, x1, null), "DPM++ 2M midpoint");
    }

    @Test
    void dpmSolverFirstOrderVariants() {
        Tensor x = random(1), eps = random(2), z = random(3);
        float[] xs = x.toFloatArray(), es = eps.toFloatArray(), zs = z.toFloatArray();
        for (String algorithm : new String[] {"dpmsolver++", "dpmsolver", "sde-dpmsolver++", "sde-dpmsolver"}) {
            DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(sd("epsilon").with("algorithm_type", algorithm)
                    .with("final_sigmas_type", "sigma_min").with("timestep_spacing", "linspace"));
            s.setTimesteps(8);
            float[] sig = s.sigmas();
            Level from = Level.of(sig[0]), to = Level.of(sig[1]);
            double h = to.lambda - from.lambda;
            double[] expected = new double[xs.length];
            for (int i = 0; i < xs.length; i++) {
                double x0 = (xs[i] - from.sigma * es[i]) / from.alpha;
                expected[i] = switch (algorithm) {
                    case "dpmsolver++" -> to.sigma / from.sigma * xs[i] - to.alpha * (Math.exp(-h) - 1) * x0;
                    case "dpmsolver" -> to.alpha / from.alpha * xs[i] - to.sigma * (Math.exp(h) - 1) * es[i];
                    case "sde-dpmsolver++" -> to.sigma / from.sigma * Math.exp(-h) * xs[i]
                            + to.alpha * (1 - Math.exp(-2 * h)) * x0 + to.sigma * Math.sqrt(1 - Math.exp(-2 * h)) * zs[i];
                    default -> to.alpha / from.alpha * xs[i] - 2 * to.sigma * (Math.exp(h) - 1) * es[i]
                            + to.sigma * Math.sqrt(Math.exp(2 * h) - 1) * zs[i];
                };
            }
            assertClose(expected, s.step(eps, 0, x, shape -> z), algorithm);
        }
    }
}
