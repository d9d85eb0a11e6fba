package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.models.vae.DiagonalGaussianDistribution;
import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.schedulers.Scheduler;
import dev.panamadiffusion.tensor.Tensor;

/**
 * Where a generation's starting latents come from (diffusers' {@code prepare_latents}), and the iteration of the
 * schedule its loop begins at: the one thing text to image and image to image do differently before the shared
 * denoising loop ({@link StableDiffusionPipeline#step}).
 */
sealed interface LatentSource {

    /** The loop's first latents, host [B, C, h, w], and the schedule iteration they belong to. */
    record Start(Tensor latents, int beginIndex) {}

    /**
     * Draws what the start needs from {@code generator}, in diffusers' order, for a scheduler whose timesteps are set
     * for {@code steps}; sets its begin index.
     */
    Start start(Scheduler scheduler, int steps, long[] shape, NoiseGenerator generator);

    /**
     * Text to image: {@code randn(shape)} (or the caller's noise) times the scheduler's {@code init_noise_sigma}, from
     * the first iteration.
     *
     * @param givenNoise host [B, C, h, w], or null to draw it
     */
    record Noise(Tensor givenNoise) implements LatentSource {
        @Override
        public Start start(Scheduler scheduler, int steps, long[] shape, NoiseGenerator generator) {
            Tensor noise = givenNoise != null ? givenNoise : generator.randn(shape);          // [B, C, h, w]
            return new Start(Latents.scale(noise, (float) scheduler.initNoiseSigma()), 0);      // [B, C, h, w]
        }
    }

    /**
     * Image to image: one sample of the encoded image's posterior (the generator's first draw, for the one image),
     * times the VAE's scaling factor and repeated per image, noised with the scheduler's {@code add_noise} by the
     * generator's second draw (or the caller's noise) to the level of iteration {@code t_start}, where the loop begins.
     *
     * @param posterior     the VAE encoder's distribution for the image, [1, C, h, w]
     * @param scalingFactor the VAE's {@code scaling_factor}
     * @param givenNoise    host [B, C, h, w], or null to draw it
     */
    record Image(DiagonalGaussianDistribution posterior, float scalingFactor, InitImage init, Tensor givenNoise)
            implements LatentSource {
        @Override
        public Start start(Scheduler scheduler, int steps, long[] shape, NoiseGenerator generator) {
            int begin = init.beginIndex(steps);
            if (begin >= scheduler.timesteps().length) {
                throw InvalidRequestException.of("strength", "leaves no step of " + steps + " to run");
            }
            scheduler.setBeginIndex(begin);
            Tensor sample = posterior.sample(generator);                                         // [1, C, h, w]
            Tensor image = Latents.repeatRows(Latents.scale(sample, scalingFactor), null, Math.toIntExact(shape[0])); // [B, C, h, w]
            Tensor noise = givenNoise != null ? givenNoise : generator.randn(shape);             // [B, C, h, w]
            return new Start(scheduler.addNoise(image, noise, begin), begin);                    // [B, C, h, w]
        }
    }
}
