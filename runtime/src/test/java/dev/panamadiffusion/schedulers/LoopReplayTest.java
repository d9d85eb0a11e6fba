package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.rng.TorchCpuGenerator;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Each recorded diffusers loop, replayed by the scheduler alone with the recorded guided noise predictions. */
class LoopReplayTest {
    /** The contract is 1e-4 relative; float32 arithmetic in diffusers' order lands around 1e-7. */
    private static final double TOLERANCE = 1e-4;
    private static final double EXPECTED_PRECISION = 2e-6;

    private static void replay(LoopRecord loop, Scheduler scheduler, NoiseGenerator noise) {
        double worst = loop.replay(scheduler, noise, TOLERANCE);
        System.out.printf("%s: worst relative error %.3g%n", loop.name, worst);
        assertTrue(worst <= EXPECTED_PRECISION, loop.name + ": worst relative error " + worst);
    }

    private static final NoiseGenerator NO_NOISE = shape -> {
        throw new AssertionError("deterministic scheduler drew noise");
    };

    @Test
    void ddim() {
        LoopRecord loop = LoopRecord.load("ddim");
        replay(loop, new DDIMScheduler(loop.config), NO_NOISE);
    }

    @Test
    void pndm() {
        LoopRecord loop = LoopRecord.load("pndm");
        replay(loop, new PNDMScheduler(loop.config), NO_NOISE);
    }

    @Test
    void euler() {
        LoopRecord loop = LoopRecord.load("euler");
        EulerDiscreteScheduler s = new EulerDiscreteScheduler(loop.config);
        replay(loop, s, NO_NOISE);
        loop.checkSigmas(s.sigmas(), 1e-6);
    }

    @Test
    void eulerAncestralWithRecordedNoise() {
        LoopRecord loop = LoopRecord.load("euler_a");
        EulerAncestralDiscreteScheduler s = new EulerAncestralDiscreteScheduler(loop.config);
        replay(loop, s, loop.recordedAncestralNoise());
        loop.checkSigmas(s.sigmas(), 1e-6);
    }

    @Test
    void eulerAncestralWithTorchGenerator() {
        // The loop starts from the seed-42 latents of the other loops; the steps drew their noise from one CPU
        // generator seeded 1234, so our generator must reproduce that noise and the whole loop.
        LoopRecord loop = LoopRecord.load("euler_a");
        assertEquals(0.0, LoopRecord.relError(loop.get("noise"), new TorchCpuGenerator(42).randn(loop.get("noise").shape())),
                "initial noise from seed 42");
        TorchCpuGenerator generator = new TorchCpuGenerator(loop.get("generator_seed").getLong(0));
        for (int i = 0; i < loop.iterations(); i++) {
            Tensor recorded = loop.get("step" + i + "_ancestral_noise");
            assertEquals(0.0, LoopRecord.relError(recorded, generator.randn(recorded.shape())), "ancestral noise " + i);
        }
        generator.manualSeed(loop.get("generator_seed").getLong(0));
        replay(loop, new EulerAncestralDiscreteScheduler(loop.config), generator);
    }

    @Test
    void lms() {
        LoopRecord loop = LoopRecord.load("lms");
        LMSDiscreteScheduler s = new LMSDiscreteScheduler(loop.config);
        replay(loop, s, NO_NOISE);
        loop.checkSigmas(s.sigmas(), 1e-6);
    }

    @Test
    void dpmSolverPlusPlus2M() {
        LoopRecord loop = LoopRecord.load("dpmpp2m");
        DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(loop.config);
        replay(loop, s, NO_NOISE);
        loop.checkSigmas(s.sigmas(), 1e-6);
    }

    @Test
    void dpmSolverPlusPlus2MKarras() {
        LoopRecord loop = LoopRecord.load("dpmpp2m_karras");
        DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(loop.config);
        replay(loop, s, NO_NOISE);
        loop.checkSigmas(s.sigmas(), 1e-6);
    }
}
