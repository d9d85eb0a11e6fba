package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.JavaNoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Whole DPM-Solver loops against diffusers 0.27.2's {@code DPMSolverMultistepScheduler.step} written out here in double
 * precision: every algorithm, midpoint and heun, orders 1 to 3, and the order diffusers picks per step (first order
 * until there is history, {@code lower_order_final} below 15 steps, {@code euler_at_final}, {@code final_sigmas_type}
 * zero). Each step is fed the scheduler's own sample, so float32 rounding does not accumulate.
 */
class DpmSolverReferenceTest {
    private static final long[] SHAPE = {1, 4, 3, 3};

    /** alpha_t, sigma_t and lambda_t of the variance-preserving process at noise level s. */
    private record Level(double alpha, double sigma, double lambda) {
        static Level of(double s) {
            double alpha = 1 / Math.sqrt(s * s + 1);
            double sigma = s * alpha;
            return new Level(alpha, sigma, Math.log(alpha) - Math.log(sigma));
        }
    }

    /** diffusers' step(), in double, for epsilon prediction. */
    private static final class Reference {
        final String algorithm;
        final boolean heun;
        final int order;
        final boolean lowerOrderFinal;
        final boolean eulerAtFinal;
        final boolean finalZero;
        final float[] sigmas;
        final int count;
        final List<double[]> outputs = new ArrayList<>();
        int lowerOrderNums;

        Reference(SchedulerConfig c, float[] sigmas, int count) {
            this.algorithm = c.algorithmType();
            this.heun = "heun".equals(c.solverType());
            this.order = c.solverOrder();
            this.lowerOrderFinal = c.lowerOrderFinal();
            this.eulerAtFinal = c.eulerAtFinal();
            this.finalZero = "zero".equals(c.finalSigmasType());
            this.sigmas = sigmas;
            this.count = count;
        }

        boolean dataPrediction() { return algorithm.equals("dpmsolver++") || algorithm.equals("sde-dpmsolver++"); }

        double[] step(float[] eps, int i, float[] x, float[] z) {
            boolean lof = i == count - 1 && (eulerAtFinal || (lowerOrderFinal && count < 15) || finalZero);
            boolean los = i == count - 2 && lowerOrderFinal && count < 15;
            Level s0 = Level.of(sigmas[i]);
            double[] m = new double[x.length];
            for (int k = 0; k < x.length; k++) m[k] = dataPrediction() ? (x[k] - s0.sigma * eps[k]) / s0.alpha : eps[k];
            outputs.add(m);
            double[] prev;
            if (order == 1 || lowerOrderNums < 1 || lof) prev = first(i, x, z);
            else if (order == 2 || lowerOrderNums < 2 || los) prev = second(i, x, z);
            else prev = third(i, x);
            if (lowerOrderNums < order) lowerOrderNums++;
            return prev;
        }

        double[] m(int back) { return outputs.get(outputs.size() - 1 - back); }

        double[] first(int i, float[] x, float[] z) {
            Level t = Level.of(sigmas[i + 1]), s = Level.of(sigmas[i]);
            double h = t.lambda - s.lambda;
            double[] m = m(0), out = new double[x.length];
            for (int k = 0; k < x.length; k++) {
                out[k] = switch (algorithm) {
                    case "dpmsolver++" -> t.sigma / s.sigma * x[k] - t.alpha * (Math.exp(-h) - 1) * m[k];
                    case "dpmsolver" -> t.alpha / s.alpha * x[k] - t.sigma * (Math.exp(h) - 1) * m[k];
                    case "sde-dpmsolver++" -> t.sigma / s.sigma * Math.exp(-h) * x[k] + t.alpha * (1 - Math.exp(-2 * h)) * m[k]
                            + t.sigma * Math.sqrt(1 - Math.exp(-2 * h)) * z[k];
                    default -> t.alpha / s.alpha * x[k] - 2 * t.sigma * (Math.exp(h) - 1) * m[k]
                            + t.sigma * Math.sqrt(Math.exp(2 * h) - 1) * z[k];
                };
            }
            return out;
        }

        double[] second(int i, float[] x, float[] z) {
            Level t = Level.of(sigmas[i + 1]), s0 = Level.of(sigmas[i]), s1 = Level.of(sigmas[i - 1]);
            double h = t.lambda - s0.lambda, h0 = s0.lambda - s1.lambda, r0 = h0 / h;
            double[] m0 = m(0), m1 = m(1), out = new double[x.length];
            double at = t.alpha, st = t.sigma;
            for (int k = 0; k < x.length; k++) {
                double d0 = m0[k], d1 = (1 / r0) * (m0[k] - m1[k]);
                out[k] = switch (algorithm) {
                    case "dpmsolver++" -> heun
                            ? st / s0.sigma * x[k] - at * (Math.exp(-h) - 1) * d0 + at * ((Math.exp(-h) - 1) / h + 1) * d1
                            : st / s0.sigma * x[k] - at * (Math.exp(-h) - 1) * d0 - 0.5 * at * (Math.exp(-h) - 1) * d1;
                    case "dpmsolver" -> heun
                            ? at / s0.alpha * x[k] - st * (Math.exp(h) - 1) * d0 - st * ((Math.exp(h) - 1) / h - 1) * d1
                            : at / s0.alpha * x[k] - st * (Math.exp(h) - 1) * d0 - 0.5 * st * (Math.exp(h) - 1) * d1;
                    case "sde-dpmsolver++" -> st / s0.sigma * Math.exp(-h) * x[k] + at * (1 - Math.exp(-2 * h)) * d0
                            + (heun ? at * ((1 - Math.exp(-2 * h)) / (-2 * h) + 1) : 0.5 * at * (1 - Math.exp(-2 * h))) * d1
                            + st * Math.sqrt(1 - Math.exp(-2 * h)) * z[k];
                    default -> at / s0.alpha * x[k] - 2 * st * (Math.exp(h) - 1) * d0
                            - (heun ? 2 * st * ((Math.exp(h) - 1) / h - 1) : st * (Math.exp(h) - 1)) * d1
                            + st * Math.sqrt(Math.exp(2 * h) - 1) * z[k];
                };
            }
            return out;
        }

        double[] third(int i, float[] x) {
            Level t = Level.of(sigmas[i + 1]), s0 = Level.of(sigmas[i]), s1 = Level.of(sigmas[i - 1]), s2 = Level.of(sigmas[i - 2]);
            double h = t.lambda - s0.lambda, h0 = s0.lambda - s1.lambda, h1 = s1.lambda - s2.lambda;
            double r0 = h0 / h, r1 = h1 / h;
            double[] m0 = m(0), m1 = m(1), m2 = m(2), out = new double[x.length];
            double at = t.alpha, st = t.sigma;
            for (int k = 0; k < x.length; k++) {
                double d10 = (1 / r0) * (m0[k] - m1[k]), d11 = (1 / r1) * (m1[k] - m2[k]);
                double d1 = d10 + r0 / (r0 + r1) * (d10 - d11);
                double d2 = 1 / (r0 + r1) * (d10 - d11);
                out[k] = algorithm.equals("dpmsolver++")
                        ? st / s0.sigma * x[k] - at * (Math.exp(-h) - 1) * m0[k] + at * ((Math.exp(-h) - 1) / h + 1) * d1
                                - at * ((Math.exp(-h) - 1 + h) / (h * h) - 0.5) * d2
                        : at / s0.alpha * x[k] - st * (Math.exp(h) - 1) * m0[k] - st * ((Math.exp(h) - 1) / h - 1) * d1
                                - st * ((Math.exp(h) - 1 - h) / (h * h) - 0.5) * d2;
            }
            return out;
        }
    }

    private static void runLoop(SchedulerConfig config, int steps) {
        DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(config);
        s.setTimesteps(steps);
        Reference ref = new Reference(s.config(), s.sigmas(), steps);
        String what = config.algorithmType() + " " + config.solverType() + " order " + config.solverOrder() + ", "
                + steps + " steps, lower_order_final " + config.lowerOrderFinal() + ", euler_at_final "
                + config.eulerAtFinal() + ", final " + config.finalSigmasType();
        Tensor x = new JavaNoiseGenerator(1).randn(SHAPE);
        for (int i = 0; i < steps; i++) {
            Tensor eps = new JavaNoiseGenerator(100 + i).randn(SHAPE);
            Tensor z = new JavaNoiseGenerator(500 + i).randn(SHAPE);
            double[] expected = ref.step(eps.toFloatArray(), i, x.toFloatArray(), z.toFloatArray());
            Tensor next = s.step(eps, i, x, shape -> z);
            float[] got = next.toFloatArray();
            for (int k = 0; k < got.length; k++) {
                assertEquals(expected[k], got[k], 2e-5 * Math.max(1, Math.abs(expected[k])), what + ": step " + i + " element " + k);
            }
            x = next;
        }
    }

    private static SchedulerConfig dpm(String algorithm, String solverType, int order) {
        return SchedulerConfig.sd15().with("_class_name", "DPMSolverMultistepScheduler").with("timestep_spacing", "linspace")
                .with("algorithm_type", algorithm).with("solver_type", solverType).with("solver_order", order)
                .with("final_sigmas_type", "sigma_min");
    }

    @Test
    void everyAlgorithmSolverTypeAndOrderFollowsDiffusersStepByStep() {
        for (String algorithm : new String[] {"dpmsolver++", "dpmsolver", "sde-dpmsolver++", "sde-dpmsolver"}) {
            boolean sde = algorithm.startsWith("sde");
            for (String solverType : new String[] {"midpoint", "heun"}) {
                for (int order = 1; order <= (sde ? 2 : 3); order++) {
                    for (int steps : new int[] {6, 14, 15, 20}) { // lower_order_final applies below 15 steps
                        runLoop(dpm(algorithm, solverType, order), steps);
                        runLoop(dpm(algorithm, solverType, order).with("lower_order_final", false), steps);
                    }
                }
            }
        }
    }

    @Test
    void eulerAtFinalAndAZeroFinalSigmaMakeTheLastStepFirstOrder() {
        for (int steps : new int[] {15, 20}) {
            runLoop(dpm("dpmsolver++", "midpoint", 2).with("euler_at_final", true), steps);
            runLoop(dpm("dpmsolver++", "midpoint", 3).with("euler_at_final", true).with("lower_order_final", false), steps);
            runLoop(dpm("dpmsolver++", "midpoint", 2).with("final_sigmas_type", "zero"), steps);
            runLoop(dpm("sde-dpmsolver++", "heun", 2).with("final_sigmas_type", "zero"), steps);
        }
    }
}
