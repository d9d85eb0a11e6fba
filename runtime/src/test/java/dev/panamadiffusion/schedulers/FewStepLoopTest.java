package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.rng.TorchCpuGenerator;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The loops of the repository's {@code reference/few-step} sets (tools/refgen/gen_lcm.py: LCM, and SD-Turbo style
 * "trailing" spacing with guidance off), replayed by the scheduler alone with the recorded model outputs: timesteps,
 * every step's latents (and LCM's denoised estimate) to 1e-4 relative, the noise drawn in between both as recorded and
 * from our torch-compatible generator continuing after the initial noise, as diffusers' {@code generator=} does.
 */
class FewStepLoopTest {
    private static final double TOLERANCE = 1e-4;
    /** What float32 arithmetic in diffusers' order reaches (LoopReplayTest's bound). */
    private static final double EXPECTED_PRECISION = 2e-6;

    private static LoopRecord loop(String set, String file) {
        return LoopRecord.load(LoopRecord.repositoryReference("few-step").resolve(set).resolve(file + ".safetensors"));
    }

    /** The replay with the recorded noise, then again with the generator seeded noise_seed, as the pipeline draws it. */
    private static void replayBothWays(LoopRecord loop, java.util.function.Supplier<Scheduler> make) {
        double recorded = loop.replay(make.get(), loop.recordedAncestralNoise(), TOLERANCE);
        TorchCpuGenerator g = new TorchCpuGenerator(loop.get("noise_seed").getLong(0));
        assertEquals(0.0, LoopRecord.relError(loop.get("noise"), g.randn(loop.get("noise").shape())), "initial noise");
        double seeded = loop.replay(make.get(), g, TOLERANCE);
        System.out.printf("%s: worst relative error %.3g (recorded noise), %.3g (generator)%n", loop.name, recorded, seeded);
        assertTrue(recorded <= EXPECTED_PRECISION && seeded <= EXPECTED_PRECISION, loop.name + ": " + recorded + ", " + seeded);
    }

    @ParameterizedTest
    @ValueSource(strings = {"lcm/loop_lcm_cfg1", "lcm/loop_lcm_cfg1.5", "lcm_one_step/loop_lcm_cfg1", "lcm_w/loop_lcm_cfg8"})
    void lcmLoops(String path) {
        LoopRecord loop = loop(path.substring(0, path.indexOf('/')), path.substring(path.indexOf('/') + 1));
        assertEquals("LCMScheduler", loop.config.className());
        replayBothWays(loop, () -> Schedulers.fromConfig(loop.config));
        // diffusers' second output: the consistency estimate of every step (the last one is the final sample)
        LCMScheduler s = new LCMScheduler(loop.config);
        s.setTimesteps(loop.numInferenceSteps());
        NoiseGenerator noise = loop.recordedAncestralNoise();
        Tensor latents = loop.get("init_latents");
        for (int i = 0; i < loop.iterations(); i++) {
            latents = s.step(loop.get("step" + i + "_guided"), i, latents, noise);
            double err = LoopRecord.relError(loop.get("step" + i + "_denoised"), s.denoised());
            assertTrue(err <= EXPECTED_PRECISION, loop.name + " step " + i + " denoised: " + err);
        }
        assertEquals(0.0, LoopRecord.relError(s.denoised(), latents), "the last step returns the denoised sample");
    }

    @Test
    void oneLcmStepDrawsNoNoise() {
        LoopRecord loop = loop("lcm_one_step", "loop_lcm_cfg1");
        double worst = loop.replay(new LCMScheduler(loop.config), shape -> {
            throw new AssertionError("one LCM step drew noise");
        }, TOLERANCE);
        assertTrue(worst <= EXPECTED_PRECISION, "" + worst);
    }

    @ParameterizedTest
    @ValueSource(strings = {"loop_euler_a_trailing_cfg0", "loop_euler_a_trailing_cfg1"})
    void eulerAncestralTrailing(String file) {
        LoopRecord loop = loop("trailing", file);
        assertEquals("trailing", loop.config.timestepSpacing());
        replayBothWays(loop, () -> new EulerAncestralDiscreteScheduler(loop.config));
        EulerAncestralDiscreteScheduler s = new EulerAncestralDiscreteScheduler(loop.config);
        s.setTimesteps(loop.numInferenceSteps());
        loop.checkSigmas(s.sigmas(), 1e-6);
    }

    @Test
    void eulerTrailingOneStep() {
        LoopRecord loop = loop("trailing", "loop_euler_trailing_cfg0");
        EulerDiscreteScheduler s = new EulerDiscreteScheduler(loop.config);
        double worst = loop.replay(s, shape -> {
            throw new AssertionError("Euler drew noise");
        }, TOLERANCE);
        assertTrue(worst <= EXPECTED_PRECISION, "" + worst);
        loop.checkSigmas(s.sigmas(), 1e-6);
        assertArrayEquals(new double[] {999}, s.timesteps());
    }

    @Test
    void ddimTrailingTwoSteps() {
        LoopRecord loop = loop("trailing", "loop_ddim_trailing_cfg0");
        double worst = loop.replay(new DDIMScheduler(loop.config), shape -> {
            throw new AssertionError("DDIM (eta 0) drew noise");
        }, TOLERANCE);
        assertTrue(worst <= EXPECTED_PRECISION, "" + worst);
    }
}
