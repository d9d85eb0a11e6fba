package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.models.clip.CLIPTextModelWithProjection;

import java.util.List;

/**
 * What conditions the UNet: the model's tokenizers and text encoders turning a request's prompt and negative prompt
 * into a {@link UNetConditioning}. One implementation per way a model family conditions its UNet, composed into the one
 * {@link StableDiffusionPipeline}: {@link ClipConditioning} (SD 1.x/2.x: one CLIP text encoder) and
 * {@link SdxlConditioning} (SDXL: two text encoders, a pooled embedding and size time ids).
 */
public interface PromptConditioning {
    /**
     * Host conditioning for {@code request} (seed and size resolved): with {@code guided}, the negative prompt's rows
     * [B] then the prompt's [B], else the prompt's [B]. A prompt longer than the text encoder reads adds a warning
     * to {@code warnings}; a token id the text encoder lacks is an {@link IllegalArgumentException}. {@code fromImage}:
     * the run starts from an image (image to image, inpainting), whose pipelines order SDXL's time ids differently.
     */
    UNetConditioning encode(GenerationRequest request, boolean guided, boolean fromImage, List<String> warnings);

    /** The largest clip skip a request may ask for (the text encoders' layers that can be skipped). */
    int maxClipSkip();

    /** The text encoder a LoRA's {@code lora_te_} / {@code text_encoder.} keys patch (SDXL: the first, {@code lora_te1_}). */
    CLIPTextModel loraTextEncoder();

    /**
     * SDXL's second text encoder, which a LoRA's {@code lora_te2_} / {@code text_encoder_2.} keys patch; null for a
     * model with one text encoder.
     */
    default CLIPTextModelWithProjection loraTextEncoder2() { return null; }
}
