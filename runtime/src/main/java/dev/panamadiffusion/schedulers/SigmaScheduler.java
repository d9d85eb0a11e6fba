package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.tensor.Tensor;

/**
 * What the sigma-space (k-diffusion style) schedulers share: the training noise levels, the inference schedule made
 * from them by {@link #setTimesteps}, the initial noise sigma and the input scaling {@code x / sqrt(sigma² + 1)}.
 * Subclasses set the fields in their constructors and implement {@link #step}.
 */
abstract class SigmaScheduler implements Scheduler {
    SchedulerConfig config;
    PredictionType predictionType;
    float[] trainSigmas;
    SigmaSchedule.Options options;
    SigmaSchedule schedule = new SigmaSchedule(new double[0], new float[] {0f});

    public SchedulerConfig config() { return config; }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        schedule = SigmaSchedule.of(trainSigmas, numInferenceSteps, options);
    }

    @Override
    public double[] timesteps() { return schedule.timesteps().clone(); }

    /** The noise levels of the current schedule, one per timestep plus a final 0. */
    public float[] sigmas() { return schedule.sigmas().clone(); }

    @Override
    public double initNoiseSigma() { return schedule.initNoiseSigma(options.spacing()); }

    @Override
    public Tensor scaleModelInput(Tensor sample, int stepIndex) {
        return schedule.scale(sample, stepIndex);
    }

    /** Euler and Euler a read only the sigmas of the step they take: nothing to move. */
    @Override
    public void setBeginIndex(int beginIndex) {
        Latents.requireStepIndex(beginIndex, schedule.size());
    }

    /** {@code original + noise · σ} (diffusers' sigma-space {@code add_noise}). */
    @Override
    public Tensor addNoise(Tensor original, Tensor noise, int stepIndex) {
        Latents.requireStepIndex(stepIndex, schedule.size());
        return Latents.addNoise(original, 1f, noise, schedule.sigmas()[stepIndex]);
    }
}
