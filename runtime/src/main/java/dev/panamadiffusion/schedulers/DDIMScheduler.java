package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;

/**
 * Denoising diffusion implicit models (Song et al. 2020), as diffusers 0.27.2's {@code DDIMScheduler}: deterministic
 * for eta 0 (A1111 "DDIM"), with {@code eta > 0} adding variance noise drawn from the generator passed to
 * {@link #step}. Element-wise arithmetic is float32, in diffusers' order.
 */
public final class DDIMScheduler implements Scheduler {
    /** diffusers' constructor defaults, used for keys a config lacks. */
    static final SchedulerConfig DEFAULTS = SchedulerConfig.parse("""
            {"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02,
             "beta_schedule": "linear", "trained_betas": null, "clip_sample": true, "set_alpha_to_one": true,
             "steps_offset": 0, "prediction_type": "epsilon", "thresholding": false, "dynamic_thresholding_ratio": 0.995,
             "clip_sample_range": 1.0, "sample_max_value": 1.0, "timestep_spacing": "leading",
             "rescale_betas_zero_snr": false}""");

    private final SchedulerConfig config;
    private final TrainingSchedule schedule;
    private final PredictionType predictionType;
    private final Spacing.Kind spacing;
    private final float finalAlphaCumprod;
    private final double eta;
    private int numInferenceSteps;
    private double[] timesteps = new double[0];

    public DDIMScheduler(SchedulerConfig config) {
        this(config, 0.0);
    }

    /** A DDIM sampler with stochasticity {@code eta} (0: deterministic DDIM; 1: DDPM-like variance). */
    public DDIMScheduler(SchedulerConfig config, double eta) {
        this.config = config.withDefaults(DEFAULTS);
        if (this.config.thresholding()) {
            throw new IllegalArgumentException("DDIMScheduler: thresholding (dynamic thresholding for pixel-space models) is not supported");
        }
        if (!(eta >= 0)) throw new IllegalArgumentException("eta must be >= 0, got " + eta);
        this.schedule = TrainingSchedule.of(this.config);
        this.predictionType = PredictionType.of(this.config.predictionType());
        this.spacing = Spacing.Kind.of(this.config.timestepSpacing());
        this.finalAlphaCumprod = this.config.setAlphaToOne() ? 1f : schedule.alphaCumprod(0);
        this.eta = eta;
    }

    /** The resolved configuration (the given keys plus diffusers' defaults for this class). */
    public SchedulerConfig config() { return config; }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        int numTrain = schedule.numTrainTimesteps();
        if (numInferenceSteps < 1 || numInferenceSteps > numTrain) {
            throw new IllegalArgumentException("num_inference_steps " + numInferenceSteps + " must be in [1, " + numTrain + "]");
        }
        this.numInferenceSteps = numInferenceSteps;
        timesteps = switch (spacing) {
            case LINSPACE -> Spacing.reverse(Spacing.round(Spacing.linspace(0, numTrain - 1, numInferenceSteps)));
            case LEADING -> Spacing.add(Spacing.reverse(Spacing.round(
                    Spacing.scaledRange(numInferenceSteps, numTrain / numInferenceSteps))), config.stepsOffset());
            case TRAILING -> Spacing.add(Spacing.round(Spacing.arange(numTrain, 0, -(double) numTrain / numInferenceSteps)), -1);
        };
    }

    @Override
    public double[] timesteps() { return timesteps.clone(); }

    @Override
    public double initNoiseSigma() { return 1.0; }

    @Override
    public Tensor scaleModelInput(Tensor sample, int stepIndex) {
        Latents.requireStepIndex(stepIndex, timesteps.length);
        return sample;
    }

    /** Stateless: nothing to move (diffusers' DDIM has no {@code set_begin_index}; it reads the timestep given). */
    @Override
    public void setBeginIndex(int beginIndex) {
        Latents.requireStepIndex(beginIndex, timesteps.length);
    }

    @Override
    public Tensor addNoise(Tensor original, Tensor noise, int stepIndex) {
        Latents.requireStepIndex(stepIndex, timesteps.length);
        return schedule.addNoise(original, noise, (int) timesteps[stepIndex]);
    }

    @Override
    public Tensor step(Tensor modelOutput, int stepIndex, Tensor sample, NoiseGenerator noise) {
        Latents.requireStepIndex(stepIndex, timesteps.length);
        Latents.requireSameShape(modelOutput, sample);
        int t = (int) timesteps[stepIndex];
        int prevT = t - schedule.numTrainTimesteps() / numInferenceSteps;
        float alphaProdT = schedule.alphaCumprod(t);
        float alphaProdTPrev = prevT >= 0 ? schedule.alphaCumprod(prevT) : finalAlphaCumprod;
        float betaProdT = 1f - alphaProdT;
        float sqrtAlpha = (float) Math.sqrt(alphaProdT);
        float sqrtBeta = (float) Math.sqrt(betaProdT);

        float[] eps = Latents.read(modelOutput, "model output");
        float[] x = Latents.read(sample, "sample");
        float[] x0 = new float[x.length];
        float[] predEps = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            switch (predictionType) {
                case EPSILON -> {
                    x0[i] = (x[i] - sqrtBeta * eps[i]) / sqrtAlpha;
                    predEps[i] = eps[i];
                }
                case SAMPLE -> {
                    x0[i] = eps[i];
                    predEps[i] = (x[i] - sqrtAlpha * x0[i]) / sqrtBeta;
                }
                case V_PREDICTION -> {
                    x0[i] = sqrtAlpha * x[i] - sqrtBeta * eps[i];
                    predEps[i] = sqrtAlpha * eps[i] + sqrtBeta * x[i];
                }
            }
        }
        if (config.clipSample()) {
            float range = config.clipSampleRange().floatValue();
            for (int i = 0; i < x0.length; i++) x0[i] = Math.min(Math.max(x0[i], -range), range);
        }
        float betaProdTPrev = 1f - alphaProdTPrev;
        float variance = (betaProdTPrev / betaProdT) * (1f - alphaProdT / alphaProdTPrev);
        float stdDevT = (float) eta * (float) Math.sqrt(variance);
        float directionCoeff = (float) Math.sqrt(1f - alphaProdTPrev - stdDevT * stdDevT);
        float sqrtAlphaPrev = (float) Math.sqrt(alphaProdTPrev);
        float[] prev = new float[x.length];
        for (int i = 0; i < x.length; i++) prev[i] = sqrtAlphaPrev * x0[i] + directionCoeff * predEps[i];
        if (eta > 0) {
            if (noise == null) throw new IllegalArgumentException("DDIM with eta > 0 needs a noise generator");
            float[] z = Latents.read(noise.randn(modelOutput.shape()), "variance noise");
            for (int i = 0; i < prev.length; i++) prev[i] = prev[i] + stdDevT * z[i];
        }
        return Latents.like(prev, sample);
    }
}
