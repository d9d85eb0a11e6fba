package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.rng.JavaNoiseGenerator;
import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.StringJoiner;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The edges of the schedules (step counts at the limits, a timestep of 0 or -1, clipped log-SNRs, Karras and Lu
 * sigmas with and without configured limits), what each sampler refuses, and numpy's and torch's rules the schedules
 * are built from, each against diffusers' rule written out here.
 */
class ScheduleEdgesTest {
    private static final long[] SHAPE = {1, 4, 3, 3};
    private static final float[] AC = TrainingSchedule.of(SchedulerConfig.sd15()).alphasCumprod();

    private static Tensor random(long seed) {
        return new JavaNoiseGenerator(seed).randn(SHAPE);
    }

    private static void assertClose(double expected, double actual, double rel, String what) {
        assertEquals(expected, actual, rel * Math.max(1, Math.abs(expected)), what);
    }

    // --- state ---------------------------------------------------------------------------------------------------

    private static float[][] loop(Scheduler s, int steps) {
        s.setTimesteps(steps);
        NoiseGenerator noise = new JavaNoiseGenerator(77);
        Tensor x = random(1);
        float[][] out = new float[s.timesteps().length][];
        for (int i = 0; i < out.length; i++) {
            x = s.step(random(100 + i), i, x, noise);
            out[i] = x.toFloatArray();
        }
        return out;
    }

    @Test
    void setTimestepsStartsEverySamplerOver() {
        for (String name : Schedulers.names()) {
            float[][] fresh = loop(Schedulers.create(name, SchedulerConfig.sd15()), 6);
            Scheduler reused = Schedulers.create(name, SchedulerConfig.sd15());
            loop(reused, 8); // a whole loop of another length first: its history must not leak into the next
            float[][] again = loop(reused, 6);
            for (int i = 0; i < fresh.length; i++) assertArrayEquals(fresh[i], again[i], name + " step " + i);
        }
    }

    // --- step counts and refusals --------------------------------------------------------------------------------

    @Test
    void everySamplerTakesOneToNumTrainTimestepsSteps() {
        for (String name : Schedulers.names()) {
            if (name.equals("LCM")) continue; // at most original_inference_steps: below
            Scheduler s = Schedulers.create(name, SchedulerConfig.sd15());
            assertEquals("num_inference_steps 0 must be in [1, 1000]",
                    assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(0), name).getMessage());
            assertEquals("num_inference_steps 1001 must be in [1, 1000]",
                    assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(1001), name).getMessage());
            s.setTimesteps(1);
            s.setTimesteps(1000);
            assertTrue(s.timesteps().length >= 1000, name);
        }
        LCMScheduler lcm = new LCMScheduler(SchedulerConfig.parse("{\"original_inference_steps\": 1000}"));
        assertEquals("num_inference_steps 0 must be in [1, 1000]",
                assertThrows(IllegalArgumentException.class, () -> lcm.setTimesteps(0)).getMessage());
        assertEquals("num_inference_steps 1001 must be in [1, 1000]",
                assertThrows(IllegalArgumentException.class, () -> lcm.setTimesteps(1001)).getMessage());
        lcm.setTimesteps(1);
        assertArrayEquals(new double[] {999}, lcm.timesteps());
        lcm.setTimesteps(1000);
        assertEquals(0, lcm.timesteps()[999], "k = 1: the origin schedule reaches timestep 0");
    }

    @Test
    void lcmRefusesAnOriginalScheduleLongerThanTrainingAndCustomTimestepsOutsideIt() {
        new LCMScheduler(SchedulerConfig.parse("{\"original_inference_steps\": 1000}"));
        // the resolved config (num_train_timesteps 1000 from LCM's defaults) refuses a longer one before the constructor
        assertEquals("config: original_inference_steps: 1001 is out of range [1, 1000]",
                assertThrows(IllegalArgumentException.class,
                        () -> new LCMScheduler(SchedulerConfig.parse("{\"original_inference_steps\": 1001}"))).getMessage());
        LCMScheduler lcm = new LCMScheduler(SchedulerConfig.parse("{}"));
        lcm.setTimesteps(new int[] {999, 0});
        assertArrayEquals(new double[] {999, 0}, lcm.timesteps());
        assertEquals("custom timestep 1000 is outside [0, 1000)",
                assertThrows(IllegalArgumentException.class, () -> lcm.setTimesteps(new int[] {1000})).getMessage());
        assertEquals("custom timestep -1 is outside [0, 1000)",
                assertThrows(IllegalArgumentException.class, () -> lcm.setTimesteps(new int[] {5, -1})).getMessage());
    }

    @Test
    void lcmStepsToTimestepZeroWithItsAlphasCumprod() {
        // diffusers: alpha_prod_t_prev = alphas_cumprod[prev_timestep] when prev_timestep >= 0 (0 included), the final
        // alpha (1 with set_alpha_to_one) only below
        LCMScheduler lcm = new LCMScheduler(SchedulerConfig.parse("{}"));
        lcm.setTimesteps(new int[] {999, 0});
        Tensor x = random(1), eps = random(2), z = random(3);
        float[] got = lcm.step(eps, 0, x, shape -> z).toFloatArray();
        double a = AC[999], ap = AC[0];
        double scaled = 999 * 10.0;
        double cSkip = 0.25 / (scaled * scaled + 0.25), cOut = scaled / Math.sqrt(scaled * scaled + 0.25);
        float[] xs = x.toFloatArray(), es = eps.toFloatArray(), zs = z.toFloatArray();
        for (int k = 0; k < got.length; k++) {
            double x0 = (xs[k] - Math.sqrt(1 - a) * es[k]) / Math.sqrt(a);
            double den = cOut * x0 + cSkip * xs[k];
            assertClose(Math.sqrt(ap) * den + Math.sqrt(1 - ap) * zs[k], got[k], 2e-5, "element " + k);
        }
    }

    @Test
    void stochasticSamplersNeedANoiseGeneratorOfTheRightSize() {
        Tensor x = random(1);
        NoiseGenerator wrongSize = shape -> new JavaNoiseGenerator(1).randn(1, 4, 3, 2);
        EulerAncestralDiscreteScheduler ea = new EulerAncestralDiscreteScheduler(SchedulerConfig.sd15());
        ea.setTimesteps(4);
        assertEquals("Euler a needs a noise generator", assertThrows(IllegalArgumentException.class, () -> ea.step(x, 0, x, null)).getMessage());
        assertEquals("noise generator returned 24 values for 36",
                assertThrows(IllegalStateException.class, () -> ea.step(x, 0, x, wrongSize)).getMessage());
        LCMScheduler lcm = new LCMScheduler(SchedulerConfig.parse("{}"));
        lcm.setTimesteps(4);
        assertEquals("LCM needs a noise generator for all but the last step",
                assertThrows(IllegalArgumentException.class, () -> lcm.step(x, 0, x, null)).getMessage());
        assertEquals("noise generator returned 24 values for 36",
                assertThrows(IllegalStateException.class, () -> lcm.step(x, 0, x, wrongSize)).getMessage());
        lcm.step(x, 3, x, null); // the last step draws nothing
        DDIMScheduler ddim = new DDIMScheduler(SchedulerConfig.sd15(), 0.5);
        ddim.setTimesteps(4);
        assertEquals("DDIM with eta > 0 needs a noise generator",
                assertThrows(IllegalArgumentException.class, () -> ddim.step(x, 0, x, null)).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new DDIMScheduler(SchedulerConfig.sd15(), -0.1))
                .getMessage().startsWith("eta must be >= 0"));
        assertThrows(IllegalArgumentException.class, () -> new DDIMScheduler(SchedulerConfig.sd15(), Double.NaN));
    }

    @Test
    void lmsStepsMustBeTakenInOrder() {
        LMSDiscreteScheduler s = new LMSDiscreteScheduler(SchedulerConfig.sd15());
        s.setTimesteps(5);
        Tensor x = random(1);
        assertEquals("LMS steps must be taken in order: expected step 0, got 1",
                assertThrows(IllegalStateException.class, () -> s.step(x, 1, x, null)).getMessage());
    }

    @Test
    void eulerTimestepTypes() {
        SchedulerConfig c = SchedulerConfig.sd15();
        new EulerDiscreteScheduler(c.with("timestep_type", "discrete"));
        new EulerDiscreteScheduler(c.with("timestep_type", "continuous"));
        assertEquals("timestep_type 'karras' is not supported (discrete, continuous)",
                assertThrows(IllegalArgumentException.class, () -> new EulerDiscreteScheduler(c.with("timestep_type", "karras"))).getMessage());
    }

    // --- timesteps 0 and -1 --------------------------------------------------------------------------------------

    @Test
    void ddimStepsToTimestepZeroWithItsAlphasCumprod() {
        // leading, steps_offset 0, 4 steps: 750, 500, 250, 0; from 250 the previous timestep is 0 itself
        DDIMScheduler s = new DDIMScheduler(SchedulerConfig.sd15().with("steps_offset", 0).with("set_alpha_to_one", true));
        s.setTimesteps(4);
        assertArrayEquals(new double[] {750, 500, 250, 0}, s.timesteps());
        Tensor x = random(1), eps = random(2);
        float[] got = s.step(eps, 2, x, null).toFloatArray();
        float[] xs = x.toFloatArray(), es = eps.toFloatArray();
        double a = AC[250], ap = AC[0];
        for (int k = 0; k < got.length; k++) {
            double x0 = (xs[k] - Math.sqrt(1 - a) * es[k]) / Math.sqrt(a);
            assertClose(Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * es[k], got[k], 2e-6, "element " + k);
        }
    }

    @Test
    void trailingTimestepMinusOneReadsTheLastAlphasCumprod() {
        // np.arange(1000, 0, -1000 / 61) has 62 values, the last ~0, which rounds to 0 and becomes timestep -1; torch
        // reads alphas_cumprod[-1] (the last) there
        DDIMScheduler s = new DDIMScheduler(SchedulerConfig.sd15().with("timestep_spacing", "trailing"));
        s.setTimesteps(61);
        double[] ts = s.timesteps();
        int last = ts.length - 1;
        assertEquals(-1, ts[last]);
        Tensor x = random(1), eps = random(2);
        float[] got = s.step(eps, last, x, null).toFloatArray();
        float[] noised = s.addNoise(x, eps, last).toFloatArray();
        float[] xs = x.toFloatArray(), es = eps.toFloatArray();
        double a = AC[999], ap = AC[0]; // previous: -17 < 0, the final alpha (set_alpha_to_one false: alphas_cumprod[0])
        for (int k = 0; k < got.length; k++) {
            double x0 = (xs[k] - Math.sqrt(1 - a) * es[k]) / Math.sqrt(a);
            assertClose(Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * es[k], got[k], 2e-6, "step element " + k);
            assertClose(Math.sqrt(a) * xs[k] + Math.sqrt(1 - a) * es[k], noised[k], 2e-6, "add_noise element " + k);
        }
    }

    // --- DPM-Solver schedules ------------------------------------------------------------------------------------

    private static SchedulerConfig dpm() {
        return SchedulerConfig.sd15().with("_class_name", "DPMSolverMultistepScheduler").with("timestep_spacing", "linspace");
    }

    private static double[] linspaceTimesteps(int lastTimestep, int n) {
        // np.linspace(0, last_timestep - 1, n + 1).round()[::-1][:-1]
        double[] out = new double[n];
        for (int i = 0; i < n; i++) out[i] = Math.rint((double) (n - i) * (lastTimestep - 1) / n);
        return out;
    }

    @Test
    void lambdaMinClippedShortensTheSchedule() {
        // searchsorted(flip(lambda_t), lambda_min_clipped): the log-SNRs below the clip are cut off the end
        int clipped = 0;
        for (float ac : AC) {
            double lambda = 0.5 * Math.log(ac / (1.0 - ac));
            assertTrue(Math.abs(lambda + 2) > 1e-4, "no log-SNR at the clip");
            if (lambda < -2) clipped++;
        }
        assertTrue(clipped > 0 && clipped < 1000, "clipped " + clipped);
        DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(dpm().with("lambda_min_clipped", -2.0));
        s.setTimesteps(10);
        assertArrayEquals(linspaceTimesteps(1000 - clipped, 10), s.timesteps(), 1e-9);
    }

    @Test
    void lambdaMinClippedCountsOnlyLogSnrsStrictlyBelowIt() {
        // beta_0 = 0.5: alphas_cumprod[0] = 0.5 exactly, so lambda_0 = 0 exactly and every later one is negative
        SchedulerConfig ten = SchedulerConfig.parse("""
                {"_class_name": "DPMSolverMultistepScheduler", "num_train_timesteps": 10, "timestep_spacing": "linspace",
                 "trained_betas": [0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]}""");
        DPMSolverMultistepScheduler atZero = new DPMSolverMultistepScheduler(ten.with("lambda_min_clipped", 0.0));
        atZero.setTimesteps(1);
        // 9 below 0: last_timestep 1, np.linspace(0, 0, 2) -> [0]
        assertArrayEquals(new double[] {0}, atZero.timesteps(), 1e-9);
        DPMSolverMultistepScheduler above = new DPMSolverMultistepScheduler(ten.with("lambda_min_clipped", 1.0));
        above.setTimesteps(1);
        // all 10 below: last_timestep 0, np.linspace(0, -1, 2).round()[::-1][:-1] -> [-1]
        assertArrayEquals(new double[] {-1}, above.timesteps(), 1e-9);
    }

    private static double[] trainSigmas() {
        double[] s = new double[AC.length];
        for (int i = 0; i < s.length; i++) s[i] = Math.sqrt((1 - AC[i]) / (double) AC[i]);
        return s;
    }

    /** diffusers' _sigma_to_t without ties: linear interpolation in log sigma between the neighbouring timesteps. */
    private static double sigmaToT(double sigma, double[] train) {
        double ls = Math.log(sigma);
        if (ls <= Math.log(train[0])) return 0;
        if (ls >= Math.log(train[train.length - 1])) return train.length - 1;
        int k = 0;
        while (Math.log(train[k + 1]) <= ls) k++;
        double lo = Math.log(train[k]), hi = Math.log(train[k + 1]);
        return k + (ls - lo) / (hi - lo);
    }

    @Test
    void luLambdasAreEvenlySpacedInLogSigma() {
        DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(dpm().with("use_lu_lambdas", true));
        int n = 8;
        s.setTimesteps(n);
        double[] train = trainSigmas();
        double lmax = Math.log(train[999]), lmin = Math.log(train[0]);
        float[] sig = s.sigmas();
        double[] ts = s.timesteps();
        assertEquals(n + 1, sig.length);
        for (int i = 0; i < n; i++) {
            double expected = Math.exp(lmax + (double) i / (n - 1) * (lmin - lmax));
            assertClose(expected, sig[i], 1e-5, "sigma " + i);
            assertEquals(Math.rint(sigmaToT(expected, train)), ts[i], 1.0, "timestep " + i);
        }
        assertEquals(999, ts[0]);
        assertEquals(0, ts[n - 1]);
        assertEquals(0f, sig[n], "final_sigmas_type zero");
    }

    private static double karras(double min, double max, int i, int n) {
        double lo = Math.pow(min, 1 / 7.0), hi = Math.pow(max, 1 / 7.0);
        return Math.pow(hi + (double) i / (n - 1) * (lo - hi), 7);
    }

    @Test
    void dpmKarrasSigmasTakeTheConfiguredLimits() {
        int n = 6;
        DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(dpm().with("use_karras_sigmas", true)
                .with("sigma_min", 0.5).with("sigma_max", 8.0));
        s.setTimesteps(n);
        float[] sig = s.sigmas();
        for (int i = 0; i < n; i++) assertClose(karras(0.5, 8.0, i, n), sig[i], 1e-5, "sigma " + i);
        double[] train = trainSigmas();
        DPMSolverMultistepScheduler plain = new DPMSolverMultistepScheduler(dpm().with("use_karras_sigmas", true));
        plain.setTimesteps(n);
        sig = plain.sigmas();
        for (int i = 0; i < n; i++) assertClose(karras(train[0], train[999], i, n), sig[i], 1e-5, "default limits, sigma " + i);
    }

    @Test
    void eulerAndLmsKarrasSigmas() {
        int n = 7;
        for (boolean lms : new boolean[] {false, true}) {
            SchedulerConfig c = SchedulerConfig.sd15().with("use_karras_sigmas", true);
            SigmaScheduler plain = lms ? new LMSDiscreteScheduler(SchedulerConfig.sd15()) : new EulerDiscreteScheduler(SchedulerConfig.sd15());
            SigmaScheduler karras = lms ? new LMSDiscreteScheduler(c) : new EulerDiscreteScheduler(c);
            plain.setTimesteps(n);
            karras.setTimesteps(n);
            // _convert_to_karras(in_sigmas=the interpolated schedule): from its largest to its smallest sigma
            float[] in = plain.sigmas();
            float[] sig = karras.sigmas();
            double[] ts = karras.timesteps();
            double[] train = trainSigmas();
            assertEquals(n + 1, sig.length);
            for (int i = 0; i < n; i++) {
                double expected = karras(in[n - 1], in[0], i, n);
                assertClose(expected, sig[i], 1e-5, (lms ? "LMS" : "Euler") + " sigma " + i);
                assertEquals(sigmaToT(expected, train), ts[i], 1e-3, (lms ? "LMS" : "Euler") + " timestep " + i);
            }
            assertEquals(0f, sig[n]);
        }
        EulerDiscreteScheduler limits = new EulerDiscreteScheduler(SchedulerConfig.sd15().with("use_karras_sigmas", true)
                .with("sigma_min", 0.1).with("sigma_max", 20.0));
        limits.setTimesteps(n);
        for (int i = 0; i < n; i++) assertClose(karras(0.1, 20.0, i, n), limits.sigmas()[i], 1e-5, "configured limits, sigma " + i);
    }

    // --- numpy and torch rules -----------------------------------------------------------------------------------

    @Test
    void torchLinspaceOfOneIsTheStartAndIsMirrorSymmetricForAnEvenCount() {
        assertArrayEquals(new float[] {0.25f}, TrainingSchedule.torchLinspace(0.25f, 7f, 1));
        // torch's CPU kernel counts the first half up from start and the second half down from end, so for an even
        // count linspace(a, b, n)[n - 1 - i] == linspace(b, a, n)[i] exactly
        Random r = new Random(5);
        for (int trial = 0; trial < 200; trial++) {
            float a = r.nextFloat(), b = a + r.nextFloat() * 3;
            for (int n : new int[] {4, 6, 10, 1000}) {
                float[] up = TrainingSchedule.torchLinspace(a, b, n), down = TrainingSchedule.torchLinspace(b, a, n);
                for (int i = 0; i < n; i++) assertEquals(down[i], up[n - 1 - i], "linspace(" + a + ", " + b + ", " + n + ")[" + i + "]");
            }
        }
    }

    @Test
    void zeroTerminalSnrRescalingAtEveryTimestep() {
        float[] plain = TrainingSchedule.of(SchedulerConfig.sd15()).alphasCumprod();
        float[] ac = TrainingSchedule.of(SchedulerConfig.sd15().with("rescale_betas_zero_snr", true)).alphasCumprod();
        double s0 = Math.sqrt(plain[0]), sT = Math.sqrt(plain[999]);
        for (int t = 0; t < 1000; t++) {
            double root = (Math.sqrt(plain[t]) - sT) * s0 / (s0 - sT);
            assertEquals(root * root, ac[t], 2e-5, "alphas_cumprod[" + t + "]");
        }
    }

    @Test
    void interpAtAKnotNextToAnInfiniteValueIsTheKnotsValue() {
        // numpy's interp returns fp[j] at x == xp[j] ("avoid potential non-finite interpolation")
        float[] fp = {0f, 1f, 2f, Float.POSITIVE_INFINITY};
        assertEquals(2.0, Sigmas.interp(2.0, fp));
        assertEquals(1.5, Sigmas.interp(1.5, fp));
    }

    @Test
    void sigmaToTTakesTheLastOfEqualNeighbours() {
        // low_idx = argmax(cumsum(dists >= 0)): with log sigmas [-1, 0, 0, 1] and sigma 1 (log 0) that is index 2, w 0
        assertEquals(2.0, Sigmas.sigmaToT(1.0, new float[] {-1f, 0f, 0f, 1f}));
        // between the first two: low_idx 0, halfway in log sigma
        assertEquals(0.5, Sigmas.sigmaToT(Math.exp(-0.5), new float[] {-1f, 0f, 0f, 1f}), 1e-12);
    }

    // --- configs ---------------------------------------------------------------------------------------------------

    @Test
    void readCheckedTheFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("scheduler_config.json");
        Files.writeString(file, "{\"_class_name\": \"DDIMScheduler\", \"num_train_timesteps\": 0}");
        ConfigException e = assertThrows(ConfigException.class, () -> SchedulerConfig.read(file));
        assertTrue(e.getMessage().contains("num_train_timesteps"), e.getMessage());
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    }

    private static String betas(int n) {
        StringJoiner j = new StringJoiner(", ", "[", "]");
        for (int i = 0; i < n; i++) j.add("0.001");
        return j.toString();
    }

    @Test
    void configLimits() {
        SchedulerConfig.parse("{\"trained_betas\": " + betas(1) + "}").check(null);
        SchedulerConfig.parse("{\"trained_betas\": " + betas(SchedulerConfig.MAX_TRAIN_TIMESTEPS) + "}").check(null);
        for (int bad : new int[] {0, SchedulerConfig.MAX_TRAIN_TIMESTEPS + 1}) {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> SchedulerConfig.parse("{\"trained_betas\": " + betas(bad) + "}").check(null));
            assertTrue(e.getMessage().contains("has " + bad + " entries"), e.getMessage());
        }
        SchedulerConfig.parse("{\"num_train_timesteps\": 1000, \"original_inference_steps\": 1}").check(null);
        SchedulerConfig.parse("{\"num_train_timesteps\": 1000, \"original_inference_steps\": 1000}").check(null);
        for (int bad : new int[] {0, 1001}) {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> SchedulerConfig.parse("{\"num_train_timesteps\": 1000, \"original_inference_steps\": " + bad + "}").check(null));
            assertTrue(e.getMessage().contains("original_inference_steps"), e.getMessage());
        }
    }

    @Test
    void timestepSpacingNamesAndSamplerNames() {
        for (String s : Schedulers.TIMESTEP_SPACINGS) assertEquals(s, Schedulers.requireTimestepSpacing(s));
        assertEquals("timestep spacing 'even' is not one of leading, linspace, trailing",
                assertThrows(IllegalArgumentException.class, () -> Schedulers.requireTimestepSpacing("even")).getMessage());
        for (SamplerName n : SamplerName.values()) assertEquals(n.displayName(), n.toString());
        assertEquals("DPM++ 2M Karras", SamplerName.DPMPP_2M_KARRAS.toString());
    }

    @Test
    void aConfigWithoutAClassNameTakesTheSamplersOwnDefaults() {
        // no _class_name: no model-scheduler defaults to carry over, so DDIM's own apply (leading, steps_offset 0)
        Scheduler s = Schedulers.create("DDIM", SchedulerConfig.parse("{\"num_train_timesteps\": 1000}"));
        s.setTimesteps(4);
        assertArrayEquals(new double[] {750, 500, 250, 0}, s.timesteps());
        assertNull(Schedulers.defaults(null));
        assertNull(Schedulers.defaults("FlowMatchEulerDiscreteScheduler"));
    }
}
