package dev.panamadiffusion.schedulers;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class TrainingScheduleTest {
    @Test
    void alphasCumprodMatchDiffusers() {
        float[] recorded = LoopRecord.load("ddim").get("alphas_cumprod").toFloatArray();
        float[] ours = TrainingSchedule.of(SchedulerConfig.sd15()).alphasCumprod();
        assertEquals(1000, ours.length);
        int identical = 0;
        for (int i = 0; i < ours.length; i++) {
            assertEquals(recorded[i], ours[i], recorded[i] * 3e-7, "alphas_cumprod[" + i + "]");
            if (recorded[i] == ours[i]) identical++;
        }
        assertTrue(identical >= 370, "bit-identical for at least the first 370: " + identical);
    }

    @Test
    void scaledLinearAndLinearBetas() {
        float[] scaled = TrainingSchedule.of(SchedulerConfig.sd15()).betas();
        assertEquals(0.00085, scaled[0], 1e-9);
        assertEquals(0.012, scaled[999], 1e-8);
        double root = Math.sqrt(0.00085) + 500 * (Math.sqrt(0.012) - Math.sqrt(0.00085)) / 999;
        assertEquals(root * root, scaled[500], 1e-8);
        float[] linear = TrainingSchedule.of(SchedulerConfig.sd15().with("beta_schedule", "linear")).betas();
        assertEquals(0.00085 + 250 * (0.012 - 0.00085) / 999, linear[250], 1e-8);
        float[] lin = TrainingSchedule.torchLinspace(1f, 2f, 5);
        assertArrayEquals(new float[] {1f, 1.25f, 1.5f, 1.75f, 2f}, lin);
    }

    @Test
    void squaredCosineBetasFollowTheCosineAlphaBar() {
        TrainingSchedule s = TrainingSchedule.of(SchedulerConfig.sd15().with("beta_schedule", "squaredcos_cap_v2"));
        float[] ac = s.alphasCumprod();
        for (int t : new int[] {0, 100, 500, 900}) {
            double f0 = Math.pow(Math.cos(0.008 / 1.008 * Math.PI / 2), 2);
            double ft = Math.pow(Math.cos(((t + 1) / 1000.0 + 0.008) / 1.008 * Math.PI / 2), 2);
            assertEquals(ft / f0, ac[t], 2e-6, "alpha_bar(" + t + ")");
        }
        assertEquals(0.999, s.betas()[999], 1e-7, "betas capped at 0.999");
    }

    @Test
    void trainedBetasAreTakenAsGiven() {
        double[] betas = {0.1, 0.2, 0.5};
        TrainingSchedule s = TrainingSchedule.of(SchedulerConfig.parse("""
                {"num_train_timesteps": 3, "trained_betas": [0.1, 0.2, 0.5]}"""));
        float[] ac = s.alphasCumprod();
        assertEquals(0.9, ac[0], 1e-7);
        assertEquals(0.9 * 0.8, ac[1], 1e-7);
        assertEquals(0.9 * 0.8 * 0.5, ac[2], 1e-7);
        assertEquals(betas.length, s.numTrainTimesteps());
    }

    @Test
    void zeroTerminalSnrRescaling() {
        SchedulerConfig config = SchedulerConfig.sd15().with("rescale_betas_zero_snr", true);
        float[] plain = TrainingSchedule.of(SchedulerConfig.sd15()).alphasCumprod();
        TrainingSchedule rescaled = TrainingSchedule.of(config);
        float[] ac = rescaled.alphasCumprod();
        assertEquals(0f, ac[999], 1e-12f, "zero SNR at the last timestep");
        assertEquals(plain[0], ac[0], 1e-6f, "first alpha_bar kept");
        // sqrt(alpha_bar) is shifted and scaled linearly: (sqrt(ab) - sqrt(ab_T)) * sqrt(ab_0) / (sqrt(ab_0) - sqrt(ab_T))
        double s0 = Math.sqrt(plain[0]), sT = Math.sqrt(plain[999]);
        double expected = (Math.sqrt(plain[500]) - sT) * s0 / (s0 - sT);
        assertEquals(expected * expected, ac[500], 1e-5);
        // Euler-type and DPM schedulers clamp the last alpha_bar to 2^-24 to keep sigma finite
        float[] forSigmas = rescaled.alphasCumprodForSigmas(config);
        assertEquals(0x1p-24f, forSigmas[999]);
        EulerDiscreteScheduler euler = new EulerDiscreteScheduler(config.with("timestep_spacing", "trailing"));
        euler.setTimesteps(10);
        assertEquals(Math.sqrt((1 - 0x1p-24) / 0x1p-24), euler.sigmas()[0], 1);
        assertTrue(Float.isFinite(euler.sigmas()[0]));
    }
}
