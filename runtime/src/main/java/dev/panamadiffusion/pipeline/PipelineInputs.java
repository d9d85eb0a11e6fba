package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.Tensor;

/**
 * What a caller may give the pipeline instead of letting it compute it, as diffusers' {@code prompt_embeds},
 * {@code negative_prompt_embeds}, {@code latents} and {@code generator} arguments. Every field may be null.
 *
 * @param promptEmbeds         host [1 or B, L, D]: the text encoder's output for the prompt (1 row is repeated per
 *                             image; B rows are one per image, as a list of prompts); replaces encoding the prompt
 * @param negativePromptEmbeds the same for the negative prompt (needed with guidance when promptEmbeds is given)
 * @param latents              host [B, C, h, w]: the initial noise, which the pipeline multiplies by the scheduler's
 *                             {@code init_noise_sigma} as diffusers' {@code prepare_latents} does
 * @param generator            the noise generator the scheduler draws from (ancestral samplers), and the initial noise
 *                             when {@code latents} is null; replaces the one seeded from the request
 */
public record PipelineInputs(Tensor promptEmbeds, Tensor negativePromptEmbeds, Tensor latents, NoiseGenerator generator) {
    public static final PipelineInputs NONE = new PipelineInputs(null, null, null, null);
}
