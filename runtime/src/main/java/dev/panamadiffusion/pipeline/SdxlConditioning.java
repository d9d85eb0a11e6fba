package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.models.clip.CLIPTextModelWithProjection;
import dev.panamadiffusion.models.clip.CLIPTextOutput;
import dev.panamadiffusion.models.unet.UNet2DConditionConfig;
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
 *
 * <p>The SDXL refiner ({@link #refiner}, diffusers' {@code StableDiffusionXLImg2ImgPipeline} with
 * {@code text_encoder}/{@code tokenizer} null and {@code requires_aesthetics_score}) is the same with one text encoder:
 * {@code prompt_embeds} are {@code text_encoder_2}'s penultimate hidden state alone, of the prompt (diffusers'
 * {@code encode_prompt} zips the prompts with the tokenizers it has, so the second encoder reads {@code prompt} and
 * {@code prompt_2} is never read), and the time ids are its 5 ({@link SdxlOptions#aestheticTimeIdRows}: original size,
 * crop, aesthetic score; unconditional rows B negative then B positive). Its {@code force_zeros_for_empty_prompt} is
 * false: an empty negative prompt is encoded.
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
    private final boolean aesthetic;

    /** SDXL base: two text encoders, 6 time ids. */
    public SdxlConditioning(Backend backend, CLIPTokenizer tokenizer, CLIPTextModel textEncoder, Path tokenizerDir,
                            CLIPTokenizer tokenizer2, CLIPTextModelWithProjection textEncoder2, Path tokenizer2Dir,
                            UNet2DConditionModel unet, boolean forceZerosForEmptyPrompt) {
        this(backend, tokenizer, textEncoder, tokenizerDir, tokenizer2, textEncoder2, tokenizer2Dir, unet,
                forceZerosForEmptyPrompt, false);
    }

    /**
     * The SDXL refiner: {@code text_encoder_2} alone, 5 time ids with the aesthetic scores ({@code requires_aesthetics_score}).
     */
    public static SdxlConditioning refiner(Backend backend, CLIPTokenizer tokenizer2, CLIPTextModelWithProjection textEncoder2,
                                           Path tokenizer2Dir, UNet2DConditionModel unet, boolean forceZerosForEmptyPrompt) {
        return new SdxlConditioning(backend, null, null, null, tokenizer2, textEncoder2, tokenizer2Dir, unet,
                forceZerosForEmptyPrompt, true);
    }

    /**
     * Either kind: {@code textEncoder} null reads {@code text_encoder_2} alone; {@code aesthetic}
     * ({@code requires_aesthetics_score}) makes the time ids the refiner's 5.
     */
    SdxlConditioning(Backend backend, CLIPTokenizer tokenizer, CLIPTextModel textEncoder, Path tokenizerDir,
                     CLIPTokenizer tokenizer2, CLIPTextModelWithProjection textEncoder2, Path tokenizer2Dir,
                     UNet2DConditionModel unet, boolean forceZerosForEmptyPrompt, boolean aesthetic) {
        int width1 = textEncoder == null ? 0 : textEncoder.config().hiddenSize();
        int width = width1 + textEncoder2.config().hiddenSize();
        if (width != unet.config().crossAttentionDim()[0]) {
            throw new IllegalArgumentException(textEncoder == null
                    ? "text_encoder_2's hidden size " + width + " is not the UNet's cross_attention_dim " + unet.config().crossAttentionDim()[0]
                    : "the text encoders' hidden sizes " + width1 + " + " + textEncoder2.config().hiddenSize()
                    + " do not add up to the UNet's cross_attention_dim " + unet.config().crossAttentionDim()[0]);
        }
        if (!unet.config().hasTextTime()) {
            throw new IllegalArgumentException("text_encoder_2 is there but the UNet has no addition_embed_type \"text_time\"");
        }
        int ids = aesthetic ? UNet2DConditionConfig.AESTHETIC_TIME_IDS : UNet2DConditionConfig.TIME_IDS;
        if (unet.config().textEmbedsDim(ids) != textEncoder2.config().projectionDim()) {
            int other = aesthetic ? UNet2DConditionConfig.TIME_IDS : UNet2DConditionConfig.AESTHETIC_TIME_IDS;
            boolean flip = unet.config().textEmbedsDim(other) == textEncoder2.config().projectionDim();
            throw new IllegalArgumentException("text_encoder_2's projection_dim " + textEncoder2.config().projectionDim()
                    + " is not the UNet's pooled width " + unet.config().textEmbedsDim(ids)
                    + " (projection_class_embeddings_input_dim − " + ids + " × addition_time_embed_dim)"
                    + (flip ? aesthetic ? ": the UNet takes SDXL base's 6 time ids; model_index.json's requires_aesthetics_score"
                            + " must be false" : ": the UNet takes the SDXL refiner's 5 time ids (with an aesthetic score);"
                            + " model_index.json's requires_aesthetics_score must be true" : ""));
        }
        if (tokenizer != null && tokenizer.maxLength() != tokenizer2.maxLength()) {
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
        this.aesthetic = aesthetic;
    }

    /** Whether the time ids are the refiner's 5 ({@code requires_aesthetics_score}). */
    public boolean aesthetic() { return aesthetic; }

    @Override
    public UNetConditioning encode(GenerationRequest request, boolean guided, boolean fromImage, List<String> warnings) {
        SdxlOptions o = request.sdxl();
        boolean zeroNegative = guided && forceZerosForEmptyPrompt && request.negativePrompt().isEmpty();
        boolean encodeNegative = guided && !zeroNegative;
        if (zeroNegative && o.negativePrompt2() != null) {
            warnings.add("negative_prompt_2 is unused: without a negative prompt this model (force_zeros_for_empty_prompt)"
                    + " conditions on zeros, as diffusers does");
        }
        boolean one = textEncoder == null;   // the refiner: text_encoder_2 reads the prompt (diffusers' zip)
        String prompt2 = one ? request.prompt() : o.prompt2Or(request.prompt());
        String negative2 = one ? request.negativePrompt() : o.negativePrompt2Or(request.negativePrompt());
        if (!one) ClipConditioning.truncationWarning(tokenizer, request.prompt(), "prompt", warnings);
        if (one || o.prompt2() != null) ClipConditioning.truncationWarning(tokenizer2, prompt2, one ? "prompt" : "prompt_2", warnings);
        if (encodeNegative) {
            if (!one) ClipConditioning.truncationWarning(tokenizer, request.negativePrompt(), "negative prompt", warnings);
            if (one || o.negativePrompt2() != null) {
                ClipConditioning.truncationWarning(tokenizer2, negative2, one ? "negative prompt" : "negative_prompt_2", warnings);
            }
        }
        // rows: [negative,] prompt; the second encoder reads the *_2 texts (the refiner's: the prompts themselves)
        List<String> texts = encodeNegative ? List.of(request.negativePrompt(), request.prompt()) : List.of(request.prompt());
        List<String> texts2 = encodeNegative ? List.of(negative2, prompt2) : List.of(prompt2);
        List<int[]> ids1 = new ArrayList<>();
        List<int[]> ids2 = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            boolean last = i == texts.size() - 1;
            if (!one) {
                ids1.add(ClipConditioning.tokenIds(tokenizer, textEncoder.config().vocabSize(), texts.get(i),
                        last ? "prompt" : "negative prompt", tokenizerDir));
            }
            ids2.add(ClipConditioning.tokenIds(tokenizer2, textEncoder2.config().vocabSize(), texts2.get(i),
                    last ? (o.prompt2() != null && !one ? "prompt_2" : "prompt")
                            : (o.negativePrompt2() != null && !one ? "negative_prompt_2" : "negative prompt"), tokenizer2Dir));
        }
        int skip = request.clipSkip() + 1;                                           // hidden_states[-(clip_skip + 2)]
        CLIPTextOutput out2 = textEncoder2.forward(ClipConditioning.ids(ids2), skip, false);
        Tensor h2 = backend.download(out2.hiddenState());                                                        // [n, L, D2]
        Tensor pooled = backend.download(textEncoder2.textEmbeds(out2));                                         // [n, P]
        Tensor context = one ? h2                                                                                // [n, L, D]
                : concatLastDim(backend.download(textEncoder.forward(ClipConditioning.ids(ids1), skip, false).hiddenState()), h2);
        if (zeroNegative) {
            context = Latents.concatRows(List.of(zeros(context), context));                                    // [2, L, D]
            pooled = Latents.concatRows(List.of(zeros(pooled), pooled));                                       // [2, P]
        }
        int batch = request.batchSize();
        Tensor contextRows = ClipConditioning.perImage(context, guided, batch);                                 // [(2)B, L, D]
        Tensor pooledRows = ClipConditioning.perImage(pooled, guided, batch);                                   // [(2)B, P]
        Tensor timeIds = aesthetic ? o.aestheticTimeIdRows(request.width(), request.height(), guided, batch)    // [(2)B, 5]
                : o.timeIdRows(request.width(), request.height(), guided, batch, fromImage);                    // [(2)B, 6]
        return new UNetConditioning(contextRows, unet.addEmbeds(pooledRows, timeIds));
    }

    /**
     * Clip skip k conditions on {@code hidden_states[-(k+2)]}: up to every layer but one of the shallower encoder.
     */
    @Override
    public int maxClipSkip() {
        int layers = textEncoder2.config().numHiddenLayers();
        return (textEncoder == null ? layers : Math.min(textEncoder.config().numHiddenLayers(), layers)) - 1;
    }

    /** The first text encoder; null for the refiner, which has none. */
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
