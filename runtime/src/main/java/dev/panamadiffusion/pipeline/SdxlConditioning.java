package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.models.clip.CLIPTextModelWithProjection;
import dev.panamadiffusion.models.clip.CLIPTextOutput;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.tokenizer.CLIPTokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Stable Diffusion XL conditioning, as diffusers' {@code StableDiffusionXLPipeline} (0.27) computes it:
 * <ul>
 *   <li>{@code prompt_embeds}: the prompt through the first tokenizer and text encoder, {@code prompt_2} (default: the
 *       prompt, {@link SdxlOptions#prompt2()}) through the second, each encoder's penultimate hidden state
 *       ({@code hidden_states[-2]}, without {@code final_layer_norm}; clip skip k takes {@code hidden_states[-(k+2)]})
 *       concatenated along the width: [1, 77, D1 + D2];</li>
 *   <li>the pooled embedding: the second encoder's {@code text_embeds} ({@code text_projection} of its pooled output)
 *       of {@code prompt_2};</li>
 *   <li>{@code add_time_ids}: original size, crop top-left, target size, by default (height, width), (0, 0),
 *       (height, width); the unconditional rows' from the negative sizes when both are given
 *       ({@link SdxlOptions#timeIdRows}, which also follows diffusers' row order for batches);</li>
 *   <li>the negative prompt and {@code negative_prompt_2} (default: the negative prompt): encoded the same way, or,
 *       when the negative prompt is empty and the model's {@code model_index.json} sets
 *       {@code force_zeros_for_empty_prompt} (SDXL base does), zeros for both its embeddings, which is what diffusers
 *       does for {@code negative_prompt=None}, its default, whatever {@code negative_prompt_2} says (a warning then
 *       says it is unused).</li>
 * </ul>
 * The pooled embedding and time ids reach the UNet as {@link UNet2DConditionModel#addEmbeds}.
 */
public final class SdxlConditioning implements PromptConditioning {
    private final Backend backend;
    private final CLIPTokenizer tokenizer;
    private final CLIPTextModel textEncoder;
    private final CLIPTokenizer tokenizer2;
    private final CLIPTextModelWithProjection textEncoder2;
    private final UNet2DConditionModel unet;
    private final boolean forceZerosForEmptyPrompt;
    private final Path tokenizerDir;
    private final Path tokenizer2Dir;

    public SdxlConditioning(Backend backend, CLIPTokenizer tokenizer, CLIPTextModel textEncoder, Path tokenizerDir,
                            CLIPTokenizer tokenizer2, CLIPTextModelWithProjection textEncoder2, Path tokenizer2Dir,
                            UNet2DConditionModel unet, boolean forceZerosForEmptyPrompt) {
        int width = textEncoder.config().hiddenSize() + textEncoder2.config().hiddenSize();
        if (width != unet.config().crossAttentionDim()[0]) {
            throw new IllegalArgumentException("the text encoders' hidden sizes " + textEncoder.config().hiddenSize() + " + "
                    + textEncoder2.config().hiddenSize() + " do not add up to the UNet's cross_attention_dim "
                    + unet.config().crossAttentionDim()[0]);
        }
        if (!unet.config().hasTextTime()) {
            throw new IllegalArgumentException("two text encoders but the UNet has no addition_embed_type \"text_time\"");
        }
        if (unet.config().textEmbedsDim() != textEncoder2.config().projectionDim()) {
            throw new IllegalArgumentException("text_encoder_2's projection_dim " + textEncoder2.config().projectionDim()
                    + " is not the UNet's pooled width " + unet.config().textEmbedsDim()
                    + " (projection_class_embeddings_input_dim − 6 × addition_time_embed_dim)");
        }
        if (tokenizer.maxLength() != tokenizer2.maxLength()) {
            throw new IllegalArgumentException("the two tokenizers' lengths differ: " + tokenizer.maxLength() + " and "
                    + tokenizer2.maxLength());
        }
        this.backend = backend;
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.tokenizer2 = tokenizer2;
        this.textEncoder2 = textEncoder2;
        this.unet = unet;
        this.forceZerosForEmptyPrompt = forceZerosForEmptyPrompt;
        this.tokenizerDir = tokenizerDir;
        this.tokenizer2Dir = tokenizer2Dir;
    }

    @Override
    public UNetConditioning encode(GenerationRequest request, boolean guided, List<String> warnings) {
        SdxlOptions o = request.sdxl();
        boolean zeroNegative = guided && forceZerosForEmptyPrompt && request.negativePrompt().isEmpty();
        boolean encodeNegative = guided && !zeroNegative;
        if (zeroNegative && o.negativePrompt2() != null) {
            warnings.add("negative_prompt_2 is unused: without a negative prompt this model (force_zeros_for_empty_prompt)"
                    + " conditions on zeros, as diffusers does");
        }
        String prompt2 = o.prompt2Or(request.prompt());
        String negative2 = o.negativePrompt2Or(request.negativePrompt());
        ClipConditioning.truncationWarning(tokenizer, request.prompt(), "prompt", warnings);
        if (o.prompt2() != null) ClipConditioning.truncationWarning(tokenizer2, prompt2, "prompt_2", warnings);
        if (encodeNegative) {
            ClipConditioning.truncationWarning(tokenizer, request.negativePrompt(), "negative prompt", warnings);
            if (o.negativePrompt2() != null) ClipConditioning.truncationWarning(tokenizer2, negative2, "negative_prompt_2", warnings);
        }
        // rows: [negative,] prompt; the second encoder reads the *_2 texts
        List<String> texts = encodeNegative ? List.of(request.negativePrompt(), request.prompt()) : List.of(request.prompt());
        List<String> texts2 = encodeNegative ? List.of(negative2, prompt2) : List.of(prompt2);
        List<int[]> ids1 = new ArrayList<>();
        List<int[]> ids2 = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            boolean last = i == texts.size() - 1;
            ids1.add(ClipConditioning.tokenIds(tokenizer, textEncoder.config().vocabSize(), texts.get(i),
                    last ? "prompt" : "negative prompt", tokenizerDir));
            ids2.add(ClipConditioning.tokenIds(tokenizer2, textEncoder2.config().vocabSize(), texts2.get(i),
                    last ? (o.prompt2() != null ? "prompt_2" : "prompt")
                            : (o.negativePrompt2() != null ? "negative_prompt_2" : "negative prompt"), tokenizer2Dir));
        }
        int skip = request.clipSkip() + 1;                                           // hidden_states[-(clip_skip + 2)]
        Tensor h1 = backend.download(textEncoder.forward(ClipConditioning.ids(ids1), skip, false).hiddenState()); // [n, L, D1]
        CLIPTextOutput out2 = textEncoder2.forward(ClipConditioning.ids(ids2), skip, false);
        Tensor h2 = backend.download(out2.hiddenState());                                                        // [n, L, D2]
        Tensor pooled = backend.download(textEncoder2.textEmbeds(out2));                                         // [n, P]
        Tensor context = concatLastDim(h1, h2);                                                                  // [n, L, D1 + D2]
        if (zeroNegative) {
            context = Latents.concatRows(List.of(zeros(context), context));                                    // [2, L, D]
            pooled = Latents.concatRows(List.of(zeros(pooled), pooled));                                       // [2, P]
        }
        int batch = request.batchSize();
        Tensor contextRows = ClipConditioning.perImage(context, guided, batch);                                 // [(2)B, L, D]
        Tensor pooledRows = ClipConditioning.perImage(pooled, guided, batch);                                   // [(2)B, P]
        Tensor timeIds = o.timeIdRows(request.width(), request.height(), guided, batch);                        // [(2)B, 6]
        return new UNetConditioning(contextRows, unet.addEmbeds(pooledRows, timeIds));
    }

    /**
     * Clip skip k conditions on {@code hidden_states[-(k+2)]}: up to every layer but one of the shallower encoder.
     */
    @Override
    public int maxClipSkip() {
        return Math.min(textEncoder.config().numHiddenLayers(), textEncoder2.config().numHiddenLayers()) - 1;
    }

    @Override
    public CLIPTextModel loraTextEncoder() { return textEncoder; }

    @Override
    public CLIPTextModelWithProjection loraTextEncoder2() { return textEncoder2; }

    /** Host [..., D1 + D2] from [..., D1] and [..., D2] with equal leading dimensions. */
    static Tensor concatLastDim(Tensor a, Tensor b) {
        long d1 = a.dim(a.rank() - 1);
        long d2 = b.dim(b.rank() - 1);
        long rows = a.numel() / d1;
        if (b.numel() / d2 != rows) throw new IllegalArgumentException("cannot concatenate " + a + " and " + b);
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        float[] out = new float[Math.toIntExact(rows * (d1 + d2))];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(x, (int) (r * d1), out, (int) (r * (d1 + d2)), (int) d1);
            System.arraycopy(y, (int) (r * d2), out, (int) (r * (d1 + d2) + d1), (int) d2);
        }
        long[] shape = a.shape();
        shape[shape.length - 1] = d1 + d2;
        return Tensor.fromFloats(out, shape);
    }

    /** A host f32 tensor of zeros shaped as one row of {@code t}: [1, ...]. */
    private static Tensor zeros(Tensor t) {
        long[] shape = t.shape();
        shape[0] = 1;
        return Tensor.fromFloats(new float[Math.toIntExact(t.numel() / t.dim(0))], shape);
    }
}
