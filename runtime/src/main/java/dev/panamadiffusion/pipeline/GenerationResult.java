package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.Rgb8Image;

import java.util.List;

/**
 * The images of one {@link StableDiffusionPipeline#generate} call, each with the seed it came from and its AUTOMATIC1111
 * {@code parameters} text. All images of a batch share the request's seed (diffusers draws the whole batch from one
 * generator); {@code warnings} are things the caller should know (a prompt cut at the text encoder's length);
 * {@code seconds} is the wall time of the call; {@code latents} the final latents, host [B, C, h, w], before the VAE
 * (diffusers' {@code output_type="latent"}: what an SDXL base with {@code denoising_end} hands a refiner), or null.
 */
public record GenerationResult(List<Rgb8Image> images, List<Long> seeds, List<String> infotexts, List<String> warnings,
                               double seconds, dev.panamadiffusion.tensor.Tensor latents) {
    /** Without the latents. */
    public GenerationResult(List<Rgb8Image> images, List<Long> seeds, List<String> infotexts, List<String> warnings,
                            double seconds) {
        this(images, seeds, infotexts, warnings, seconds, null);
    }

    public GenerationResult {
        images = List.copyOf(images);
        warnings = List.copyOf(warnings);
        seeds = List.copyOf(seeds);
        infotexts = List.copyOf(infotexts);
        if (images.size() != seeds.size() || images.size() != infotexts.size()) {
            throw new IllegalArgumentException(images.size() + " images with " + seeds.size() + " seeds and "
                    + infotexts.size() + " infotexts");
        }
    }

    public int size() { return images.size(); }
}
