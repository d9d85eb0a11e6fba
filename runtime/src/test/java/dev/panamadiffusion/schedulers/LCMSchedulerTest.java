package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** LCMScheduler's schedule, scalings and step formulas against values printed by diffusers 0.27.2's LCMScheduler. */
class LCMSchedulerTest {
    private static final NoiseGenerator NO_NOISE = shape -> {
        throw new AssertionError("drew noise");
    };

    private static double[] timesteps(LCMScheduler s, int n) {
        s.setTimesteps(n);
        return s.timesteps();
    }

    private static LCMScheduler lcm(String json) {
        return new LCMScheduler(SchedulerConfig.parse(json));
    }

    @Test
    void timestepsAsDiffusers() {
        LCMScheduler s = lcm("{}"); // diffusers' defaults: 1000 training steps, original_inference_steps 50
        assertArrayEquals(new double[] {999}, timesteps(s, 1));
        assertArrayEquals(new double[] {999, 499}, timesteps(s, 2));
        assertArrayEquals(new double[] {999, 679, 339}, timesteps(s, 3));
        assertArrayEquals(new double[] {999, 759, 499, 259}, timesteps(s, 4));
        assertArrayEquals(new double[] {999, 799, 599, 399, 199}, timesteps(s, 5));
        assertArrayEquals(new double[] {999, 839, 679, 499, 339, 179}, timesteps(s, 6));
        assertArrayEquals(new double[] {999, 859, 719, 579, 439, 299, 159}, timesteps(s, 7));
        assertArrayEquals(new double[] {999, 879, 759, 639, 499, 379, 259, 139}, timesteps(s, 8));
        assertArrayEquals(new double[] {999, 899, 799, 699, 599, 499, 399, 299, 199, 99}, timesteps(s, 10));
        double[] t25 = timesteps(s, 25);
        for (int i = 0; i < 25; i++) assertEquals(999 - 40 * i, t25[i], "25 steps, " + i);
        double[] t49 = timesteps(s, 49);
        for (int i = 0; i < 49; i++) assertEquals(999 - 20 * i, t49[i], "49 steps, " + i);
        double[] t50 = timesteps(s, 50);
        for (int i = 0; i < 50; i++) assertEquals(999 - 20 * i, t50[i], "50 steps, " + i);
        assertArrayEquals(t50, java.util.Arrays.stream(s.originTimesteps()).asDoubleStream().toArray());
    }

    @Test
    void timestepsFollowOriginalStepsAndTrainingLength() {
        assertArrayEquals(new double[] {999, 749, 499, 249}, timesteps(lcm("{\"original_inference_steps\": 100}"), 4));
        assertArrayEquals(new double[] {993, 709, 425}, timesteps(lcm("{\"original_inference_steps\": 7}"), 3));
        assertArrayEquals(new double[] {989, 857, 725, 593, 428, 296, 164}, timesteps(lcm("{\"original_inference_steps\": 30}"), 7));
        assertArrayEquals(new double[] {499, 379, 249, 129}, timesteps(lcm("{\"num_train_timesteps\": 500}"), 4));
    }

    @Test
    void spacingAndOffsetDoNotChangeTheSchedule() {
        // diffusers 0.27.2's LCMScheduler reads neither timestep_spacing nor steps_offset in set_timesteps
        assertArrayEquals(new double[] {999, 759, 499, 259},
                timesteps(lcm("{\"timestep_spacing\": \"trailing\", \"steps_offset\": 1}"), 4));
        assertArrayEquals(new double[] {999, 759, 499, 259}, timesteps(lcm("{\"timestep_spacing\": \"linspace\"}"), 4));
        assertThrows(IllegalArgumentException.class, () -> lcm("{\"timestep_spacing\": \"sideways\"}"));
    }

    @Test
    void refusesWhatDiffusersRefuses() {
        LCMScheduler s = lcm("{}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(51));
        assertTrue(e.getMessage().contains("original_inference_steps 50"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(0));
        assertThrows(IllegalArgumentException.class, () -> lcm("{\"original_inference_steps\": 2000}"));
        assertThrows(IllegalArgumentException.class, () -> lcm("{\"thresholding\": true}"));
        assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(new int[] {999, 999}));
        assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(new int[] {500, 999}));
        assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(new int[] {1000, 5}));
        assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(new int[] {5, -1}));
        assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(new int[0]));
    }

    @Test
    void customTimesteps() {
        LCMScheduler s = lcm("{}");
        s.setTimesteps(new int[] {999, 500, 3});
        assertArrayEquals(new double[] {999, 500, 3}, s.timesteps());
        // the noise between steps goes to the next custom timestep: alphas_cumprod[500]
        float[] ac = TrainingSchedule.of(s.config()).alphasCumprod();
        Tensor x = Tensor.fromFloats(new float[] {0.5f}, 1, 1, 1, 1);
        Tensor eps = Tensor.fromFloats(new float[] {0.1f}, 1, 1, 1, 1);
        Tensor z = Tensor.fromFloats(new float[] {1f}, 1, 1, 1, 1);
        float prev = s.step(eps, 0, x, shape -> z).getFloat(0);
        float den = s.denoised().getFloat(0);
        assertEquals((float) Math.sqrt(ac[500]) * den + (float) Math.sqrt(1f - ac[500]), prev, 1e-7f);
    }

    @Test
    void boundaryScalings() {
        LCMScheduler s = lcm("{}");
        assertEquals(2.505007534736592e-09f, s.boundaryScalings(999)[0]);
        assertEquals(1.0f, s.boundaryScalings(999)[1]);
        assertEquals(6.925159595994046e-06f, s.boundaryScalings(19)[0]);
        assertEquals(0.999996542930603f, s.boundaryScalings(19)[1]);
        assertArrayEquals(new float[] {1f, 0f}, s.boundaryScalings(0));
        // timestep_scaling 0 turns the model off: denoised = the sample
        assertArrayEquals(new float[] {1f, 0f}, lcm("{\"timestep_scaling\": 0.0}").boundaryScalings(999));
    }

    /** The last of 2 steps (t = 499, no noise), as diffusers computes it for x and model output m below. */
    @Test
    void lastStepPerPredictionType() {
        float[] x = {0.5f, -1.0f, 2.0f, 0.25f};
        float[] m = {0.1f, 0.2f, -0.3f, 1.5f};
        check("{\"prediction_type\": \"epsilon\"}", x, m,
                new float[] {0.7875796556472778f, -2.2203140258789062f, 4.27933931350708f, -1.9448963403701782f});
        check("{\"prediction_type\": \"v_prediction\"}", x, m,
                new float[] {0.17848172783851624f, -0.696923553943634f, 1.3088570833206177f, -1.1431145668029785f});
        // with clip_sample at 0.5 (x0 = m, clipped)
        check("{\"prediction_type\": \"sample\", \"clip_sample\": true, \"clip_sample_range\": 0.5}", x, m,
                new float[] {0.10000000894069672f, 0.19999998807907104f, -0.29999998211860657f, 0.5f});
    }

    private static void check(String json, float[] x, float[] m, float[] expected) {
        LCMScheduler s = lcm(json);
        s.setTimesteps(2);
        float[] got = s.step(Tensor.fromFloats(m, 1, 4), 1, Tensor.fromFloats(x, 1, 4), NO_NOISE).toFloatArray();
        for (int i = 0; i < 4; i++) assertEquals(expected[i], got[i], Math.ulp(expected[i]), json + " [" + i + "]");
    }

    @Test
    void drawsOnceForEveryStepButTheLast() {
        LCMScheduler s = lcm("{}");
        s.setTimesteps(4);
        AtomicInteger draws = new AtomicInteger();
        NoiseGenerator counting = shape -> {
            draws.incrementAndGet();
            return Tensor.fromFloats(new float[] {0f, 0f}, shape);
        };
        Tensor x = Tensor.fromFloats(new float[] {1f, -1f}, 1, 2);
        Tensor eps = Tensor.fromFloats(new float[] {0.5f, 0.5f}, 1, 2);
        for (int i = 0; i < 4; i++) {
            x = s.step(eps, i, x, counting);
            assertEquals(Math.min(i + 1, 3), draws.get(), "after step " + i);
        }
        assertThrows(IllegalArgumentException.class, () -> {
            LCMScheduler t = lcm("{}");
            t.setTimesteps(2);
            t.step(eps, 0, eps, null);
        }, "a step before the last needs a generator");
        assertThrows(IndexOutOfBoundsException.class, () -> s.step(eps, 4, eps, counting));
    }

    @Test
    void createdByNameAndByClass() {
        // LCM-LoRA: LCMScheduler.from_config(SD 1.5's PNDM config) keeps its set_alpha_to_one false and steps_offset 1
        LCMScheduler fromSd15 = (LCMScheduler) Schedulers.create("lcm", SchedulerConfig.sd15());
        assertEquals("LCMScheduler", fromSd15.config().className());
        assertEquals(false, fromSd15.config().setAlphaToOne());
        assertEquals(50, fromSd15.config().originalInferenceSteps());
        assertEquals(10.0, fromSd15.config().timestepScaling());
        assertInstanceOf(LCMScheduler.class, Schedulers.create(" LCM ", null));
        assertInstanceOf(LCMScheduler.class, Schedulers.fromConfig(SchedulerConfig.parse("{\"_class_name\": \"LCMScheduler\"}")));
        assertEquals(SamplerName.LCM, SamplerName.parse("lcm"));
        assertEquals("LCMScheduler", SamplerName.LCM.schedulerClass());
        // an LCM model's own config given to another sampler: DDIM ignores original_inference_steps
        SchedulerConfig lcmModel = SchedulerConfig.parse("{\"_class_name\": \"LCMScheduler\", \"original_inference_steps\": 50}");
        assertInstanceOf(DDIMScheduler.class, Schedulers.create("DDIM", lcmModel));
    }

    @Test
    void configRangeChecks() {
        assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.parse("{\"original_inference_steps\": 0}"));
        assertThrows(IllegalArgumentException.class,
                () -> SchedulerConfig.parse("{\"num_train_timesteps\": 100, \"original_inference_steps\": 101}"));
        assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.parse("{\"timestep_scaling\": Infinity}"));
    }
}
