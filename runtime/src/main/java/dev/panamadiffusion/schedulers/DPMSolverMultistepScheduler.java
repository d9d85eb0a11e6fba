package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;

import java.util.Arrays;

/**
 * DPM-Solver and DPM-Solver++ multistep samplers (Lu et al. 2022), as diffusers 0.27.2's
 * {@code DPMSolverMultistepScheduler}: {@code dpmsolver++} (data prediction; with solver order 2 and midpoint this is
 * A1111 "DPM++ 2M", and with {@code use_karras_sigmas} "DPM++ 2M Karras"), {@code dpmsolver} (noise prediction) and
 * their SDE variants {@code sde-dpmsolver++} / {@code sde-dpmsolver}, which draw noise from the generator passed to
 * {@link #step}. Orders 1 to 3 (3 only for the ODE variants), midpoint or heun second-order updates, first-order
 * final steps as configured (always with {@code final_sigmas_type} zero; below 15 steps with
 * {@code lower_order_final}).
 *
 * <p>Scalars are float32 and element-wise updates float32 in diffusers' order. Stateful: steps must be taken in
 * order, from index 0 (or the {@link #setBeginIndex} one), after {@link #setTimesteps}.
 */
public final class DPMSolverMultistepScheduler implements Scheduler {
    static final SchedulerConfig DEFAULTS = SchedulerConfig.parse("""
            {"_class_name": "DPMSolverMultistepScheduler", "num_train_timesteps": 1000, "beta_start": 0.0001,
             "beta_end": 0.02, "beta_schedule": "linear", "trained_betas": null, "solver_order": 2,
             "prediction_type": "epsilon", "thresholding": false, "dynamic_thresholding_ratio": 0.995,
             "sample_max_value": 1.0, "algorithm_type": "dpmsolver++", "solver_type": "midpoint",
             "lower_order_final": true, "euler_at_final": false, "use_karras_sigmas": false, "use_lu_lambdas": false,
             "final_sigmas_type": "zero", "lambda_min_clipped": -Infinity, "variance_type": null,
             "timestep_spacing": "linspace", "steps_offset": 0, "rescale_betas_zero_snr": false}""");

    private enum Algorithm { DPMSOLVER_PP, DPMSOLVER, SDE_DPMSOLVER_PP, SDE_DPMSOLVER }

    private final SchedulerConfig config;
    private final PredictionType predictionType;
    private final Algorithm algorithm;
    private final boolean heun;
    private final int solverOrder;
    private final Spacing.Kind spacing;
    private final float[] alphasCumprod;
    private final float[] trainSigmas;
    private final float[] lambdas;

    private double[] timesteps = new double[0];
    private float[] sigmas = {0f};
    private final float[][] modelOutputs;
    private int lowerOrderNums;
    private int nextStep;

    public DPMSolverMultistepScheduler(SchedulerConfig config) {
        SchedulerConfig c = config.withDefaults(DEFAULTS);
        // diffusers maps the DEIS / UniPC names it does not implement here onto the nearest supported ones
        if ("deis".equals(c.algorithmType())) c = c.with("algorithm_type", "dpmsolver++");
        if ("logrho".equals(c.solverType()) || "bh1".equals(c.solverType()) || "bh2".equals(c.solverType())) {
            c = c.with("solver_type", "midpoint");
        }
        this.config = c;
        this.algorithm = switch (c.algorithmType()) {
            case "dpmsolver++" -> Algorithm.DPMSOLVER_PP;
            case "dpmsolver" -> Algorithm.DPMSOLVER;
            case "sde-dpmsolver++" -> Algorithm.SDE_DPMSOLVER_PP;
            case "sde-dpmsolver" -> Algorithm.SDE_DPMSOLVER;
            default -> throw new IllegalArgumentException("algorithm_type '" + c.algorithmType()
                    + "' is not supported (dpmsolver++, dpmsolver, sde-dpmsolver++, sde-dpmsolver)");
        };
        this.heun = switch (c.solverType()) {
            case "midpoint" -> false;
            case "heun" -> true;
            default -> throw new IllegalArgumentException("solver_type '" + c.solverType() + "' is not supported (midpoint, heun)");
        };
        this.solverOrder = c.solverOrder();
        boolean sde = algorithm == Algorithm.SDE_DPMSOLVER_PP || algorithm == Algorithm.SDE_DPMSOLVER;
        if (solverOrder < 1 || solverOrder > 3 || (sde && solverOrder == 3)) {
            throw new IllegalArgumentException("solver_order " + solverOrder + " is not supported for " + c.algorithmType()
                    + " (1-3; at most 2 for the SDE variants)");
        }
        if (!"zero".equals(c.finalSigmasType()) && !"sigma_min".equals(c.finalSigmasType())) {
            throw new IllegalArgumentException("final_sigmas_type '" + c.finalSigmasType() + "' is not supported (zero, sigma_min)");
        }
        if (!dataPrediction() && "zero".equals(c.finalSigmasType())) {
            throw new IllegalArgumentException("final_sigmas_type zero is not supported for algorithm_type " + c.algorithmType()
                    + "; use sigma_min");
        }
        if (c.thresholding()) {
            throw new IllegalArgumentException("DPMSolverMultistepScheduler: thresholding (for pixel-space models) is not supported");
        }
        if (c.varianceType() != null) {
            throw new IllegalArgumentException("variance_type '" + c.varianceType() + "' (learned variance) is not supported");
        }
        this.predictionType = PredictionType.of(c.predictionType());
        this.spacing = Spacing.Kind.of(c.timestepSpacing());
        this.alphasCumprod = TrainingSchedule.of(c).alphasCumprodForSigmas(c);
        this.trainSigmas = Sigmas.fromAlphasCumprod(alphasCumprod);
        this.lambdas = new float[alphasCumprod.length];
        for (int i = 0; i < lambdas.length; i++) {
            float alphaT = (float) Math.sqrt(alphasCumprod[i]);
            float sigmaT = (float) Math.sqrt(1f - alphasCumprod[i]);
            lambdas[i] = (float) Math.log(alphaT) - (float) Math.log(sigmaT);
        }
        this.modelOutputs = new float[solverOrder][];
    }

    public SchedulerConfig config() { return config; }

    private boolean dataPrediction() {
        return algorithm == Algorithm.DPMSOLVER_PP || algorithm == Algorithm.SDE_DPMSOLVER_PP;
    }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        int numTrain = alphasCumprod.length;
        if (numInferenceSteps < 1 || numInferenceSteps > numTrain) {
            throw new IllegalArgumentException("num_inference_steps " + numInferenceSteps + " must be in [1, " + numTrain + "]");
        }
        // searchsorted(flip(lambda_t), lambda_min_clipped): how many of the lowest log-SNRs lie below the clip
        int clippedIdx = 0;
        for (int i = numTrain - 1; i >= 0 && lambdas[i] < config.lambdaMinClipped(); i--) clippedIdx++;
        int lastTimestep = numTrain - clippedIdx;
        int n = numInferenceSteps;
        double[] ts = switch (spacing) {
            case LINSPACE -> dropLast(Spacing.reverse(Spacing.round(Spacing.linspace(0, lastTimestep - 1, n + 1))));
            case LEADING -> Spacing.add(dropLast(Spacing.reverse(Spacing.round(
                    Spacing.scaledRange(n + 1, lastTimestep / (n + 1))))), config.stepsOffset());
            case TRAILING -> Spacing.add(Spacing.round(Spacing.arange(lastTimestep, 0, -(double) numTrain / n)), -1);
        };
        double[] s;
        if (config.useKarrasSigmas()) {
            float[] logSigmas = Sigmas.logSigmas(trainSigmas);
            double sigmaMin = config.sigmaMin() != null ? config.sigmaMin() : trainSigmas[0];
            double sigmaMax = config.sigmaMax() != null ? config.sigmaMax() : trainSigmas[numTrain - 1];
            s = Sigmas.karras(sigmaMin, sigmaMax, n);
            ts = new double[s.length];
            for (int i = 0; i < s.length; i++) ts[i] = Math.rint(Sigmas.sigmaToT(s[i], logSigmas));
        } else if (config.useLuLambdas()) {
            float[] logSigmas = Sigmas.logSigmas(trainSigmas);
            double lambdaMin = logSigmas[0];
            double lambdaMax = logSigmas[numTrain - 1];
            double[] ramp = Spacing.linspace(0, 1, n);
            s = new double[n];
            ts = new double[n];
            for (int i = 0; i < n; i++) {
                s[i] = Math.exp(lambdaMax + ramp[i] * (lambdaMin - lambdaMax));
                ts[i] = Math.rint(Sigmas.sigmaToT(s[i], logSigmas));
            }
        } else {
            s = Sigmas.interp(ts, trainSigmas);
        }
        float sigmaLast = "sigma_min".equals(config.finalSigmasType()) ? trainSigmas[0] : 0f;
        sigmas = new float[s.length + 1];
        for (int i = 0; i < s.length; i++) sigmas[i] = (float) s[i];
        sigmas[s.length] = sigmaLast;
        timesteps = ts;
        Arrays.fill(modelOutputs, null);
        lowerOrderNums = 0;
        nextStep = 0;
    }

    private static double[] dropLast(double[] x) {
        return Arrays.copyOf(x, x.length - 1);
    }

    @Override
    public double[] timesteps() { return timesteps.clone(); }

    /** The noise levels of the current schedule, one per timestep plus the final one. */
    public float[] sigmas() { return sigmas.clone(); }

    @Override
    public double initNoiseSigma() { return 1.0; }

    @Override
    public Tensor scaleModelInput(Tensor sample, int stepIndex) {
        Latents.requireStepIndex(stepIndex, timesteps.length);
        return sample;
    }

    /** The first step is taken at {@code beginIndex}, first order (no history yet), as diffusers' {@code set_begin_index}. */
    @Override
    public void setBeginIndex(int beginIndex) {
        Latents.requireStepIndex(beginIndex, timesteps.length);
        if (lowerOrderNums != 0) throw new IllegalStateException("setBeginIndex after a step");
        nextStep = beginIndex;
    }

    @Override
    public Tensor addNoise(Tensor original, Tensor noise, int stepIndex) {
        Latents.requireStepIndex(stepIndex, timesteps.length);
        AlphaSigma as = AlphaSigma.of(sigmas[stepIndex]);
        return Latents.addNoise(original, as.alpha(), noise, as.sigma());
    }

    @Override
    public Tensor step(Tensor modelOutput, int stepIndex, Tensor sample, NoiseGenerator noise) {
        Latents.requireStepIndex(stepIndex, timesteps.length);
        Latents.requireSameShape(modelOutput, sample);
        if (stepIndex != nextStep) {
            throw new IllegalStateException("DPM-Solver steps must be taken in order: expected step " + nextStep + ", got " + stepIndex);
        }
        int count = timesteps.length;
        boolean lowerOrderFinal = stepIndex == count - 1 && (config.eulerAtFinal()
                || (config.lowerOrderFinal() && count < 15) || "zero".equals(config.finalSigmasType()));
        boolean lowerOrderSecond = stepIndex == count - 2 && config.lowerOrderFinal() && count < 15;

        float[] x = Latents.read(sample, "sample");
        float[] converted = convertModelOutput(Latents.read(modelOutput, "model output"), x, sigmas[stepIndex]);
        System.arraycopy(modelOutputs, 1, modelOutputs, 0, solverOrder - 1);
        modelOutputs[solverOrder - 1] = converted;

        float[] z = null;
        if (algorithm == Algorithm.SDE_DPMSOLVER_PP || algorithm == Algorithm.SDE_DPMSOLVER) {
            if (noise == null) throw new IllegalArgumentException(config.algorithmType() + " needs a noise generator");
            z = Latents.read(noise.randn(modelOutput.shape()), "noise");
        }
        float[] prev;
        if (solverOrder == 1 || lowerOrderNums < 1 || lowerOrderFinal) {
            prev = firstOrderUpdate(converted, stepIndex, x, z);
        } else if (solverOrder == 2 || lowerOrderNums < 2 || lowerOrderSecond) {
            prev = secondOrderUpdate(stepIndex, x, z);
        } else {
            prev = thirdOrderUpdate(stepIndex, x);
        }
        if (lowerOrderNums < solverOrder) lowerOrderNums++;
        nextStep++;
        return Latents.like(prev, sample);
    }

    /** alpha_t = 1 / sqrt(sigma² + 1) and sigma_t = sigma * alpha_t of the variance-preserving process. */
    private record AlphaSigma(float alpha, float sigma) {
        static AlphaSigma of(float sigma) {
            float alpha = 1f / (float) Math.sqrt(sigma * sigma + 1f);
            return new AlphaSigma(alpha, sigma * alpha);
        }

        /** The half log-SNR log(alpha_t) - log(sigma_t) (+inf at sigma 0). */
        float lambda() {
            return (float) Math.log(alpha) - (float) Math.log(sigma);
        }
    }

    /** The model output as the solver needs it: x0 for the ++ variants, the noise for the others. */
    private float[] convertModelOutput(float[] out, float[] x, float sigma) {
        AlphaSigma as = AlphaSigma.of(sigma);
        float a = as.alpha();
        float s = as.sigma();
        float[] r = new float[x.length];
        if (dataPrediction()) {
            switch (predictionType) {
                case EPSILON -> { for (int i = 0; i < r.length; i++) r[i] = (x[i] - s * out[i]) / a; }
                case SAMPLE -> System.arraycopy(out, 0, r, 0, r.length);
                case V_PREDICTION -> { for (int i = 0; i < r.length; i++) r[i] = a * x[i] - s * out[i]; }
            }
        } else {
            switch (predictionType) {
                case EPSILON -> System.arraycopy(out, 0, r, 0, r.length);
                case SAMPLE -> { for (int i = 0; i < r.length; i++) r[i] = (x[i] - a * out[i]) / s; }
                case V_PREDICTION -> { for (int i = 0; i < r.length; i++) r[i] = a * out[i] + s * x[i]; }
            }
        }
        return r;
    }

    private static float exp(float v) {
        return (float) Math.exp(v);
    }

    private float[] firstOrderUpdate(float[] m, int i, float[] x, float[] z) {
        AlphaSigma t = AlphaSigma.of(sigmas[i + 1]);
        AlphaSigma s0 = AlphaSigma.of(sigmas[i]);
        float h = t.lambda() - s0.lambda();
        return switch (algorithm) {
            case DPMSOLVER_PP -> combine(new float[] {t.sigma() / s0.sigma(), -(t.alpha() * (exp(-h) - 1f))}, x, m);
            case DPMSOLVER -> combine(new float[] {t.alpha() / s0.alpha(), -(t.sigma() * (exp(h) - 1f))}, x, m);
            case SDE_DPMSOLVER_PP -> combine(new float[] {t.sigma() / s0.sigma() * exp(-h),
                    t.alpha() * (1f - exp(-2f * h)), t.sigma() * (float) Math.sqrt(1f - exp(-2f * h))}, x, m, z);
            case SDE_DPMSOLVER -> combine(new float[] {t.alpha() / s0.alpha(), -(2f * (t.sigma() * (exp(h) - 1f))),
                    t.sigma() * (float) Math.sqrt(exp(2f * h) - 1f)}, x, m, z);
        };
    }

    private float[] secondOrderUpdate(int i, float[] x, float[] z) {
        AlphaSigma t = AlphaSigma.of(sigmas[i + 1]);
        AlphaSigma s0 = AlphaSigma.of(sigmas[i]);
        AlphaSigma s1 = AlphaSigma.of(sigmas[i - 1]);
        float lambdaT = t.lambda();
        float lambdaS0 = s0.lambda();
        float lambdaS1 = s1.lambda();
        float[] m0 = modelOutputs[solverOrder - 1];
        float[] m1 = modelOutputs[solverOrder - 2];
        float h = lambdaT - lambdaS0;
        float h0 = lambdaS0 - lambdaS1;
        float r0 = h0 / h;
        float[] d1 = scaledDifference(1f / r0, m0, m1);
        float at = t.alpha(), st = t.sigma();
        return switch (algorithm) {
            case DPMSOLVER_PP -> {
                float c0 = at * (exp(-h) - 1f);
                float c1 = heun ? at * ((exp(-h) - 1f) / h + 1f) : -(0.5f * c0);
                yield combine(new float[] {st / s0.sigma(), -c0, c1}, x, m0, d1);
            }
            case DPMSOLVER -> {
                float c0 = st * (exp(h) - 1f);
                float c1 = heun ? st * ((exp(h) - 1f) / h - 1f) : 0.5f * c0;
                yield combine(new float[] {at / s0.alpha(), -c0, -c1}, x, m0, d1);
            }
            case SDE_DPMSOLVER_PP -> {
                float c0 = at * (1f - exp(-2f * h));
                float c1 = heun ? at * ((1f - exp(-2f * h)) / (-2f * h) + 1f) : 0.5f * c0;
                float cz = st * (float) Math.sqrt(1f - exp(-2f * h));
                yield combine(new float[] {st / s0.sigma() * exp(-h), c0, c1, cz}, x, m0, d1, z);
            }
            case SDE_DPMSOLVER -> {
                float c0 = 2f * (st * (exp(h) - 1f));
                float c1 = heun ? 2f * (st * ((exp(h) - 1f) / h - 1f)) : st * (exp(h) - 1f);
                float cz = st * (float) Math.sqrt(exp(2f * h) - 1f);
                yield combine(new float[] {at / s0.alpha(), -c0, -c1, cz}, x, m0, d1, z);
            }
        };
    }

    private float[] thirdOrderUpdate(int i, float[] x) {
        AlphaSigma t = AlphaSigma.of(sigmas[i + 1]);
        AlphaSigma s0 = AlphaSigma.of(sigmas[i]);
        AlphaSigma s1 = AlphaSigma.of(sigmas[i - 1]);
        AlphaSigma s2 = AlphaSigma.of(sigmas[i - 2]);
        float lambdaT = t.lambda(), lambdaS0 = s0.lambda(), lambdaS1 = s1.lambda(), lambdaS2 = s2.lambda();
        float[] m0 = modelOutputs[solverOrder - 1];
        float[] m1 = modelOutputs[solverOrder - 2];
        float[] m2 = modelOutputs[solverOrder - 3];
        float h = lambdaT - lambdaS0;
        float h0 = lambdaS0 - lambdaS1;
        float h1 = lambdaS1 - lambdaS2;
        float r0 = h0 / h;
        float r1 = h1 / h;
        float[] d10 = scaledDifference(1f / r0, m0, m1);
        float[] d11 = scaledDifference(1f / r1, m1, m2);
        float[] diff = new float[x.length];
        for (int k = 0; k < diff.length; k++) diff[k] = d10[k] - d11[k];
        float w = r0 / (r0 + r1);
        float v = 1f / (r0 + r1);
        float[] d1 = new float[x.length];
        float[] d2 = new float[x.length];
        for (int k = 0; k < d1.length; k++) {
            d1[k] = d10[k] + w * diff[k];
            d2[k] = v * diff[k];
        }
        float at = t.alpha(), st = t.sigma();
        if (algorithm == Algorithm.DPMSOLVER_PP) {
            float em1 = exp(-h) - 1f;
            float c2 = at * ((em1 + h) / (h * h) - 0.5f);
            return combine(new float[] {st / s0.sigma(), -(at * em1), at * (em1 / h + 1f), -c2}, x, m0, d1, d2);
        }
        float ep1 = exp(h) - 1f;
        float c2 = st * ((ep1 - h) / (h * h) - 0.5f);
        return combine(new float[] {at / s0.alpha(), -(st * ep1), -(st * (ep1 / h - 1f)), -c2}, x, m0, d1, d2);
    }

    /** c * (a - b), element-wise in float32. */
    private static float[] scaledDifference(float c, float[] a, float[] b) {
        float[] r = new float[a.length];
        for (int k = 0; k < r.length; k++) r[k] = c * (a[k] - b[k]);
        return r;
    }

    /**
     * coeffs[0] * arrays[0] + coeffs[1] * arrays[1] + ..., each product rounded to float32 and summed left to right
     * (subtracting c * a rounds as adding (-c) * a does, so signs are folded into the coefficients).
     */
    private static float[] combine(float[] coeffs, float[]... arrays) {
        float[] r = new float[arrays[0].length];
        for (int k = 0; k < r.length; k++) r[k] = coeffs[0] * arrays[0][k];
        for (int t = 1; t < coeffs.length; t++) {
            float c = coeffs[t];
            float[] a = arrays[t];
            for (int k = 0; k < r.length; k++) r[k] = r[k] + c * a[k];
        }
        return r;
    }
}
