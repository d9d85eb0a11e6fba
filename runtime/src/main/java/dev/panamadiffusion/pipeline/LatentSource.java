package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.models.vae.DiagonalGaussianDistribution;
import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.rng.PerImageNoise;
import dev.panamadiffusion.schedulers.Scheduler;
import dev.panamadiffusion.tensor.Tensor;

import java.util.function.Function;

/**
 * Where a generation's starting latents come from (diffusers' {@code prepare_latents}), and the iteration of the
 * schedule its loop begins at: the one thing text to image and image to image do differently before the shared
 * denoising loop ({@link StableDiffusionPipeline#step}).
 */
sealed interface LatentSource {

    /**
     * The loop's first latents, host [B, C, h, w], the schedule iteration they belong to, what each step's latents
     * go through after the scheduler ({@link MaskBlend#NONE} but for inpainting with a 4-channel UNet), and what the
     * UNet reads besides them ({@link InpaintConditioning#NONE} but for a 9-channel inpainting UNet).
     */
    record Start(Tensor latents, int beginIndex, MaskBlend blend, InpaintConditioning conditioning) {
        Start(Tensor latents, int beginIndex) {
            this(latents, beginIndex, MaskBlend.NONE, InpaintConditioning.NONE);
        }
    }

    /**
     * Text to image without {@code init}, image to image with one, inpainting with one that has a mask (blended for a
     * 4-channel UNet, {@link InpaintUNet} for an {@code inpaintingUNet}); the VAE's {@code encode} and
     * {@code scalingFactor} for the image, {@code givenNoise} (or null) in place of drawing it. An inpainting UNet
     * without a mask is an {@link InvalidRequestException} (field {@code mask}).
     */
    static LatentSource of(InitImage init, Function<Tensor, DiagonalGaussianDistribution> encode, float scalingFactor,
                           long[] shape, Tensor givenNoise, boolean inpaintingUNet) {
        return of(init, encode, scalingFactor, shape, givenNoise, inpaintingUNet, InpaintFill.ORIGINAL);
    }

    /** {@link #of} whose inpainting start replaces the masked latents as {@code fill} says ({@link InpaintFill#startLatents}). */
    static LatentSource of(InitImage init, Function<Tensor, DiagonalGaussianDistribution> encode, float scalingFactor,
                           long[] shape, Tensor givenNoise, boolean inpaintingUNet, InpaintFill fill) {
        if (inpaintingUNet) {
            if (init == null || init.mask() == null) throw new IllegalStateException("an inpainting UNet needs a mask");
            Tensor mask = init.maskLatents(Math.toIntExact(shape[0]), Math.toIntExact(shape[2]), Math.toIntExact(shape[3]));
            return new InpaintUNet(init.strength() == 1.0 ? null : encode.apply(init.pixels()),
                    encode.apply(init.maskedPixels()), scalingFactor, init, mask, givenNoise, fill);
        }
        if (init == null) return new Noise(givenNoise);
        if (init.mask() == null) return new Image(encode.apply(init.pixels()), scalingFactor, init, givenNoise);
        Tensor mask = init.maskLatents(Math.toIntExact(shape[0]), Math.toIntExact(shape[2]), Math.toIntExact(shape[3]));
        return new Inpaint(encode.apply(init.pixels()), encode.apply(init.maskedPixels()), scalingFactor, init, mask, givenNoise,
                fill);
    }

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
            int begin = beginAt(scheduler, init, steps);
            Tensor image = imageLatents(posterior, generator, scalingFactor, shape[0]);           // [B, C, h, w]
            Tensor noise = noise(givenNoise, generator, shape);                                   // [B, C, h, w]
            return new Start(scheduler.addNoise(image, noise, begin), begin);                    // [B, C, h, w]
        }
    }

    /**
     * Inpainting with an ordinary 4-channel UNet (diffusers' {@code StableDiffusionInpaintPipeline}): the generator
     * draws the image's posterior sample, the noise, then the masked image's posterior sample (which only a 9-channel
     * inpainting UNet would read; drawn so that later draws stay diffusers'). Strength 1 starts from pure noise ×
     * {@code init_noise_sigma}, a lower one from the image noised to {@code t_start}; every step then blends
     * ({@link MaskBlend}).
     *
     * @param posterior       the VAE encoder's distribution for the image, [1, C, h, w]
     * @param maskedPosterior the same for the masked image
     * @param mask            [B, 1, h, w] at latent size, 1 where to repaint
     * @param fill            what the masked latents start from ({@link InpaintFill#startLatents})
     */
    record Inpaint(DiagonalGaussianDistribution posterior, DiagonalGaussianDistribution maskedPosterior, float scalingFactor,
                   InitImage init, Tensor mask, Tensor givenNoise, InpaintFill fill) implements LatentSource {
        @Override
        public Start start(Scheduler scheduler, int steps, long[] shape, NoiseGenerator generator) {
            int begin = beginAt(scheduler, init, steps);
            Tensor image = imageLatents(posterior, generator, scalingFactor, shape[0]);           // [B, C, h, w]
            Tensor noise = noise(givenNoise, generator, shape);                                   // [B, C, h, w]
            boolean strengthMax = init.strength() == 1.0;                                        // diffusers' is_strength_max
            Tensor latents = strengthMax ? Latents.scale(noise, (float) scheduler.initNoiseSigma())
                    : scheduler.addNoise(fill.startLatents(image, noise, mask), noise, begin);   // [B, C, h, w]
            sample(maskedPosterior, generator, shape[0]);                                        // [1 or B, C, h, w], unused
            return new Start(latents, begin, new MaskBlend(image, noise, mask), InpaintConditioning.NONE);
        }
    }

    /**
     * Inpainting with a 9-channel inpainting UNet (diffusers' {@code StableDiffusionInpaintPipeline} with
     * {@code num_channels_unet == 9}): strength 1 encodes no image and starts from the generator's first draw ×
     * {@code init_noise_sigma}; a lower one draws the image's posterior sample, then the noise, and starts from their
     * {@code add_noise} at {@code t_start}. Then the masked image's posterior sample (the next draw) × the scaling
     * factor, with the mask, conditions every step ({@link InpaintConditioning}); nothing is blended.
     *
     * @param posterior       the VAE encoder's distribution for the image, [1, C, h, w]; null at strength 1
     * @param maskedPosterior the same for the masked image
     * @param mask            [B, 1, h, w] at latent size, 1 where to repaint
     * @param fill            what the masked latents start from ({@link InpaintFill#startLatents})
     */
    record InpaintUNet(DiagonalGaussianDistribution posterior, DiagonalGaussianDistribution maskedPosterior,
                       float scalingFactor, InitImage init, Tensor mask, Tensor givenNoise, InpaintFill fill)
            implements LatentSource {
        @Override
        public Start start(Scheduler scheduler, int steps, long[] shape, NoiseGenerator generator) {
            int begin = beginAt(scheduler, init, steps);
            Tensor image = posterior == null ? null : imageLatents(posterior, generator, scalingFactor, shape[0]); // [B, C, h, w]
            Tensor noise = noise(givenNoise, generator, shape);                                   // [B, C, h, w]
            Tensor latents = image == null ? Latents.scale(noise, (float) scheduler.initNoiseSigma())
                    : scheduler.addNoise(fill.startLatents(image, noise, mask), noise, begin);   // [B, C, h, w]
            Tensor masked = imageLatents(maskedPosterior, generator, scalingFactor, shape[0]);   // [B, C, h, w]
            return new Start(latents, begin, MaskBlend.NONE, new InpaintConditioning(mask, masked));
        }
    }

    /**
     * SDXL image to image with {@code denoising_start} (diffusers' {@code add_noise=False}): the image's latents as
     * they are, from iteration {@code begin} (where the timesteps fall below the start's cutoff): the caller's latents
     * ({@code given}, [1 or B, C, h, w], repeated per image), or one sample of the encoded image's posterior (the
     * generator's first draw) times the scaling factor, repeated per image. Nothing else is drawn.
     */
    record Clean(DiagonalGaussianDistribution posterior, float scalingFactor, Tensor given, int begin) implements LatentSource {
        @Override
        public Start start(Scheduler scheduler, int steps, long[] shape, NoiseGenerator generator) {
            Tensor latents;
            if (given == null) {
                latents = imageLatents(posterior, generator, scalingFactor, shape[0]);            // [B, C, h, w]
            } else {
                Tensor g = given.to(dev.panamadiffusion.tensor.DType.F32).contiguous();
                latents = g.dim(0) == shape[0] ? g : Latents.repeatRows(g, null, Math.toIntExact(shape[0])); // [B, C, h, w]
            }
            scheduler.setBeginIndex(begin);
            return new Start(latents, begin);
        }
    }

    /** Iteration {@code t_start} of {@code init}'s strength, set as the scheduler's begin index; none left is refused. */
    private static int beginAt(Scheduler scheduler, InitImage init, int steps) {
        int begin = init.beginIndex(steps);
        if (begin >= scheduler.timesteps().length) {
            throw InvalidRequestException.of("strength", "leaves no step of " + steps + " to run");
        }
        scheduler.setBeginIndex(begin);
        return begin;
    }

    /**
     * One posterior sample (the generator's next draw) × the VAE's scaling factor, repeated for each of {@code batch};
     * with per-image generators ({@link PerImageNoise}, diffusers' list), each image's own sample.
     */
    private static Tensor imageLatents(DiagonalGaussianDistribution posterior, NoiseGenerator generator, float scalingFactor,
                                       long batch) {
        Tensor sample = sample(posterior, generator, batch);                                     // [1 or B, C, h, w]
        return sample.dim(0) == batch ? Latents.scale(sample, scalingFactor)
                : Latents.repeatRows(Latents.scale(sample, scalingFactor), null, Math.toIntExact(batch)); // [B, C, h, w]
    }

    /** The generator's next posterior sample: one for the batch, or with {@link PerImageNoise} one per image. */
    private static Tensor sample(DiagonalGaussianDistribution posterior, NoiseGenerator generator, long batch) {
        return generator instanceof PerImageNoise ? posterior.sample(generator, Math.toIntExact(batch))  // [B, C, h, w]
                : posterior.sample(generator);                                                  // [1, C, h, w]
    }

    /** The caller's noise, or the generator's next draw of {@code shape}. */
    private static Tensor noise(Tensor given, NoiseGenerator generator, long[] shape) {
        return given != null ? given : generator.randn(shape);                                   // [B, C, h, w]
    }
}
