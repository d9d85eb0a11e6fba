package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Linear multistep sampling in sigma space (k-diffusion's {@code sample_lms}), as diffusers 0.27.2's
 * {@code LMSDiscreteScheduler} with order 4 (A1111 "LMS"): each step combines the last up to four derivatives with
 * coefficients that integrate their Lagrange basis polynomials over [sigma_i, sigma_{i+1}], computed by adaptive
 * Gauss-Kronrod quadrature (diffusers uses scipy's {@code quad} with epsrel 1e-4; both are exact for these cubics).
 *
 * <p>Stateful: steps must be taken in order, from index 0 (or the {@link #setBeginIndex} one), after {@link #setTimesteps}.
 */
public final class LMSDiscreteScheduler extends SigmaScheduler {
    static final SchedulerConfig DEFAULTS = SchedulerConfig.parse("""
            {"_class_name": "LMSDiscreteScheduler", "num_train_timesteps": 1000, "beta_start": 0.0001,
             "beta_end": 0.02, "beta_schedule": "linear", "trained_betas": null, "use_karras_sigmas": false,
             "prediction_type": "epsilon", "timestep_spacing": "linspace", "steps_offset": 0}""");
    /** diffusers' default {@code order} argument of {@code step}. */
    public static final int ORDER = 4;

    private final List<float[]> derivatives = new ArrayList<>();
    private int nextStep;

    public LMSDiscreteScheduler(SchedulerConfig config) {
        this.config = config.withDefaults(DEFAULTS);
        this.predictionType = PredictionType.of(this.config.predictionType());
        // LMSDiscreteScheduler has no rescale_betas_zero_snr argument: a config's value is ignored, as in diffusers
        TrainingSchedule training = TrainingSchedule.of(this.config.with("rescale_betas_zero_snr", false));
        this.trainSigmas = Sigmas.fromAlphasCumprod(training.alphasCumprod());
        this.options = new SigmaSchedule.Options(Spacing.Kind.of(this.config.timestepSpacing()), this.config.stepsOffset(),
                this.config.useKarrasSigmas(), null, null, false);
    }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        super.setTimesteps(numInferenceSteps);
        derivatives.clear();
        nextStep = 0;
    }

    /**
     * The weight of the derivative {@code currentOrder} steps back in step {@code t} of an order-{@code order} LMS:
     * the integral over [sigma_t, sigma_{t+1}] of the Lagrange basis polynomial for that derivative's sigma.
     */
    public double lmsCoefficient(int order, int t, int currentOrder) {
        float[] sigmas = schedule.sigmas();
        double[] nodes = new double[order];
        for (int k = 0; k < order; k++) nodes[k] = sigmas[t - k];
        double own = nodes[currentOrder];
        return Quadrature.integrate(tau -> {
            double prod = 1.0;
            for (int k = 0; k < order; k++) {
                if (k == currentOrder) continue;
                prod *= (tau - nodes[k]) / (own - nodes[k]);
            }
            return prod;
        }, sigmas[t], sigmas[t + 1], 1.49e-8, 1e-4);
    }

    /**
     * The first step is taken at {@code beginIndex}. As in diffusers, its order is still min(index + 1, 4): the
     * coefficients of that order's formula are paired with the derivatives there are (zip), fewer at first.
     */
    @Override
    public void setBeginIndex(int beginIndex) {
        Latents.requireStepIndex(beginIndex, schedule.size());
        if (!derivatives.isEmpty()) throw new IllegalStateException("setBeginIndex after a step");
        nextStep = beginIndex;
    }

    @Override
    public Tensor step(Tensor modelOutput, int stepIndex, Tensor sample, NoiseGenerator noise) {
        Latents.requireStepIndex(stepIndex, schedule.size());
        Latents.requireSameShape(modelOutput, sample);
        if (stepIndex != nextStep) {
            throw new IllegalStateException("LMS steps must be taken in order: expected step " + nextStep + ", got " + stepIndex);
        }
        float sigma = schedule.sigmas()[stepIndex];
        float[] out = Latents.read(modelOutput, "model output");
        float[] x = Latents.read(sample, "sample");
        float[] x0 = KDiffusion.denoised(predictionType, out, x, sigma);
        float[] derivative = new float[x.length];
        for (int i = 0; i < x.length; i++) derivative[i] = (x[i] - x0[i]) / sigma;
        derivatives.add(derivative);
        if (derivatives.size() > ORDER) derivatives.removeFirst();

        int order = Math.min(stepIndex + 1, ORDER);
        float[] sum = new float[x.length];
        for (int k = 0; k < Math.min(order, derivatives.size()); k++) { // diffusers' zip(coeffs, reversed(derivatives))
            float c = (float) lmsCoefficient(order, stepIndex, k);
            float[] d = derivatives.get(derivatives.size() - 1 - k);
            for (int i = 0; i < sum.length; i++) sum[i] = sum[i] + c * d[i];
        }
        float[] prev = new float[x.length];
        for (int i = 0; i < x.length; i++) prev[i] = x[i] + sum[i];
        nextStep++;
        return Latents.like(prev, sample);
    }
}
