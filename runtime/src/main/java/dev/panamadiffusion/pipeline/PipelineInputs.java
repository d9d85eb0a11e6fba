package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.rng.NoiseGenerator;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * What a caller may give the pipeline instead of letting it compute it, as diffusers' {@code prompt_embeds},
 * {@code negative_prompt_embeds}, {@code latents} and {@code generator} arguments. Every field may be null.
 *
 * @param promptEmbeds         host [1 or B, L, D]: the text encoder's output for the prompt (1 row is repeated per
 *                             image; B rows are one per image, as a list of prompts); replaces encoding the prompt
 * @param negativePromptEmbeds the same for the negative prompt (needed with guidance when promptEmbeds is given)
 * @param latents              host [B, C, h, w]: the initial noise, which the pipeline multiplies by the scheduler's
 *                             {@code init_noise_sigma} as diffusers' {@code prepare_latents} does (with an
 *                             {@code initImage}: the noise {@code add_noise} mixes into the image's latents)
 * @param generator            the noise generator the scheduler draws from (ancestral samplers), and the initial noise
 *                             when {@code latents} is null; replaces the one seeded from the request
 * @param initImage            image to image: the picture to start from and the strength ({@link InitImage}); null
 *                             for text to image
 * @param pooledPromptEmbeds   SDXL: host [1 or B, P], the second text encoder's {@code text_embeds} for the prompt
 *                             (diffusers' {@code pooled_prompt_embeds}); needed with promptEmbeds for a UNet with
 *                             {@code text_time}, whose time ids the pipeline makes from the request's size
 * @param negativePooledPromptEmbeds SDXL: the same for the negative prompt (with guidance)
 * @param imageLatents         SDXL image to image with {@link SdxlOptions#denoisingStart}: host [1 or B, C, h, w]
 *                             latents to start from as they are (diffusers' {@code image} given as a 4-channel tensor:
 *                             no VAE, no scaling, no noise), e.g. an SDXL base's output with
 *                             {@link SdxlOptions#denoisingEnd} handed to a refiner; in place of {@code initImage}
 */
public record PipelineInputs(Tensor promptEmbeds, Tensor negativePromptEmbeds, Tensor latents, NoiseGenerator generator,
                             InitImage initImage, Tensor pooledPromptEmbeds, Tensor negativePooledPromptEmbeds,
                             Tensor imageLatents) {
    public static final PipelineInputs NONE = new PipelineInputs(null, null, null, null, null);

    /** Without image latents. */
    public PipelineInputs(Tensor promptEmbeds, Tensor negativePromptEmbeds, Tensor latents, NoiseGenerator generator,
                          InitImage initImage, Tensor pooledPromptEmbeds, Tensor negativePooledPromptEmbeds) {
        this(promptEmbeds, negativePromptEmbeds, latents, generator, initImage, pooledPromptEmbeds, negativePooledPromptEmbeds,
                null);
    }

    /** Without pooled embeddings (any model but SDXL). */
    public PipelineInputs(Tensor promptEmbeds, Tensor negativePromptEmbeds, Tensor latents, NoiseGenerator generator,
                          InitImage initImage) {
        this(promptEmbeds, negativePromptEmbeds, latents, generator, initImage, null, null);
    }

    /** Text to image with the given parts. */
    public PipelineInputs(Tensor promptEmbeds, Tensor negativePromptEmbeds, Tensor latents, NoiseGenerator generator) {
        this(promptEmbeds, negativePromptEmbeds, latents, generator, null);
    }

    /** Image to image from {@code init}, everything else computed by the pipeline. */
    public static PipelineInputs of(InitImage init) {
        return new PipelineInputs(null, null, null, null, init);
    }

    /** These inputs starting from {@code init} (null: text to image). */
    public PipelineInputs withInitImage(InitImage init) {
        return new PipelineInputs(promptEmbeds, negativePromptEmbeds, latents, generator, init, pooledPromptEmbeds,
                negativePooledPromptEmbeds, imageLatents);
    }

    /** These inputs starting from {@code latents} as they are (with {@link SdxlOptions#denoisingStart}; null: none). */
    public PipelineInputs withImageLatents(Tensor latents) {
        return new PipelineInputs(promptEmbeds, negativePromptEmbeds, this.latents, generator, initImage, pooledPromptEmbeds,
                negativePooledPromptEmbeds, latents);
    }

    /** These inputs with SDXL's pooled prompt embeddings (each [1 or B, P]; the negative one may be null unguided). */
    public PipelineInputs withPooled(Tensor pooled, Tensor negativePooled) {
        return new PipelineInputs(promptEmbeds, negativePromptEmbeds, latents, generator, initImage, pooled, negativePooled,
                imageLatents);
    }

    /** Given {@code latents} as f32, checked to have the request's {@code shape}. */
    static Tensor checkedLatents(Tensor latents, long[] shape) {
        if (!Arrays.equals(latents.shape(), shape)) {
            throw new IllegalArgumentException("given latents are " + Arrays.toString(latents.shape()) + " but the request needs "
                    + Arrays.toString(shape));
        }
        return latents.to(DType.F32).contiguous();
    }
}
