package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.JavaNoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * PNDM loops against diffusers 0.27.2's {@code PNDMScheduler} ({@code step_prk}, {@code step_plms},
 * {@code _get_prev_sample}) written out here in double precision, with the Runge-Kutta warm-up
 * ({@code skip_prk_steps} false, which the recorded loop does not use) and without it. Each step is fed the
 * scheduler's own sample, so float32 rounding does not accumulate.
 */
class PndmReferenceTest {
    private static final long[] SHAPE = {1, 4, 3, 3};

    /** diffusers' PNDMScheduler state and step, in double. */
    private static final class Reference {
        final float[] ac;
        final double finalAlphaCumprod;
        final boolean skipPrk;
        final boolean vPrediction;
        final int numTrain;
        final int n;
        final double[] prkTimesteps;
        int counter;
        final List<double[]> ets = new ArrayList<>();
        double[] curModelOutput = null;
        double[] curSample = null;

        Reference(SchedulerConfig c, int n, double[] prkTimesteps) {
            this.ac = TrainingSchedule.of(c).alphasCumprod();
            this.finalAlphaCumprod = c.setAlphaToOne() ? 1 : ac[0];
            this.skipPrk = c.skipPrkSteps();
            this.vPrediction = "v_prediction".equals(c.predictionType());
            this.numTrain = ac.length;
            this.n = n;
            this.prkTimesteps = prkTimesteps;
        }

        double[] step(double[] out, int timestep, double[] x) {
            return counter < prkTimesteps.length && !skipPrk ? stepPrk(out, timestep, x) : stepPlms(out, timestep, x);
        }

        double[] stepPrk(double[] modelOutput, int timestep, double[] sample) {
            int diffToPrev = counter % 2 != 0 ? 0 : numTrain / n / 2;
            int prevTimestep = timestep - diffToPrev;
            timestep = (int) prkTimesteps[counter / 4 * 4];
            if (curModelOutput == null) curModelOutput = new double[modelOutput.length];
            if (counter % 4 == 0) {
                for (int k = 0; k < modelOutput.length; k++) curModelOutput[k] += 1.0 / 6 * modelOutput[k];
                ets.add(modelOutput);
                curSample = sample;
            } else if ((counter - 1) % 4 == 0 || (counter - 2) % 4 == 0) {
                for (int k = 0; k < modelOutput.length; k++) curModelOutput[k] += 1.0 / 3 * modelOutput[k];
            } else {
                double[] m = new double[modelOutput.length];
                for (int k = 0; k < m.length; k++) m[k] = curModelOutput[k] + 1.0 / 6 * modelOutput[k];
                modelOutput = m;
                curModelOutput = null; // diffusers sets 0: the next stage-0 accumulation starts from zero
            }
            double[] base = curSample != null ? curSample : sample;
            double[] prev = prevSample(base, timestep, prevTimestep, modelOutput);
            counter++;
            return prev;
        }

        double[] stepPlms(double[] modelOutput, int timestep, double[] sample) {
            int prevTimestep = timestep - numTrain / n;
            if (counter != 1) {
                while (ets.size() > 3) ets.removeFirst();
                ets.add(modelOutput);
            } else {
                prevTimestep = timestep;
                timestep = timestep + numTrain / n;
            }
            int len = ets.size();
            double[] m = new double[modelOutput.length];
            for (int k = 0; k < m.length; k++) {
                if (len == 1 && counter == 0) {
                    m[k] = modelOutput[k];
                } else if (len == 1 && counter == 1) {
                    m[k] = (modelOutput[k] + ets.get(0)[k]) / 2;
                } else if (len == 2) {
                    m[k] = (3 * ets.get(1)[k] - ets.get(0)[k]) / 2;
                } else if (len == 3) {
                    m[k] = (23 * ets.get(2)[k] - 16 * ets.get(1)[k] + 5 * ets.get(0)[k]) / 12;
                } else {
                    m[k] = (55 * ets.get(3)[k] - 59 * ets.get(2)[k] + 37 * ets.get(1)[k] - 9 * ets.get(0)[k]) / 24;
                }
            }
            if (len == 1 && counter == 0) {
                curSample = sample;
            } else if (len == 1 && counter == 1) {
                sample = curSample;
                curSample = null;
            }
            double[] prev = prevSample(sample, timestep, prevTimestep, m);
            counter++;
            return prev;
        }

        double[] prevSample(double[] sample, int timestep, int prevTimestep, double[] modelOutput) {
            double a = ac[timestep];
            double ap = prevTimestep >= 0 ? ac[prevTimestep] : finalAlphaCumprod;
            double b = 1 - a, bp = 1 - ap;
            double[] out = new double[sample.length];
            for (int k = 0; k < out.length; k++) {
                double e = vPrediction ? Math.sqrt(a) * modelOutput[k] + Math.sqrt(b) * sample[k] : modelOutput[k];
                double denom = a * Math.sqrt(bp) + Math.sqrt(a * b * ap);
                out[k] = Math.sqrt(ap / a) * sample[k] - (ap - a) * e / denom;
            }
            return out;
        }
    }

    private static double[] doubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    private static void runLoop(SchedulerConfig config, int steps, double[] expectedTimesteps) {
        PNDMScheduler s = new PNDMScheduler(config);
        s.setTimesteps(steps);
        double[] ts = s.timesteps();
        if (expectedTimesteps != null) assertArrayEquals(expectedTimesteps, ts, "timesteps");
        boolean prk = !s.config().skipPrkSteps();
        Reference ref = new Reference(s.config(), steps, prk ? java.util.Arrays.copyOf(ts, 12) : new double[0]);
        Tensor x = new JavaNoiseGenerator(1).randn(SHAPE);
        String what = "skip_prk_steps " + !prk + ", " + steps + " steps, " + s.config().predictionType();
        for (int i = 0; i < ts.length; i++) {
            Tensor eps = new JavaNoiseGenerator(100 + i).randn(SHAPE);
            double[] expected = ref.step(doubles(eps.toFloatArray()), (int) ts[i], doubles(x.toFloatArray()));
            Tensor next = s.step(eps, i, x, null);
            float[] got = next.toFloatArray();
            for (int k = 0; k < got.length; k++) {
                assertEquals(expected[k], got[k], 2e-5 * Math.max(1, Math.abs(expected[k])), what + ": step " + i + " element " + k);
            }
            x = next;
        }
    }

    @Test
    void rungeKuttaWarmUpThenLinearMultistep() {
        // leading spacing, steps_offset 1, 10 steps: _timesteps 1, 101, ..., 901; the last four, each shifted by half a
        // step (50) and repeated as diffusers' prk_timesteps, then _timesteps[:-3] reversed
        double[] expected = {901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601, 601, 501, 401, 301, 201, 101, 1};
        SchedulerConfig prk = SchedulerConfig.sd15().with("skip_prk_steps", false);
        runLoop(prk, 10, expected);
        runLoop(prk.with("prediction_type", "v_prediction"), 10, expected);
        runLoop(prk.with("set_alpha_to_one", true), 4, null);
        runLoop(prk.with("timestep_spacing", "trailing"), 7, null);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new PNDMScheduler(prk).setTimesteps(3)).getMessage()
                .startsWith("PNDM with PRK steps needs at least 4 inference steps"));
        new PNDMScheduler(prk).setTimesteps(4);
    }

    @Test
    void plmsOnlyForAnyStepCount() {
        SchedulerConfig plms = SchedulerConfig.sd15();
        runLoop(plms, 1, new double[] {1});
        runLoop(plms, 2, new double[] {501, 1, 1}); // _timesteps[:-1], _timesteps[-2:-1], _timesteps[-1:], reversed
        for (int steps : new int[] {3, 5, 12}) {
            runLoop(plms, steps, null);
            runLoop(plms.with("prediction_type", "v_prediction").with("set_alpha_to_one", true), steps, null);
        }
        // steps_offset 0: a step lands exactly on timestep 0, whose alphas_cumprod (not the final 1) is the target
        runLoop(plms.with("steps_offset", 0).with("set_alpha_to_one", true), 4, new double[] {750, 500, 500, 250, 0});
    }

    @Test
    void stepCountsOutsideTheTrainingRangeAreRefused() {
        PNDMScheduler s = new PNDMScheduler(SchedulerConfig.sd15());
        assertEquals("num_inference_steps 0 must be in [1, 1000]", assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(0)).getMessage());
        assertEquals("num_inference_steps 1001 must be in [1, 1000]", assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(1001)).getMessage());
        s.setTimesteps(1000);
        assertEquals(1001, s.timesteps().length);
        s.setTimesteps(1);
        assertEquals(1, s.timesteps().length);
    }
}
