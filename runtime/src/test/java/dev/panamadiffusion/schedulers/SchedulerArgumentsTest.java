package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.JavaNoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What every sampler refuses (step indices outside the schedule, mismatched shapes) and the DPM-Solver's config checks. */
class SchedulerArgumentsTest {
    private static final long[] SHAPE = {1, 4, 2, 2};

    @Test
    void everySamplerChecksTheStepIndexAndTheShapes() {
        Tensor x = new JavaNoiseGenerator(1).randn(SHAPE);
        Tensor other = new JavaNoiseGenerator(1).randn(1, 4, 2, 3);
        for (String name : Schedulers.names()) {
            Scheduler s = Schedulers.create(name, SchedulerConfig.sd15());
            s.setTimesteps(5);
            int n = s.timesteps().length;
            assertThrows(IndexOutOfBoundsException.class, () -> s.scaleModelInput(x, -1), name);
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> s.scaleModelInput(x, n), name);
            assertEquals("step index " + n + " outside the " + n + "-step schedule (call setTimesteps first)", e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> s.step(x, n, x, new JavaNoiseGenerator(2)), name);
            assertThrows(IndexOutOfBoundsException.class, () -> s.step(x, -1, x, new JavaNoiseGenerator(2)), name);
            IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                    () -> s.step(other, 0, x, new JavaNoiseGenerator(2)), name);
            assertTrue(shape.getMessage().contains("differ in shape"), name + ": " + shape.getMessage());
            // the last index is inside the schedule
            s.scaleModelInput(x, n - 1);
        }
    }

    private static SchedulerConfig dpm() { return SchedulerConfig.sd15().with("_class_name", "DPMSolverMultistepScheduler"); }

    private static String refused(SchedulerConfig c) {
        return assertThrows(IllegalArgumentException.class, () -> new DPMSolverMultistepScheduler(c)).getMessage();
    }

    @Test
    void dpmSolverConfigChecks() {
        assertEquals("dpmsolver++", new DPMSolverMultistepScheduler(dpm().with("algorithm_type", "deis")).config().algorithmType());
        for (String unipc : new String[] {"logrho", "bh1", "bh2"}) {
            assertEquals("midpoint", new DPMSolverMultistepScheduler(dpm().with("solver_type", unipc)).config().solverType(), unipc);
        }
        assertEquals("heun", new DPMSolverMultistepScheduler(dpm().with("solver_type", "heun")).config().solverType());
        assertTrue(refused(dpm().with("algorithm_type", "unipc")).startsWith("algorithm_type 'unipc' is not supported"));
        assertTrue(refused(dpm().with("solver_type", "rk4")).startsWith("solver_type 'rk4' is not supported"));
        new DPMSolverMultistepScheduler(dpm().with("solver_order", 1));
        new DPMSolverMultistepScheduler(dpm().with("solver_order", 3));
        new DPMSolverMultistepScheduler(dpm().with("algorithm_type", "sde-dpmsolver++").with("solver_order", 2));
        assertTrue(refused(dpm().with("algorithm_type", "sde-dpmsolver++").with("solver_order", 3)).startsWith("solver_order 3"));
        assertTrue(refused(dpm().with("algorithm_type", "sde-dpmsolver").with("solver_order", 3)
                .with("final_sigmas_type", "sigma_min")).startsWith("solver_order 3"));
        assertTrue(refused(dpm().with("final_sigmas_type", "max")).startsWith("final_sigmas_type 'max'"));
        new DPMSolverMultistepScheduler(dpm().with("final_sigmas_type", "sigma_min"));
        assertTrue(refused(dpm().with("algorithm_type", "dpmsolver").with("final_sigmas_type", "zero")).startsWith("final_sigmas_type zero"));
        assertTrue(refused(dpm().with("algorithm_type", "sde-dpmsolver").with("final_sigmas_type", "zero")).startsWith("final_sigmas_type zero"));
        new DPMSolverMultistepScheduler(dpm().with("algorithm_type", "sde-dpmsolver++").with("final_sigmas_type", "zero"));
        assertTrue(refused(dpm().with("thresholding", true)).contains("thresholding"));
        assertTrue(refused(dpm().with("variance_type", "learned")).startsWith("variance_type 'learned'"));
    }

    @Test
    void dpmSolverStepCountsAndOrder() {
        DPMSolverMultistepScheduler s = new DPMSolverMultistepScheduler(dpm());
        assertEquals("num_inference_steps 0 must be in [1, 1000]", assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(0)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> s.setTimesteps(1001));
        s.setTimesteps(1000);
        assertEquals(1000, s.timesteps().length);
        s.setTimesteps(1);
        assertEquals(1, s.timesteps().length);
        s.setTimesteps(4);
        Tensor x = new JavaNoiseGenerator(1).randn(SHAPE);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> s.step(x, 1, x, null));
        assertEquals("DPM-Solver steps must be taken in order: expected step 0, got 1", e.getMessage());
        Tensor next = s.step(x, 0, x, null);
        s.step(x, 1, next, null);
        s.setTimesteps(4); // starts over
        s.step(x, 0, x, null);
        DPMSolverMultistepScheduler sde = new DPMSolverMultistepScheduler(dpm().with("algorithm_type", "sde-dpmsolver++"));
        sde.setTimesteps(4);
        assertEquals("sde-dpmsolver++ needs a noise generator",
                assertThrows(IllegalArgumentException.class, () -> sde.step(x, 0, x, null)).getMessage());
    }
}
