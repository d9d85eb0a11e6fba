package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.models.unet.UNet2DConditionConfig;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * What conditions the UNet for one request, as host tensors with one row per UNet row (unconditional rows first with
 * classifier-free guidance): what {@link PromptConditioning} makes of the prompts, or what a caller gave.
 *
 * @param context   [(2)B, L, D]: the hidden states the cross-attention reads ({@code encoder_hidden_states})
 * @param addEmbeds [(2)B, projection_class_embeddings_input_dim] for a UNet with SDXL's {@code text_time} added
 *                  conditioning ({@link UNet2DConditionModel#addEmbeds}: pooled text embedding and time ids), else null
 */
public record UNetConditioning(Tensor context, Tensor addEmbeds) {
    public UNetConditioning {
        if (context == null) throw new IllegalArgumentException("no context");
        if (addEmbeds != null && addEmbeds.dim(0) != context.dim(0)) {
            throw new IllegalArgumentException("added conditioning has " + addEmbeds.dim(0) + " rows, the context " + context.dim(0));
        }
    }

    /**
     * SDXL's {@code add_time_ids} for a {@code width} × {@code height} request, as diffusers' defaults make them:
     * original size = target size = (height, width), crop top-left (0, 0); one row each of {@code rows}. Host f32
     * [rows, 6]. A request's own sizes: {@link SdxlOptions#timeIdRows}.
     */
    public static Tensor timeIds(int width, int height, int rows) {
        float[] row = SdxlOptions.NONE.timeIds(width, height);
        float[] out = new float[rows * UNet2DConditionConfig.TIME_IDS];
        for (int r = 0; r < rows; r++) System.arraycopy(row, 0, out, r * row.length, row.length);
        return Tensor.fromFloats(out, rows, UNet2DConditionConfig.TIME_IDS);     // [rows, 6]
    }

    /**
     * The conditioning from given embeddings (diffusers' {@code prompt_embeds}, {@code negative_prompt_embeds} and, for
     * SDXL, {@code pooled_prompt_embeds} and {@code negative_pooled_prompt_embeds}): [1 or B, …] each, 1 row repeated
     * per image; with SDXL's text_time the time ids are the request's ({@link SdxlOptions#timeIdRows}: its size
     * conditioning, else its size, laid out as the image-to-image pipelines do with {@code fromImage}; with
     * {@code aesthetic}, the SDXL refiner's {@link SdxlOptions#aestheticTimeIdRows}).
     * A second prompt with given embeddings is refused, as diffusers does.
     */
    static UNetConditioning given(PipelineInputs inputs, boolean guided, GenerationRequest request, UNet2DConditionModel unet,
                                  boolean aesthetic, boolean fromImage) {
        int batch = request.batchSize();
        if (request.sdxl().prompt2() != null || request.sdxl().negativePrompt2() != null) {
            throw new IllegalArgumentException("prompt_2 and negative_prompt_2 cannot go with given prompt embeddings");
        }
        Tensor context = rows(inputs.promptEmbeds(), inputs.negativePromptEmbeds(), guided, batch, "prompt embeddings", 3);
        if (!unet.config().hasTextTime()) {
            if (inputs.pooledPromptEmbeds() != null) {
                throw new IllegalArgumentException("pooled prompt embeddings given, but the UNet has no text_time added conditioning");
            }
            return new UNetConditioning(context, null);
        }
        if (inputs.pooledPromptEmbeds() == null) {
            throw new IllegalArgumentException("the UNet has SDXL's text_time conditioning: give pooled prompt embeddings too");
        }
        Tensor pooled = rows(inputs.pooledPromptEmbeds(), inputs.negativePooledPromptEmbeds(), guided, batch,
                "pooled prompt embeddings", 2);                                                    // [(2)B, P]
        Tensor ids = aesthetic ? request.sdxl().aestheticTimeIdRows(request.width(), request.height(), guided, batch) // [(2)B, 5]
                : request.sdxl().timeIdRows(request.width(), request.height(), guided, batch, fromImage);         // [(2)B, 6]
        return new UNetConditioning(context, unet.addEmbeds(pooled, ids));
    }

    /** [(2)B, ...]: negative rows then prompt rows (or the prompt's alone), each [1 or B, ...] given. */
    private static Tensor rows(Tensor prompt, Tensor negative, boolean guided, int batch, String what, int rank) {
        Tensor p = perImage(prompt, batch, what, rank);
        if (!guided) return p;
        if (negative == null) throw new IllegalArgumentException("guidance with given " + what + " needs negative " + what + " too");
        Tensor n = perImage(negative, batch, "negative " + what, rank);
        if (!Arrays.equals(p.shape(), n.shape())) {
            throw new IllegalArgumentException(what + " " + Arrays.toString(p.shape()) + " and negative " + what + " "
                    + Arrays.toString(n.shape()) + " differ in shape");
        }
        return Latents.concatRows(List.of(n, p));
    }

    /** [1, ...] repeated to [B, ...], or [B, ...] as it is. */
    private static Tensor perImage(Tensor embeds, int batch, String what, int rank) {
        if (embeds.rank() != rank) {
            throw new IllegalArgumentException(what + " must be [1 or B, " + (rank == 3 ? "L, D" : "D") + "], got "
                    + Arrays.toString(embeds.shape()));
        }
        if (embeds.dim(0) == 1) return Latents.repeatRows(embeds, null, batch);
        if (embeds.dim(0) == batch) return embeds.to(DType.F32).contiguous();
        throw new IllegalArgumentException(what + " have " + embeds.dim(0) + " rows for a batch of " + batch);
    }
}
