package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.rng.PerImageNoise;

import java.util.ArrayList;
import java.util.List;

/**
 * What to generate: AUTOMATIC1111's txt2img parameters. The limits on each field are {@link RequestLimits}'.
 *
 * @param prompt         the text to draw
 * @param negativePrompt what to steer away from ("" for none; the unconditional embedding then is the empty prompt's)
 * @param steps          denoising steps
 * @param guidanceScale  classifier-free guidance scale, ≥ 0; at most 1 runs the UNet on the prompt alone
 * @param sampler        an A1111 sampler name ("Euler a", "DPM++ 2M Karras", …) or null for the model's own scheduler
 * @param seed           the noise seed, an unsigned 64-bit number held in a long's bits; -1 picks a random one (reported in
 *                       the result)
 * @param width          image width in pixels, or 0 for the model's default (UNet sample size × VAE scale)
 * @param height         image height in pixels, or 0 for the model's default
 * @param batchSize      images per call: from one noise draw as diffusers' {@code num_images_per_prompt}, or each from
 *                       its own seed ({@code seedPerImage})
 * @param clipSkip       0 = the text encoder's last layer; k ≥ 1 = the layer k before it (diffusers' {@code clip_skip};
 *                       A1111's "Clip skip" is this plus one)
 * @param rng            the noise generator
 * @param sdxl           Stable Diffusion XL's own fields ({@code prompt_2}, the size conditioning); null:
 *                       {@link SdxlOptions#NONE}, diffusers' defaults. Refused on other models ({@link RequestLimits})
 * @param seedPerImage   image i of the batch from its own generator seeded {@code seed + i} (AUTOMATIC1111's and
 *                       stable-diffusion.cpp's numbering; diffusers' list of generators), so that each image is made
 *                       again alone, at batch size 1, from its seed (to rounding; not with SDXL's negative sizes,
 *                       which diffusers' text to image lays out per batch); false: the whole batch from one generator
 */
public record GenerationRequest(String prompt, String negativePrompt, int steps, double guidanceScale, String sampler,
                                long seed, int width, int height, int batchSize, int clipSkip, RngKind rng, SdxlOptions sdxl,
                                boolean seedPerImage) {
    public GenerationRequest {
        if (negativePrompt == null) negativePrompt = "";
        if (rng == null) rng = RngKind.TORCH;
        if (sampler != null && sampler.isBlank()) sampler = null;
        if (sdxl == null) sdxl = SdxlOptions.NONE;
    }

    /** A request whose batch comes from one noise draw (diffusers'). */
    public GenerationRequest(String prompt, String negativePrompt, int steps, double guidanceScale, String sampler,
                             long seed, int width, int height, int batchSize, int clipSkip, RngKind rng, SdxlOptions sdxl) {
        this(prompt, negativePrompt, steps, guidanceScale, sampler, seed, width, height, batchSize, clipSkip, rng, sdxl, false);
    }

    /** A request without SDXL's own fields ({@link SdxlOptions#NONE}). */
    public GenerationRequest(String prompt, String negativePrompt, int steps, double guidanceScale, String sampler,
                             long seed, int width, int height, int batchSize, int clipSkip, RngKind rng) {
        this(prompt, negativePrompt, steps, guidanceScale, sampler, seed, width, height, batchSize, clipSkip, rng, SdxlOptions.NONE);
    }

    /** {@code prompt} with the defaults: 20 steps, CFG 7.5, the model's scheduler, random seed, model size, batch 1. */
    public static GenerationRequest of(String prompt) {
        return new GenerationRequest(prompt, "", 20, 7.5, null, -1, 0, 0, 1, 0, RngKind.TORCH);
    }

    public GenerationRequest withNegativePrompt(String v) {
        return new GenerationRequest(prompt, v, steps, guidanceScale, sampler, seed, width, height, batchSize, clipSkip, rng, sdxl, seedPerImage);
    }

    public GenerationRequest withSteps(int v) {
        return new GenerationRequest(prompt, negativePrompt, v, guidanceScale, sampler, seed, width, height, batchSize, clipSkip, rng, sdxl, seedPerImage);
    }

    public GenerationRequest withGuidanceScale(double v) {
        return new GenerationRequest(prompt, negativePrompt, steps, v, sampler, seed, width, height, batchSize, clipSkip, rng, sdxl, seedPerImage);
    }

    public GenerationRequest withSampler(String v) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, v, seed, width, height, batchSize, clipSkip, rng, sdxl, seedPerImage);
    }

    public GenerationRequest withSeed(long v) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, v, width, height, batchSize, clipSkip, rng, sdxl, seedPerImage);
    }

    public GenerationRequest withSize(int w, int h) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, seed, w, h, batchSize, clipSkip, rng, sdxl, seedPerImage);
    }

    public GenerationRequest withBatchSize(int v) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, seed, width, height, v, clipSkip, rng, sdxl, seedPerImage);
    }

    public GenerationRequest withClipSkip(int v) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, seed, width, height, batchSize, v, rng, sdxl, seedPerImage);
    }

    public GenerationRequest withRng(RngKind v) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, seed, width, height, batchSize, clipSkip, v, sdxl, seedPerImage);
    }

    public GenerationRequest withSdxl(SdxlOptions v) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, seed, width, height, batchSize, clipSkip, rng, v, seedPerImage);
    }

    /** This request with {@link #seedPerImage} set to {@code v}. */
    public GenerationRequest withSeedPerImage(boolean v) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, seed, width, height, batchSize, clipSkip, rng, sdxl, v);
    }

    /**
     * The noise of this request's batch with its seed resolved to {@code seed}: one generator of {@link #rng}'s kind,
     * or with {@link #seedPerImage} one per image, image i's seeded {@code seed + i}.
     */
    public NoiseGenerator noise(long seed) {
        if (!seedPerImage || batchSize <= 1) return rng.generator(seed);
        List<NoiseGenerator> images = new ArrayList<>(batchSize);
        for (int i = 0; i < batchSize; i++) images.add(rng.generator(seed + i));
        return new PerImageNoise(images);
    }

    /** The seed image {@code i} of the batch is reproduced from alone: {@code seed + i} with {@link #seedPerImage}, else the request's. */
    public long imageSeed(long seed, int i) { return seedPerImage ? seed + i : seed; }

    /**
     * Iteration {@code i} (0-based) of AUTOMATIC1111's {@code n_iter}: this request with the seed {@code seed + i · batchSize},
     * so that the iterations continue the numbering of A1111's {@code all_seeds} (each iteration's batch then comes
     * from one noise draw, as diffusers', or each image from its own seed with {@link #seedPerImage}). The seed must be
     * resolved (not -1); {@link RequestLimits} refuses requests whose last seed would pass
     * {@link RequestLimits#MAX_SEED}.
     */
    public GenerationRequest iteration(int i) {
        if (seed == RequestLimits.RANDOM_SEED) throw new IllegalStateException("resolve the seed (" + seed + ") before numbering n_iter iterations");
        if (i < 0) throw new IllegalArgumentException("iteration must be >= 0, got " + i);
        return withSeed(seed + (long) i * batchSize);
    }

    /** Classifier-free guidance runs only above 1, as in diffusers ({@code do_classifier_free_guidance}). */
    public boolean usesGuidance() { return guidanceScale > 1; }

}
