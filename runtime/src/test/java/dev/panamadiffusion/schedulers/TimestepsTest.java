package dev.panamadiffusion.schedulers;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Inference timesteps for each scheduler and spacing, against values worked out from diffusers' formulas (SD 1.5
 * betas, steps_offset 1, 1000 training steps).
 */
class TimestepsTest {
    private static SchedulerConfig sd(String spacing) {
        return SchedulerConfig.sd15().with("timestep_spacing", spacing);
    }

    private static double[] timesteps(Scheduler s, int n) {
        s.setTimesteps(n);
        return s.timesteps();
    }

    /** leading: (arange(n) * (1000 // n))[::-1] + steps_offset */
    private static double[] leading(int n) {
        double[] t = new double[n];
        for (int i = 0; i < n; i++) t[i] = (n - 1 - i) * (1000 / n) + 1;
        return t;
    }

    @Test
    void ddim() {
        double[] t50 = timesteps(new DDIMScheduler(sd("leading")), 50);
        assertArrayEquals(leading(50), t50);
        assertEquals(981, t50[0]);
        assertEquals(961, t50[1]);
        assertEquals(1, t50[49]);
        // linspace: round(linspace(0, 999, n))[::-1]
        assertArrayEquals(new double[] {999, 666, 333, 0}, timesteps(new DDIMScheduler(sd("linspace")), 4));
        double[] lin50 = timesteps(new DDIMScheduler(sd("linspace")), 50);
        for (int i = 0; i < 50; i++) assertEquals(Math.rint((49 - i) * (999.0 / 49)), lin50[i], "linspace " + i);
        assertEquals(958, lin50[2], "2 * 20.387... = 958.18 -> 958");
        // trailing: round(arange(1000, 0, -1000 / n)) - 1
        assertArrayEquals(new double[] {999, 749, 499, 249}, timesteps(new DDIMScheduler(sd("trailing")), 4));
        assertArrayEquals(new double[] {999, 666, 332}, timesteps(new DDIMScheduler(sd("trailing")), 3));
        assertArrayEquals(new double[] {999, 856, 713, 570, 428, 285, 142}, timesteps(new DDIMScheduler(sd("trailing")), 7));
        // numpy's arange makes 62 values for 61 steps (1000 / (1000 / 61) rounds up past 61), ending at -1
        double[] t61 = timesteps(new DDIMScheduler(sd("trailing")), 61);
        assertEquals(62, t61.length);
        assertEquals(-1, t61[61]);
        assertEquals(15, t61[60]);
    }

    @Test
    void pndm() {
        // skip_prk_steps: the second-highest timestep repeats (one extra model evaluation)
        assertArrayEquals(new double[] {831, 665, 665, 499, 333, 167, 1}, timesteps(new PNDMScheduler(sd("leading")), 6));
        double[] t50 = timesteps(new PNDMScheduler(sd("leading")), 50);
        assertEquals(51, t50.length);
        assertEquals(981, t50[0]);
        assertEquals(961, t50[1]);
        assertEquals(961, t50[2]);
        assertEquals(941, t50[3]);
        assertEquals(1, t50[50]);
        // linspace base round(linspace(0, 999, 6)) = 0, 200, 400, 599, 799, 999
        assertArrayEquals(new double[] {999, 799, 799, 599, 400, 200, 0}, timesteps(new PNDMScheduler(sd("linspace")), 6));
        // trailing base round(arange(1000, 0, -166.67))[::-1] - 1 = 166, 332, 499, 666, 832, 999
        assertArrayEquals(new double[] {999, 832, 832, 666, 499, 332, 166}, timesteps(new PNDMScheduler(sd("trailing")), 6));
        // with PRK warm-up (10 steps, ratio 100, half step 50): 12 Runge-Kutta evaluations over the last 4 timesteps
        // shifted by the half step, then PLMS over the remaining ones
        double[] prk = timesteps(new PNDMScheduler(sd("leading").with("skip_prk_steps", false)), 10);
        assertArrayEquals(new double[] {901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601,
                601, 501, 401, 301, 201, 101, 1}, prk);
    }

    @Test
    void eulerTypesAndLms() {
        for (String kind : new String[] {"euler", "euler_a", "lms"}) {
            assertArrayEquals(leading(50), timesteps(make(kind, sd("leading")), 50), kind);
            // linspace keeps fractions, in float32: 999, 799.2, 599.4, 399.6, 199.8, 0
            assertArrayEquals(new double[] {999, 799.2f, 599.4f, 399.6f, 199.8f, 0}, timesteps(make(kind, sd("linspace")), 6), kind);
            assertArrayEquals(new double[] {999, 666, 333, 0}, timesteps(make(kind, sd("linspace")), 4), kind);
            assertArrayEquals(new double[] {999, 749, 499, 249}, timesteps(make(kind, sd("trailing")), 4), kind);
        }
    }

    private static Scheduler make(String kind, SchedulerConfig c) {
        return switch (kind) {
            case "euler" -> new EulerDiscreteScheduler(c);
            case "euler_a" -> new EulerAncestralDiscreteScheduler(c);
            default -> new LMSDiscreteScheduler(c);
        };
    }

    @Test
    void eulerSigmasAndInitNoiseFollowTheSpacing() {
        TrainingSchedule training = TrainingSchedule.of(SchedulerConfig.sd15());
        float[] ac = training.alphasCumprod();
        EulerDiscreteScheduler leading = new EulerDiscreteScheduler(sd("leading"));
        leading.setTimesteps(50);
        float[] sigmas = leading.sigmas();
        assertEquals(51, sigmas.length);
        for (int i = 0; i < 50; i++) {
            int t = (int) leading.timesteps()[i];
            assertEquals(Math.sqrt((1 - ac[t]) / ac[t]), sigmas[i], sigmas[i] * 1e-6, "sigma at t=" + t);
        }
        assertEquals(0f, sigmas[50]);
        // leading spacing starts below sigma_max, so the initial noise is scaled by sqrt(sigma² + 1)
        assertEquals(Math.sqrt(sigmas[0] * sigmas[0] + 1), leading.initNoiseSigma(), 1e-5);
        EulerDiscreteScheduler linspace = new EulerDiscreteScheduler(sd("linspace"));
        linspace.setTimesteps(6);
        assertEquals(Math.sqrt((1 - ac[999]) / ac[999]), linspace.initNoiseSigma(), 1e-5);
        // fractional timestep 799.2: linear interpolation between the sigmas of 799 and 800
        double s799 = Math.sqrt((1 - ac[799]) / ac[799]);
        double s800 = Math.sqrt((1 - ac[800]) / ac[800]);
        assertEquals(s799 + (799.2f - 799) * (s800 - s799), linspace.sigmas()[1], 1e-5);
    }

    @Test
    void dpmSolver() {
        // linspace: round(linspace(0, 999, n + 1))[::-1][:-1] (166.5 and 499.5 round to even)
        assertArrayEquals(new double[] {999, 832, 666, 500, 333, 166},
                timesteps(new DPMSolverMultistepScheduler(sd("linspace")), 6));
        // leading: (arange(n + 1) * (1000 // (n + 1)))[::-1][:-1] + 1, ratio 142
        assertArrayEquals(new double[] {853, 711, 569, 427, 285, 143},
                timesteps(new DPMSolverMultistepScheduler(sd("leading")), 6));
        assertArrayEquals(new double[] {999, 832, 666, 499, 332, 166},
                timesteps(new DPMSolverMultistepScheduler(sd("trailing")), 6));
        // Karras: timesteps of the Karras sigmas, rounded
        DPMSolverMultistepScheduler karras = new DPMSolverMultistepScheduler(sd("linspace").with("use_karras_sigmas", true));
        assertArrayEquals(new double[] {999, 837, 594, 249, 30, 0}, timesteps(karras, 6));
        float[] ks = karras.sigmas();
        TrainingSchedule training = TrainingSchedule.of(SchedulerConfig.sd15());
        float[] ac = training.alphasCumprod();
        double sigmaMin = Math.sqrt((1 - ac[0]) / ac[0]);
        double sigmaMax = Math.sqrt((1 - ac[999]) / ac[999]);
        for (int i = 0; i < 6; i++) {
            double ramp = i / 5.0;
            double expected = Math.pow(Math.pow(sigmaMax, 1 / 7.0) + ramp * (Math.pow(sigmaMin, 1 / 7.0) - Math.pow(sigmaMax, 1 / 7.0)), 7);
            assertEquals(expected, ks[i], expected * 1e-6, "karras sigma " + i);
        }
        assertEquals(0f, ks[6]);
        DPMSolverMultistepScheduler sigmaMinFinal = new DPMSolverMultistepScheduler(sd("linspace").with("final_sigmas_type", "sigma_min"));
        sigmaMinFinal.setTimesteps(6);
        assertEquals(sigmaMin, sigmaMinFinal.sigmas()[6], sigmaMin * 1e-6);
    }
}
