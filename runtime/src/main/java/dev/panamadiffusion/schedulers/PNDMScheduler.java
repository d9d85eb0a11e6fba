package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Pseudo numerical methods for diffusion models (Liu et al. 2022), as diffusers 0.27.2's {@code PNDMScheduler}:
 * linear multistep (PLMS) steps on the DDIM transfer, after a Runge-Kutta (PRK) warm-up unless
 * {@code skip_prk_steps} (what Stable Diffusion ships, A1111 "PLMS"). With skip_prk_steps, n inference steps take n+1
 * model evaluations: the second timestep repeats, to take a second-order first step (one inference step is one plain
 * evaluation, as in diffusers).
 *
 * <p>Stateful: steps must be taken in order, from index 0 (or the {@link #setBeginIndex} one), after {@link #setTimesteps}.
 */
public final class PNDMScheduler implements Scheduler {
    static final SchedulerConfig DEFAULTS = SchedulerConfig.parse("""
            {"_class_name": "PNDMScheduler", "num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02,
             "beta_schedule": "linear", "trained_betas": null, "skip_prk_steps": false, "set_alpha_to_one": false,
             "prediction_type": "epsilon", "timestep_spacing": "leading", "steps_offset": 0}""");
    private static final int PNDM_ORDER = 4;

    private final SchedulerConfig config;
    private final TrainingSchedule schedule;
    private final PredictionType predictionType;
    private final Spacing.Kind spacing;
    private final float finalAlphaCumprod;

    private int numInferenceSteps;
    private int numPrkSteps;
    private double[] timesteps = new double[0];
    private double[] prkTimesteps = new double[0];
    // state
    private int counter;
    private int beginIndex;
    private final List<float[]> ets = new ArrayList<>();
    private float[] curSample;
    private float[] curModelOutput;

    public PNDMScheduler(SchedulerConfig config) {
        this.config = config.withDefaults(DEFAULTS);
        // PNDMScheduler has no rescale_betas_zero_snr argument: a config's value is ignored, as in diffusers
        this.schedule = TrainingSchedule.of(this.config.with("rescale_betas_zero_snr", false));
        this.predictionType = PredictionType.of(this.config.predictionType());
        if (predictionType == PredictionType.SAMPLE) {
            throw new IllegalArgumentException("PNDMScheduler supports prediction_type epsilon and v_prediction, not sample");
        }
        this.spacing = Spacing.Kind.of(this.config.timestepSpacing());
        this.finalAlphaCumprod = this.config.setAlphaToOne() ? 1f : schedule.alphaCumprod(0);
    }

    public SchedulerConfig config() { return config; }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        int numTrain = schedule.numTrainTimesteps();
        if (numInferenceSteps < 1 || numInferenceSteps > numTrain) {
            throw new IllegalArgumentException("num_inference_steps " + numInferenceSteps + " must be in [1, " + numTrain + "]");
        }
        this.numInferenceSteps = numInferenceSteps;
        // ascending
        double[] base = switch (spacing) {
            case LINSPACE -> Spacing.round(Spacing.linspace(0, numTrain - 1, numInferenceSteps));
            case LEADING -> Spacing.add(Spacing.round(Spacing.scaledRange(numInferenceSteps, numTrain / numInferenceSteps)),
                    config.stepsOffset());
            case TRAILING -> Spacing.add(Spacing.reverse(Spacing.round(
                    Spacing.arange(numTrain, 0, -(double) numTrain / numInferenceSteps))), -1);
        };
        int n = base.length;
        double[] plms;
        if (config.skipPrkSteps()) {
            prkTimesteps = new double[0];
            if (n == 1) {
                // _timesteps[:-1] and _timesteps[-2:-1] are empty: one plain DDIM-form step
                plms = new double[] {base[0]};
            } else {
                // [t_0 .. t_{n-2}, t_{n-2}, t_{n-1}] reversed
                plms = new double[n + 1];
                for (int i = 0; i < n - 1; i++) plms[n - i] = base[i];
                plms[1] = base[n - 2];
                plms[0] = base[n - 1];
            }
        } else {
            if (n < PNDM_ORDER) throw new IllegalArgumentException("PNDM with PRK steps needs at least " + PNDM_ORDER + " inference steps");
            int half = numTrain / numInferenceSteps / 2;
            // last 4 timesteps, each twice, every second one shifted by half a step: [a, a+h, b, b+h, c, c+h, d, d+h]
            double[] prk = new double[2 * PNDM_ORDER];
            for (int k = 0; k < PNDM_ORDER; k++) {
                prk[2 * k] = base[n - PNDM_ORDER + k];
                prk[2 * k + 1] = base[n - PNDM_ORDER + k] + half;
            }
            // prk[:-1].repeat(2)[1:-1][::-1]
            double[] repeated = new double[2 * (prk.length - 1)];
            for (int i = 0; i < prk.length - 1; i++) {
                repeated[2 * i] = prk[i];
                repeated[2 * i + 1] = prk[i];
            }
            double[] inner = new double[repeated.length - 2];
            System.arraycopy(repeated, 1, inner, 0, inner.length);
            prkTimesteps = Spacing.reverse(inner);
            // _timesteps[:-3][::-1]
            double[] head = new double[n - 3];
            System.arraycopy(base, 0, head, 0, head.length);
            plms = Spacing.reverse(head);
        }
        numPrkSteps = prkTimesteps.length;
        timesteps = new double[numPrkSteps + plms.length];
        System.arraycopy(prkTimesteps, 0, timesteps, 0, numPrkSteps);
        System.arraycopy(plms, 0, timesteps, numPrkSteps, plms.length);
        counter = 0;
        beginIndex = 0;
        ets.clear();
        curSample = null;
        curModelOutput = null;
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

    /**
     * diffusers' PNDM has no {@code set_begin_index}: image to image hands it the timesteps from {@code beginIndex}
     * on, and its counter (which picks the multistep formula) starts at 0 there, as here.
     */
    @Override
    public void setBeginIndex(int beginIndex) {
        Latents.requireStepIndex(beginIndex, timesteps.length);
        if (!config.skipPrkSteps() && beginIndex != 0) {
            throw new IllegalArgumentException("PNDM with Runge-Kutta warm-up steps (skip_prk_steps false) cannot start mid-schedule");
        }
        if (counter != 0) throw new IllegalStateException("setBeginIndex after a step");
        this.beginIndex = beginIndex;
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
        if (stepIndex != beginIndex + counter) {
            throw new IllegalStateException("PNDM steps must be taken in order: expected step " + (beginIndex + counter)
                    + ", got " + stepIndex);
        }
        float[] out = Latents.read(modelOutput, "model output");
        float[] x = Latents.read(sample, "sample");
        int t = (int) timesteps[stepIndex];
        float[] prev = counter < numPrkSteps && !config.skipPrkSteps() ? stepPrk(out, t, x) : stepPlms(out, t, x);
        counter++;
        return Latents.like(prev, sample);
    }

    /** One of the four Runge-Kutta stages per PRK step. */
    private float[] stepPrk(float[] modelOutput, int timestep, float[] sample) {
        int diffToPrev = counter % 2 != 0 ? 0 : schedule.numTrainTimesteps() / numInferenceSteps / 2;
        int prevTimestep = timestep - diffToPrev;
        int t = (int) prkTimesteps[counter / 4 * 4];
        int stage = counter % 4;
        if (curModelOutput == null) curModelOutput = new float[modelOutput.length];
        float[] output = modelOutput;
        switch (stage) {
            case 0 -> {
                accumulate(curModelOutput, 1.0 / 6, modelOutput);
                ets.add(modelOutput);
                curSample = sample;
            }
            case 1, 2 -> accumulate(curModelOutput, 1.0 / 3, modelOutput);
            default -> {
                float c = (float) (1.0 / 6);
                output = new float[modelOutput.length];
                for (int i = 0; i < output.length; i++) output[i] = curModelOutput[i] + c * modelOutput[i];
                curModelOutput = null;
            }
        }
        float[] base = curSample != null ? curSample : sample;
        return prevSample(base, t, prevTimestep, output);
    }

    private static void accumulate(float[] acc, double weight, float[] x) {
        float w = (float) weight;
        for (int i = 0; i < acc.length; i++) acc[i] = acc[i] + w * x[i];
    }

    /** A linear multistep step: Adams-Bashforth combinations of up to four past model outputs. */
    private float[] stepPlms(float[] modelOutput, int timestep, float[] sample) {
        if (!config.skipPrkSteps() && ets.size() < 3) {
            throw new IllegalStateException("PLMS steps need 3 PRK steps first");
        }
        int stepRatio = schedule.numTrainTimesteps() / numInferenceSteps;
        int prevTimestep = timestep - stepRatio;
        if (counter != 1) {
            while (ets.size() > 3) ets.removeFirst();
            ets.add(modelOutput);
        } else {
            prevTimestep = timestep;
            timestep = timestep + stepRatio;
        }
        int n = modelOutput.length;
        float[] e1 = ets.getLast();
        float[] combined = new float[n];
        if (ets.size() == 1 && counter == 0) {
            combined = modelOutput;
            curSample = sample;
        } else if (ets.size() == 1 && counter == 1) {
            for (int i = 0; i < n; i++) combined[i] = (modelOutput[i] + e1[i]) / 2f;
            sample = curSample;
            curSample = null;
        } else if (ets.size() == 2) {
            float[] e2 = ets.get(ets.size() - 2);
            for (int i = 0; i < n; i++) combined[i] = (3f * e1[i] - e2[i]) / 2f;
        } else if (ets.size() == 3) {
            float[] e2 = ets.get(ets.size() - 2);
            float[] e3 = ets.get(ets.size() - 3);
            for (int i = 0; i < n; i++) combined[i] = (23f * e1[i] - 16f * e2[i] + 5f * e3[i]) / 12f;
        } else {
            float[] e2 = ets.get(ets.size() - 2);
            float[] e3 = ets.get(ets.size() - 3);
            float[] e4 = ets.get(ets.size() - 4);
            float c = (float) (1.0 / 24);
            for (int i = 0; i < n; i++) combined[i] = c * (55f * e1[i] - 59f * e2[i] + 37f * e3[i] - 9f * e4[i]);
        }
        return prevSample(sample, timestep, prevTimestep, combined);
    }

    /** The DDIM-form transfer from timestep to prevTimestep (formula (9) of the PNDM paper). */
    private float[] prevSample(float[] sample, int timestep, int prevTimestep, float[] modelOutput) {
        float alphaProdT = schedule.alphaCumprod(timestep);
        float alphaProdTPrev = prevTimestep >= 0 ? schedule.alphaCumprod(prevTimestep) : finalAlphaCumprod;
        float betaProdT = 1f - alphaProdT;
        float betaProdTPrev = 1f - alphaProdTPrev;
        int n = sample.length;
        if (predictionType == PredictionType.V_PREDICTION) {
            float sa = (float) Math.sqrt(alphaProdT);
            float sb = (float) Math.sqrt(betaProdT);
            float[] eps = new float[n];
            for (int i = 0; i < n; i++) eps[i] = sa * modelOutput[i] + sb * sample[i];
            modelOutput = eps;
        }
        float sampleCoeff = (float) Math.sqrt(alphaProdTPrev / alphaProdT);
        float denom = alphaProdT * (float) Math.sqrt(betaProdTPrev)
                + (float) Math.sqrt(alphaProdT * betaProdT * alphaProdTPrev);
        float diff = alphaProdTPrev - alphaProdT;
        float[] prev = new float[n];
        for (int i = 0; i < n; i++) prev[i] = sampleCoeff * sample[i] - diff * modelOutput[i] / denom;
        return prev;
    }
}
