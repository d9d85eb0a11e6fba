package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.models.vae.DiagonalGaussianDistribution;
import dev.panamadiffusion.rng.TorchCpuGenerator;
import dev.panamadiffusion.schedulers.Scheduler;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.schedulers.Schedulers;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.panamadiffusion.pipeline.Gaussian.gaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * LatentSource's starts as diffusers' prepare_latents makes them: text to image from the caller's noise × init_noise_sigma,
 * image to image noised by the caller's noise, SDXL's denoising_start from the image latents as they are (drawn or
 * given), a strength that leaves no step refused, an inpainting UNet without a mask refused.
 */
class LatentSourceStartTest {
    private static final long[] SHAPE = {2, 4, 2, 2};

    private static Scheduler scheduler(String name, int steps) {
        Scheduler s = Schedulers.fromConfig(SchedulerConfig.read(
                Reference.tiny().resolve("scheduler_" + name).resolve("scheduler_config.json")));
        s.setTimesteps(steps);
        return s;
    }

    /** A posterior over [1, 4, 2, 2] latents: mean and log-variance from {@code seed}. */
    private static DiagonalGaussianDistribution posterior(long seed) {
        return new DiagonalGaussianDistribution(gaussian(seed, 1, 8, 2, 2));
    }

    private static float[] scaled(Tensor t, float s) {
        float[] v = t.toFloatArray();
        for (int i = 0; i < v.length; i++) v[i] *= s;
        return v;
    }

    /** {@code row} repeated {@code n} times. */
    private static float[] repeated(float[] row, int n) {
        float[] out = new float[row.length * n];
        for (int i = 0; i < n; i++) System.arraycopy(row, 0, out, i * row.length, row.length);
        return out;
    }

    @Test
    void textToImageScalesTheGivenNoiseByInitNoiseSigma() {
        Tensor noise = gaussian(1, SHAPE);
        LatentSource source = LatentSource.of(null, p -> { throw new AssertionError("nothing to encode"); }, 0.18215f, SHAPE,
                noise, false);
        assertInstanceOf(LatentSource.Noise.class, source);
        Scheduler euler = scheduler("euler", 10);
        LatentSource.Start start = source.start(euler, 10, SHAPE, new TorchCpuGenerator(0));
        assertEquals(0, start.beginIndex());
        assertArrayEquals(scaled(noise, (float) euler.initNoiseSigma()), start.latents().toFloatArray());
    }

    @Test
    void anInpaintingUNetNeedsAMask() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> LatentSource.of(null, p -> null, 1f, SHAPE, null, true));
        assertEquals("an inpainting UNet needs a mask", e.getMessage());
        InitImage noMask = new InitImage(new Rgb8Image(4, 4, new byte[48]), 0.5);
        e = assertThrows(IllegalStateException.class, () -> LatentSource.of(noMask, p -> null, 1f, SHAPE, null, true));
        assertEquals("an inpainting UNet needs a mask", e.getMessage());
    }

    @Test
    void imageToImageUsesTheGivenNoise() {
        DiagonalGaussianDistribution posterior = posterior(3);
        Tensor noise = gaussian(4, SHAPE);
        InitImage init = new InitImage(new Rgb8Image(4, 4, new byte[48]), 0.5);
        Scheduler ddim = scheduler("ddim", 10);
        LatentSource.Start start = new LatentSource.Image(posterior, 0.5f, init, noise).start(ddim, 10, SHAPE, new TorchCpuGenerator(7));
        assertEquals(5, start.beginIndex(), "strength 0.5 of 10 steps starts at t_start 5");
        // the generator's first draw samples the posterior; the noise is the caller's, not a second draw
        float[] image = repeated(scaled(posterior.sample(new TorchCpuGenerator(7)), 0.5f), 2);
        Tensor expected = scheduler("ddim", 10).addNoise(Tensor.fromFloats(image, SHAPE), noise, 5);
        assertArrayEquals(expected.toFloatArray(), start.latents().toFloatArray());
    }

    @Test
    void aStrengthThatLeavesNoStepIsRefused() {
        // int(10 × 0.05) = 0 steps to run: t_start is 10, past the last of the 10 timesteps
        InitImage init = new InitImage(new Rgb8Image(4, 4, new byte[48]), 0.05);
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () ->
                new LatentSource.Image(posterior(3), 1f, init, gaussian(4, SHAPE)).start(scheduler("ddim", 10), 10, SHAPE,
                        new TorchCpuGenerator(7)));
        assertEquals(List.of(new InvalidRequestException.Problem("strength", "leaves no step of 10 to run")), e.problems());
    }

    @Test
    void denoisingStartFromADrawnSample() {
        DiagonalGaussianDistribution posterior = posterior(5);
        LatentSource.Start start = new LatentSource.Clean(posterior, 0.5f, null, 3).start(scheduler("ddim", 10), 10, SHAPE,
                new TorchCpuGenerator(9));
        assertEquals(3, start.beginIndex());
        assertArrayEquals(repeated(scaled(posterior.sample(new TorchCpuGenerator(9)), 0.5f), 2), start.latents().toFloatArray(),
                "one posterior sample × the scaling factor, no noise added, per image");
    }

    @Test
    void denoisingStartFromGivenLatentsPerImage() {
        Tensor given = gaussian(6, SHAPE);   // already one row per image
        LatentSource.Start start = new LatentSource.Clean(null, 0.5f, given, 3).start(scheduler("ddim", 10), 10, SHAPE,
                new TorchCpuGenerator(9));
        assertArrayEquals(SHAPE, start.latents().shape());
        assertArrayEquals(given.toFloatArray(), start.latents().toFloatArray(), "taken as they are");
        Tensor one = gaussian(7, 1, 4, 2, 2);
        start = new LatentSource.Clean(null, 0.5f, one, 3).start(scheduler("ddim", 10), 10, SHAPE, new TorchCpuGenerator(9));
        assertArrayEquals(repeated(one.toFloatArray(), 2), start.latents().toFloatArray(), "one row repeated per image");
    }

    @Test
    void denoisingStartSetsTheSchedulersBeginIndex() {
        // PNDM (PLMS) takes its steps in order from its begin index: stepping at 3 works only once that is set
        Scheduler pndm = scheduler("pndm", 10);
        LatentSource.Start start = new LatentSource.Clean(null, 1f, gaussian(6, SHAPE), 3).start(pndm, 10, SHAPE,
                new TorchCpuGenerator(9));
        Tensor next = pndm.step(gaussian(8, SHAPE), 3, start.latents(), new TorchCpuGenerator(1));
        assertArrayEquals(SHAPE, next.shape());
    }
}
