package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;

import java.util.Arrays;

/**
 * Latent consistency model sampling (Luo et al. 2023, arXiv:2310.04378), as diffusers 0.27.2's {@code LCMScheduler}
 * (A1111 "LCM"): for LCM-distilled UNets and LCM-LoRA, 1 to 8 steps, guidance off or low.
 *
 * <p>The timesteps are a subset of the distillation schedule: with k = num_train_timesteps // original_inference_steps,
 * the schedule is k·i − 1 for i = original_inference_steps … 1 (999, 979, …, 19 for 50), and n inference steps take the
 * entries at indices floor(j · len / n), j = 0 … n − 1 (4 steps: 999, 759, 499, 259). {@code timestep_spacing} and
 * {@code steps_offset} are accepted but unused, as in diffusers 0.27.2, whose LCM schedule always starts at the last
 * training timestep anyway.
 *
 * <p>Each step predicts x0 (epsilon, v or sample parameterisation, optionally clipped), applies the consistency
 * boundary condition {@code denoised = c_out · x0 + c_skip · x_t} with c_skip = σ_d² / ((s·t)² + σ_d²),
 * c_out = s·t / sqrt((s·t)² + σ_d²), σ_d = 0.5, s = {@code timestep_scaling}; and, except at the last step, noises
 * {@code denoised} back to the next timestep with fresh noise drawn from the generator passed to {@link #step}:
 * {@code sqrt(ᾱ_prev) · denoised + sqrt(1 − ᾱ_prev) · z} (so one step draws nothing). Element-wise arithmetic is
 * float32, in diffusers' order.
 */
public final class LCMScheduler implements Scheduler {
    /** diffusers' constructor defaults, used for keys a config lacks. */
    static final SchedulerConfig DEFAULTS = SchedulerConfig.parse("""
            {"_class_name": "LCMScheduler", "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "trained_betas": null, "original_inference_steps": 50,
             "clip_sample": false, "clip_sample_range": 1.0, "set_alpha_to_one": true, "steps_offset": 0,
             "prediction_type": "epsilon", "thresholding": false, "dynamic_thresholding_ratio": 0.995,
             "sample_max_value": 1.0, "timestep_spacing": "leading", "timestep_scaling": 10.0,
             "rescale_betas_zero_snr": false}""");

    /** diffusers' {@code sigma_data} of the boundary-condition scalings. */
    private static final float SIGMA_DATA = 0.5f;

    private final SchedulerConfig config;
    private final TrainingSchedule schedule;
    private final PredictionType predictionType;
    private final float finalAlphaCumprod;
    private int[] timesteps = new int[0];
    private Tensor denoised;

    public LCMScheduler(SchedulerConfig config) {
        this.config = config.withDefaults(DEFAULTS);
        if (this.config.thresholding()) {
            throw new IllegalArgumentException("LCMScheduler: thresholding (dynamic thresholding for pixel-space models) is not supported");
        }
        this.schedule = TrainingSchedule.of(this.config);
        this.predictionType = PredictionType.of(this.config.predictionType());
        Spacing.Kind.of(this.config.timestepSpacing()); // unused by LCM, but an unknown value is still a config error
        this.finalAlphaCumprod = this.config.setAlphaToOne() ? 1f : schedule.alphaCumprod(0);
        int original = this.config.originalInferenceSteps();
        if (original > schedule.numTrainTimesteps()) {
            throw new IllegalArgumentException("original_inference_steps " + original + " cannot be larger than"
                    + " num_train_timesteps " + schedule.numTrainTimesteps());
        }
    }

    /** The resolved configuration (the given keys plus diffusers' defaults for this class). */
    public SchedulerConfig config() { return config; }

    /**
     * The LCM distillation schedule, descending: k·i − 1 for i = original_inference_steps … 1, k = num_train_timesteps
     * // original_inference_steps (diffusers' {@code lcm_origin_timesteps}, reversed).
     */
    public int[] originTimesteps() {
        int original = config.originalInferenceSteps();
        int k = schedule.numTrainTimesteps() / original;
        int[] out = new int[original];
        for (int i = 0; i < original; i++) out[i] = (original - i) * k - 1;
        return out;
    }

    /**
     * diffusers' {@code set_timesteps(num_inference_steps)} (strength 1): {@code numInferenceSteps} evenly spaced
     * indices into {@link #originTimesteps()}; at most original_inference_steps.
     */
    @Override
    public void setTimesteps(int numInferenceSteps) {
        int numTrain = schedule.numTrainTimesteps();
        int original = config.originalInferenceSteps();
        if (numInferenceSteps < 1 || numInferenceSteps > numTrain) {
            throw new IllegalArgumentException("num_inference_steps " + numInferenceSteps + " must be in [1, " + numTrain + "]");
        }
        if (numInferenceSteps > original) {
            throw new IllegalArgumentException("num_inference_steps " + numInferenceSteps + " cannot be larger than"
                    + " original_inference_steps " + original + ": LCM takes its steps from that schedule");
        }
        int[] origin = originTimesteps();
        double step = (double) origin.length / numInferenceSteps; // np.linspace(0, len, n, endpoint=False)
        int[] out = new int[numInferenceSteps];
        for (int j = 0; j < numInferenceSteps; j++) out[j] = origin[(int) Math.floor(j * step)];
        install(out);
    }

    /**
     * diffusers' {@code set_timesteps(timesteps=...)}: a custom schedule, strictly descending, each in
     * [0, num_train_timesteps). (diffusers only warns when they are off the distillation schedule; so does nothing here.)
     */
    public void setTimesteps(int[] custom) {
        if (custom == null || custom.length == 0) throw new IllegalArgumentException("custom timesteps are empty");
        int numTrain = schedule.numTrainTimesteps();
        for (int i = 0; i < custom.length; i++) {
            if (custom[i] < 0 || custom[i] >= numTrain) {
                throw new IllegalArgumentException("custom timestep " + custom[i] + " is outside [0, " + numTrain + ")");
            }
            if (i > 0 && custom[i] >= custom[i - 1]) {
                throw new IllegalArgumentException("custom timesteps must be in descending order: " + Arrays.toString(custom));
            }
        }
        install(custom.clone());
    }

    private void install(int[] t) {
        timesteps = t;
        denoised = null;
    }

    @Override
    public double[] timesteps() {
        double[] out = new double[timesteps.length];
        for (int i = 0; i < out.length; i++) out[i] = timesteps[i];
        return out;
    }

    @Override
    public double initNoiseSigma() { return 1.0; }

    @Override
    public Tensor scaleModelInput(Tensor sample, int stepIndex) {
        Latents.requireStepIndex(stepIndex, timesteps.length);
        return sample;
    }

    /** diffusers' {@code get_scalings_for_boundary_condition_discrete}: {c_skip, c_out} at timestep t, in float32. */
    float[] boundaryScalings(int t) {
        float scaled = (float) t * config.timestepScaling().floatValue();
        float d = scaled * scaled + SIGMA_DATA * SIGMA_DATA;
        float cSkip = (1f / d) * (SIGMA_DATA * SIGMA_DATA);   // torch evaluates scalar / tensor as reciprocal × scalar
        float cOut = scaled / (float) Math.sqrt(d);
        return new float[] {cSkip, cOut};
    }

    /** LCM's step reads only its own and the next timestep: nothing to move but the last estimate. */
    @Override
    public void setBeginIndex(int beginIndex) {
        Latents.requireStepIndex(beginIndex, timesteps.length);
        denoised = null;
    }

    @Override
    public Tensor addNoise(Tensor original, Tensor noise, int stepIndex) {
        Latents.requireStepIndex(stepIndex, timesteps.length);
        return schedule.addNoise(original, noise, timesteps[stepIndex]);
    }

    @Override
    public Tensor step(Tensor modelOutput, int stepIndex, Tensor sample, NoiseGenerator noise) {
        Latents.requireStepIndex(stepIndex, timesteps.length);
        Latents.requireSameShape(modelOutput, sample);
        boolean last = stepIndex == timesteps.length - 1;
        int t = timesteps[stepIndex];
        int prevT = last ? t : timesteps[stepIndex + 1];
        float alphaProdT = schedule.alphaCumprod(t);
        float alphaProdTPrev = prevT >= 0 ? schedule.alphaCumprod(prevT) : finalAlphaCumprod;
        float sqrtAlpha = (float) Math.sqrt(alphaProdT);
        float sqrtBeta = (float) Math.sqrt(1f - alphaProdT);
        float[] c = boundaryScalings(t);
        float cSkip = c[0], cOut = c[1];

        float[] out = Latents.read(modelOutput, "model output");
        float[] x = Latents.read(sample, "sample");
        float[] den = new float[x.length];
        boolean clip = config.clipSample();
        float range = config.clipSampleRange().floatValue();
        for (int i = 0; i < x.length; i++) {
            float x0 = switch (predictionType) {
                case EPSILON -> (x[i] - sqrtBeta * out[i]) / sqrtAlpha;
                case SAMPLE -> out[i];
                case V_PREDICTION -> sqrtAlpha * x[i] - sqrtBeta * out[i];
            };
            if (clip) x0 = Math.min(Math.max(x0, -range), range);
            den[i] = cOut * x0 + cSkip * x[i];
        }
        denoised = Latents.like(den, sample);
        if (last) return denoised;
        if (noise == null) throw new IllegalArgumentException("LCM needs a noise generator for all but the last step");
        float[] z = Latents.read(noise.randn(modelOutput.shape()), "LCM noise");
        if (z.length != x.length) throw new IllegalStateException("noise generator returned " + z.length + " values for " + x.length);
        float sqrtAlphaPrev = (float) Math.sqrt(alphaProdTPrev);
        float sqrtBetaPrev = (float) Math.sqrt(1f - alphaProdTPrev);
        float[] prev = new float[x.length];
        for (int i = 0; i < x.length; i++) prev[i] = sqrtAlphaPrev * den[i] + sqrtBetaPrev * z[i];
        return Latents.like(prev, sample);
    }

    /**
     * The consistency model's clean-sample estimate of the last {@link #step} (diffusers' {@code denoised} output;
     * what LCM pipelines preview), or null before the first step.
     */
    public Tensor denoised() { return denoised; }
}
