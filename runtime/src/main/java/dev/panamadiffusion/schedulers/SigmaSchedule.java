package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.tensor.Tensor;

/**
 * Inference timesteps and noise levels for the Euler and LMS schedulers, computed as diffusers 0.27.2's
 * {@code EulerDiscreteScheduler.set_timesteps} does (the ancestral and LMS variants are subsets of it).
 *
 * @param timesteps model timesteps, float32 values, descending
 * @param sigmas    one noise level per timestep plus a final 0, float32
 */
record SigmaSchedule(double[] timesteps, float[] sigmas) {

    /** Options of the sigma schedule, resolved from a scheduler config. */
    record Options(Spacing.Kind spacing, int stepsOffset, boolean karras, Double sigmaMin, Double sigmaMax,
                   boolean continuousTimesteps) {}

    /**
     * @param trainSigmas ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5 per training timestep, ascending in t
     */
    static SigmaSchedule of(float[] trainSigmas, int numInferenceSteps, Options options) {
        int numTrain = trainSigmas.length;
        if (numInferenceSteps < 1 || numInferenceSteps > numTrain) {
            throw new IllegalArgumentException("num_inference_steps " + numInferenceSteps + " must be in [1, " + numTrain + "]");
        }
        double[] timesteps = Spacing.sigmaSchedulerTimesteps(options.spacing(), numTrain, numInferenceSteps, options.stepsOffset());
        double[] sigmas = Sigmas.interp(timesteps, trainSigmas);
        if (options.karras()) {
            float[] logSigmas = Sigmas.logSigmas(trainSigmas);
            double sigmaMin = options.sigmaMin() != null ? options.sigmaMin() : sigmas[sigmas.length - 1];
            double sigmaMax = options.sigmaMax() != null ? options.sigmaMax() : sigmas[0];
            sigmas = Sigmas.karras(sigmaMin, sigmaMax, numInferenceSteps);
            timesteps = new double[sigmas.length];
            for (int i = 0; i < sigmas.length; i++) timesteps[i] = (float) Sigmas.sigmaToT(sigmas[i], logSigmas);
        }
        float[] out = new float[sigmas.length + 1];
        for (int i = 0; i < sigmas.length; i++) out[i] = (float) sigmas[i];
        if (options.continuousTimesteps()) {
            for (int i = 0; i < timesteps.length; i++) timesteps[i] = 0.25f * (float) Math.log(out[i]);
        }
        return new SigmaSchedule(timesteps, out);
    }

    /** The largest noise level of the schedule. */
    float maxSigma() {
        float max = 0f;
        for (float s : sigmas) max = Math.max(max, s);
        return max;
    }

    /**
     * The standard deviation of the initial noise: the largest sigma, or sqrt(sigma_max² + 1) for leading spacing
     * (diffusers' {@code init_noise_sigma}).
     */
    double initNoiseSigma(Spacing.Kind spacing) {
        float max = maxSigma();
        return spacing == Spacing.Kind.LEADING ? (float) Math.sqrt(max * max + 1f) : max;
    }

    int size() { return timesteps.length; }

    /** {@code sample / (sigma² + 1) ** 0.5} at step {@code i}. */
    Tensor scale(Tensor sample, int i) {
        Latents.requireStepIndex(i, timesteps.length);
        float sigma = sigmas[i];
        return Latents.divide(sample, (float) Math.sqrt(sigma * sigma + 1f));
    }
}
