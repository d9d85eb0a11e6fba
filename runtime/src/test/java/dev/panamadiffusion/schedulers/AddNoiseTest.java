package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.rng.JavaNoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * diffusers' {@code add_noise} for every sampler (the image to image start), against the three forms written out here:
 * {@code sqrt(ᾱ_t)·x + sqrt(1 − ᾱ_t)·noise} (DDIM, PNDM, LCM), {@code x + σ·noise} (Euler, Euler a, LMS) and
 * {@code α_σ·x + σ·α_σ·noise} with α_σ = 1 / sqrt(σ² + 1) (DPM-Solver); and what {@code addNoise} and
 * {@code setBeginIndex} refuse.
 */
class AddNoiseTest {
    private static final long[] SHAPE = {1, 4, 3, 3};
    private static final float[] AC = TrainingSchedule.of(SchedulerConfig.sd15()).alphasCumprod();

    private static double[] expected(Scheduler s, int i, float[] x, float[] n) {
        double a, b;
        if (s instanceof DDIMScheduler || s instanceof PNDMScheduler || s instanceof LCMScheduler) {
            int t = (int) s.timesteps()[i];
            double ac = AC[t < 0 ? t + AC.length : t];
            a = Math.sqrt(ac);
            b = Math.sqrt(1 - ac);
        } else if (s instanceof DPMSolverMultistepScheduler dpm) {
            double sigma = dpm.sigmas()[i];
            a = 1 / Math.sqrt(sigma * sigma + 1);
            b = sigma * a;
        } else {
            a = 1;
            b = ((SigmaScheduler) s).sigmas()[i];
        }
        double[] out = new double[x.length];
        for (int k = 0; k < x.length; k++) out[k] = a * x[k] + b * n[k];
        return out;
    }

    @Test
    void everySamplerNoisesTheCleanLatentsToItsStepsLevel() {
        Tensor x = new JavaNoiseGenerator(1).randn(SHAPE);
        Tensor noise = new JavaNoiseGenerator(2).randn(SHAPE);
        float[] xs = x.toFloatArray(), ns = noise.toFloatArray();
        for (String name : Schedulers.names()) {
            Scheduler s = Schedulers.create(name, SchedulerConfig.sd15());
            s.setTimesteps(4);
            for (int i = 0; i < s.timesteps().length; i++) {
                double[] want = expected(s, i, xs, ns);
                float[] got = s.addNoise(x, noise, i).toFloatArray();
                assertArrayEquals(SHAPE, s.addNoise(x, noise, i).shape(), name);
                for (int k = 0; k < got.length; k++) {
                    assertEquals(want[k], got[k], 2e-6 * Math.max(1, Math.abs(want[k])), name + " step " + i + " element " + k);
                }
            }
        }
    }

    @Test
    void addNoiseAndSetBeginIndexRefuseIndicesOutsideTheSchedule() {
        Tensor x = new JavaNoiseGenerator(1).randn(SHAPE);
        Tensor other = new JavaNoiseGenerator(1).randn(1, 4, 3, 2);
        for (String name : Schedulers.names()) {
            Scheduler s = Schedulers.create(name, SchedulerConfig.sd15());
            s.setTimesteps(4);
            int n = s.timesteps().length;
            String outside = "step index " + n + " outside the " + n + "-step schedule (call setTimesteps first)";
            assertEquals(outside, assertThrows(IndexOutOfBoundsException.class, () -> s.addNoise(x, x, n), name).getMessage());
            assertEquals(outside, assertThrows(IndexOutOfBoundsException.class, () -> s.setBeginIndex(n), name).getMessage());
            assertEquals(outside.replace("index " + n, "index -1"),
                    assertThrows(IndexOutOfBoundsException.class, () -> s.setBeginIndex(-1), name).getMessage());
            IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> s.addNoise(x, other, 0), name);
            assertTrue(shape.getMessage().endsWith("differ in shape"), name + ": " + shape.getMessage());
            // and the step index message is the scheduler's own, also in step()
            assertEquals(outside, assertThrows(IndexOutOfBoundsException.class,
                    () -> s.step(x, n, x, new JavaNoiseGenerator(3)), name).getMessage());
            // an unset schedule: every index is outside
            Scheduler fresh = Schedulers.create(name, SchedulerConfig.sd15());
            assertThrows(IndexOutOfBoundsException.class, () -> fresh.addNoise(x, x, 0), name);
        }
    }

    @Test
    void theSamplersWithHistoryRefuseSetBeginIndexAfterAStep() {
        Tensor x = new JavaNoiseGenerator(1).randn(SHAPE);
        for (String name : new String[] {"PNDM", "LMS", "DPM++ 2M"}) {
            Scheduler s = Schedulers.create(name, SchedulerConfig.sd15());
            s.setTimesteps(6);
            s.setBeginIndex(2);
            Tensor next = s.step(x, 2, x, null);
            assertEquals("setBeginIndex after a step",
                    assertThrows(IllegalStateException.class, () -> s.setBeginIndex(3), name).getMessage());
            // the loop goes on from the begin index
            s.step(x, 3, next, null);
            assertThrows(IllegalStateException.class, () -> s.step(x, 3, next, null), name + ": step 3 again");
        }
        PNDMScheduler plms = new PNDMScheduler(SchedulerConfig.sd15());
        plms.setTimesteps(6);
        plms.setBeginIndex(2);
        Tensor a = plms.step(x, 2, x, null);
        Tensor b = plms.step(x, 3, a, null);
        assertEquals("PNDM steps must be taken in order: expected step 4, got 3",
                assertThrows(IllegalStateException.class, () -> plms.step(x, 3, b, null)).getMessage());
        PNDMScheduler prk = new PNDMScheduler(SchedulerConfig.sd15().with("skip_prk_steps", false));
        prk.setTimesteps(10);
        prk.setBeginIndex(0);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> prk.setBeginIndex(1)).getMessage()
                .contains("cannot start mid-schedule"));
    }

    @Test
    void aReusedLmsStartsAtItsBeginIndexWithoutTheOldHistory() {
        Tensor x = new JavaNoiseGenerator(1).randn(SHAPE);
        LMSDiscreteScheduler reused = new LMSDiscreteScheduler(SchedulerConfig.sd15());
        reused.setTimesteps(6);
        Tensor y = x;
        for (int i = 0; i < 6; i++) y = reused.step(new JavaNoiseGenerator(10 + i).randn(SHAPE), i, y, null);
        LMSDiscreteScheduler fresh = new LMSDiscreteScheduler(SchedulerConfig.sd15());
        for (LMSDiscreteScheduler s : new LMSDiscreteScheduler[] {reused, fresh}) {
            s.setTimesteps(6);
            s.setBeginIndex(2); // setTimesteps forgot the last loop's steps
        }
        Tensor a = x, b = x;
        for (int i = 2; i < 6; i++) {
            Tensor eps = new JavaNoiseGenerator(20 + i).randn(SHAPE);
            a = reused.step(eps, i, a, null);
            b = fresh.step(eps, i, b, null);
            assertArrayEquals(b.toFloatArray(), a.toFloatArray(), "step " + i);
        }
    }

    @Test
    void noiseFromTheGeneratorMustBeAHostTensor() {
        Tensor x = new JavaNoiseGenerator(1).randn(SHAPE);
        EulerAncestralDiscreteScheduler s = new EulerAncestralDiscreteScheduler(SchedulerConfig.sd15());
        s.setTimesteps(4);
        assertEquals("ancestral noise is null", assertThrows(IllegalArgumentException.class, () -> s.step(x, 0, x, shape -> null)).getMessage());
        Tensor device = Tensor.of(dev.panamadiffusion.tensor.DType.F32, dev.panamadiffusion.tensor.Device.CUDA,
                java.lang.foreign.MemorySegment.ofArray(new float[36]), SHAPE);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.step(x, 0, x, shape -> device));
        assertTrue(e.getMessage().startsWith("ancestral noise must be a host tensor"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> s.step(device, 0, x, new JavaNoiseGenerator(2)));
        assertTrue(e.getMessage().startsWith("model output must be a host tensor"), e.getMessage());
    }
}
