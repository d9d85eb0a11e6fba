package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;

/**
 * Ancestral sampling with Euler steps (k-diffusion's {@code sample_euler_ancestral}), as diffusers 0.27.2's
 * {@code EulerAncestralDiscreteScheduler} (A1111 "Euler a"): each step goes down to sigma_down by an Euler step and
 * adds fresh noise of size sigma_up, drawn from the generator passed to {@link #step} (one draw of the latents' shape
 * per step, the last step included, where it is multiplied by 0 — as diffusers draws it).
 */
public final class EulerAncestralDiscreteScheduler extends SigmaScheduler {
    static final SchedulerConfig DEFAULTS = SchedulerConfig.parse("""
            {"_class_name": "EulerAncestralDiscreteScheduler", "num_train_timesteps": 1000, "beta_start": 0.0001,
             "beta_end": 0.02, "beta_schedule": "linear", "trained_betas": null, "prediction_type": "epsilon",
             "timestep_spacing": "linspace", "steps_offset": 0, "rescale_betas_zero_snr": false}""");


    public EulerAncestralDiscreteScheduler(SchedulerConfig config) {
        this.config = config.withDefaults(DEFAULTS);
        this.predictionType = PredictionType.of(this.config.predictionType());
        if (predictionType == PredictionType.SAMPLE) {
            throw new IllegalArgumentException("EulerAncestralDiscreteScheduler supports prediction_type epsilon and v_prediction, not sample");
        }
        TrainingSchedule training = TrainingSchedule.of(this.config);
        this.trainSigmas = Sigmas.fromAlphasCumprod(training.alphasCumprodForSigmas(this.config));
        this.options = new SigmaSchedule.Options(Spacing.Kind.of(this.config.timestepSpacing()), this.config.stepsOffset(),
                false, null, null, false);
    }


    @Override
    public Tensor step(Tensor modelOutput, int stepIndex, Tensor sample, NoiseGenerator noise) {
        Latents.requireStepIndex(stepIndex, schedule.size());
        Latents.requireSameShape(modelOutput, sample);
        if (noise == null) throw new IllegalArgumentException("Euler a needs a noise generator");
        float sigmaFrom = schedule.sigmas()[stepIndex];
        float sigmaTo = schedule.sigmas()[stepIndex + 1];
        float[] out = Latents.read(modelOutput, "model output");
        float[] x = Latents.read(sample, "sample");
        float[] x0 = KDiffusion.denoised(predictionType, out, x, sigmaFrom);

        float from2 = sigmaFrom * sigmaFrom;
        float to2 = sigmaTo * sigmaTo;
        float sigmaUp = (float) Math.sqrt(to2 * (from2 - to2) / from2);
        float sigmaDown = (float) Math.sqrt(Math.max(0f, to2 - sigmaUp * sigmaUp));
        float dt = sigmaDown - sigmaFrom;
        float[] z = Latents.read(noise.randn(modelOutput.shape()), "ancestral noise");
        if (z.length != x.length) throw new IllegalStateException("noise generator returned " + z.length + " values for " + x.length);
        float[] prev = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            float derivative = (x[i] - x0[i]) / sigmaFrom;
            prev[i] = x[i] + derivative * dt + z[i] * sigmaUp;
        }
        return Latents.like(prev, sample);
    }
}
