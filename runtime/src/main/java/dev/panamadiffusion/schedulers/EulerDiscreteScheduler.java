package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;

/**
 * Euler's method on the probability-flow ODE in sigma space (Karras et al. 2022, algorithm 2 without churn), as
 * diffusers 0.27.2's {@code EulerDiscreteScheduler} with {@code s_churn = 0} (A1111 "Euler"; "Euler Karras" with
 * {@code use_karras_sigmas}). Deterministic: the noise generator is not used. (diffusers draws a noise tensor in every
 * step even though churn 0 multiplies it away; skipping it changes no result.)
 */
public final class EulerDiscreteScheduler extends SigmaScheduler {
    static final SchedulerConfig DEFAULTS = SchedulerConfig.parse("""
            {"_class_name": "EulerDiscreteScheduler", "num_train_timesteps": 1000, "beta_start": 0.0001,
             "beta_end": 0.02, "beta_schedule": "linear", "trained_betas": null, "prediction_type": "epsilon",
             "interpolation_type": "linear", "use_karras_sigmas": false, "sigma_min": null, "sigma_max": null,
             "timestep_spacing": "linspace", "timestep_type": "discrete", "steps_offset": 0,
             "rescale_betas_zero_snr": false}""");


    public EulerDiscreteScheduler(SchedulerConfig config) {
        this.config = config.withDefaults(DEFAULTS);
        if (!"linear".equals(this.config.interpolationType())) {
            throw new IllegalArgumentException("EulerDiscreteScheduler: interpolation_type '" + this.config.interpolationType()
                    + "' is not supported (linear)");
        }
        String timestepType = this.config.timestepType();
        if (!"discrete".equals(timestepType) && !"continuous".equals(timestepType)) {
            throw new IllegalArgumentException("timestep_type '" + timestepType + "' is not supported (discrete, continuous)");
        }
        this.predictionType = PredictionType.of(this.config.predictionType());
        TrainingSchedule training = TrainingSchedule.of(this.config);
        this.trainSigmas = Sigmas.fromAlphasCumprod(training.alphasCumprodForSigmas(this.config));
        this.options = new SigmaSchedule.Options(Spacing.Kind.of(this.config.timestepSpacing()), this.config.stepsOffset(),
                this.config.useKarrasSigmas(), this.config.sigmaMin(), this.config.sigmaMax(),
                "continuous".equals(timestepType) && predictionType == PredictionType.V_PREDICTION);
    }


    @Override
    public Tensor step(Tensor modelOutput, int stepIndex, Tensor sample, NoiseGenerator noise) {
        Latents.requireStepIndex(stepIndex, schedule.size());
        Latents.requireSameShape(modelOutput, sample);
        float sigma = schedule.sigmas()[stepIndex];
        float sigmaNext = schedule.sigmas()[stepIndex + 1];
        float[] out = Latents.read(modelOutput, "model output");
        float[] x = Latents.read(sample, "sample");
        float[] x0 = KDiffusion.denoised(predictionType, out, x, sigma);
        float dt = sigmaNext - sigma;
        float[] prev = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            float derivative = (x[i] - x0[i]) / sigma;
            prev[i] = x[i] + derivative * dt;
        }
        return Latents.like(prev, sample);
    }
}
