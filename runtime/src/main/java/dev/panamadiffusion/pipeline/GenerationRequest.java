package dev.panamadiffusion.pipeline;

import java.util.ArrayList;
import java.util.List;

/**
 * What to generate: AUTOMATIC1111's txt2img parameters.
 *
 * @param prompt         the text to draw
 * @param negativePrompt what to steer away from ("" for none; the unconditional embedding then is the empty prompt's)
 * @param steps          denoising steps, 1 to 1000
 * @param guidanceScale  classifier-free guidance scale, ≥ 0; at most 1 runs the UNet on the prompt alone
 * @param sampler        an A1111 sampler name ("Euler a", "DPM++ 2M Karras", …) or null for the model's own scheduler
 * @param seed           the noise seed; -1 picks a random one (reported in the result)
 * @param width          image width in pixels, or 0 for the model's default (UNet sample size × VAE scale)
 * @param height         image height in pixels, or 0 for the model's default
 * @param batchSize      images per call, 1 to 16, all from one noise draw as diffusers' {@code num_images_per_prompt}
 * @param clipSkip       0 = the text encoder's last layer; k ≥ 1 = the layer k before it (diffusers' {@code clip_skip};
 *                       A1111's "Clip skip" is this plus one)
 * @param rng            the noise generator
 */
public record GenerationRequest(String prompt, String negativePrompt, int steps, double guidanceScale, String sampler,
                                long seed, int width, int height, int batchSize, int clipSkip, RngKind rng) {
    public static final int MAX_STEPS = 1000;
    public static final int MAX_BATCH = 16;

    public GenerationRequest {
        if (negativePrompt == null) negativePrompt = "";
        if (rng == null) rng = RngKind.TORCH;
        if (sampler != null && sampler.isBlank()) sampler = null;
    }

    /** {@code prompt} with the defaults: 20 steps, CFG 7.5, the model's scheduler, random seed, model size, batch 1. */
    public static GenerationRequest of(String prompt) {
        return new GenerationRequest(prompt, "", 20, 7.5, null, -1, 0, 0, 1, 0, RngKind.TORCH);
    }

    public GenerationRequest withNegativePrompt(String v) {
        return new GenerationRequest(prompt, v, steps, guidanceScale, sampler, seed, width, height, batchSize, clipSkip, rng);
    }

    public GenerationRequest withSteps(int v) {
        return new GenerationRequest(prompt, negativePrompt, v, guidanceScale, sampler, seed, width, height, batchSize, clipSkip, rng);
    }

    public GenerationRequest withGuidanceScale(double v) {
        return new GenerationRequest(prompt, negativePrompt, steps, v, sampler, seed, width, height, batchSize, clipSkip, rng);
    }

    public GenerationRequest withSampler(String v) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, v, seed, width, height, batchSize, clipSkip, rng);
    }

    public GenerationRequest withSeed(long v) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, v, width, height, batchSize, clipSkip, rng);
    }

    public GenerationRequest withSize(int w, int h) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, seed, w, h, batchSize, clipSkip, rng);
    }

    public GenerationRequest withBatchSize(int v) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, seed, width, height, v, clipSkip, rng);
    }

    public GenerationRequest withClipSkip(int v) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, seed, width, height, batchSize, v, rng);
    }

    public GenerationRequest withRng(RngKind v) {
        return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, seed, width, height, batchSize, clipSkip, v);
    }

    /**
     * Iteration {@code i} (0-based) of AUTOMATIC1111's {@code n_iter}: this request with the seed {@code seed + i · batchSize},
     * so that the iterations continue the numbering of A1111's {@code all_seeds} (each iteration's batch then comes
     * from one noise draw, as diffusers'). The seed must be resolved (not -1).
     */
    public GenerationRequest iteration(int i) {
        if (seed < 0) throw new IllegalStateException("resolve the seed (" + seed + ") before numbering n_iter iterations");
        if (i < 0) throw new IllegalArgumentException("iteration must be >= 0, got " + i);
        return withSeed(seed + (long) i * batchSize);
    }

    /** Classifier-free guidance runs only above 1, as in diffusers ({@code do_classifier_free_guidance}). */
    public boolean usesGuidance() { return guidanceScale > 1; }

    /**
     * One message per bad field (empty when the request is fine). Sizes of 0 stand for the model default and pass;
     * other sizes must satisfy {@code sizes}. The sampler name is checked by the scheduler factory, not here.
     */
    public List<String> problems(SizeRule sizes) {
        List<String> out = new ArrayList<>();
        if (prompt == null) out.add("prompt is required");
        if (steps < 1 || steps > MAX_STEPS) out.add("steps must be between 1 and " + MAX_STEPS + ", got " + steps);
        if (!(guidanceScale >= 0) || Double.isInfinite(guidanceScale)) {
            out.add("guidance scale must be a finite number >= 0, got " + guidanceScale);
        }
        if (seed < -1) out.add("seed must be >= 0 (or -1 for a random seed), got " + seed);
        if (width != 0) addIfBad(out, sizes.check("width", width));
        if (height != 0) addIfBad(out, sizes.check("height", height));
        if (batchSize < 1 || batchSize > MAX_BATCH) out.add("batch size must be between 1 and " + MAX_BATCH + ", got " + batchSize);
        if (clipSkip < 0) out.add("clip skip must be >= 0 (0 = last layer), got " + clipSkip);
        return out;
    }

    /** Throws {@link InvalidRequestException} listing every bad field, if any. */
    public GenerationRequest validate(SizeRule sizes) {
        List<String> p = problems(sizes);
        if (!p.isEmpty()) throw new InvalidRequestException(p);
        return this;
    }

    private static void addIfBad(List<String> out, String problem) {
        if (problem != null) out.add(problem);
    }
}
