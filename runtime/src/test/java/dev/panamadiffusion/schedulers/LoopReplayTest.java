package dev.panamadiffusion.schedulers;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Each recorded diffusers loop, replayed by the scheduler alone with the recorded guided noise predictions. */
class LoopReplayTest {
    /** The contract is 1e-4 relative; float32 arithmetic in diffusers' order lands around 1e-7. */
    private static final double TOLERANCE = 1e-4;
    private static final double EXPECTED_PRECISION = 2e-6;

    private static void replay(LoopRecord loop, Scheduler scheduler, dev.panamadiffusion.rng.NoiseGenerator noise) {
        double worst = loop.replay(scheduler, noise, TOLERANCE);
        System.out.printf("%s: worst relative error %.3g%n", loop.name, worst);
        assertTrue(worst <= EXPECTED_PRECISION, loop.name + ": worst relative error " + worst);
    }

    private static final dev.panamadiffusion.rng.NoiseGenerator NO_NOISE = shape -> {
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
}
