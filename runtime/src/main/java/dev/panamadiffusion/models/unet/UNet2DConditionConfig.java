package dev.panamadiffusion.models.unet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.config.ConfigReader;
import dev.panamadiffusion.config.WeightShapes;
import dev.panamadiffusion.tensor.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;

/**
 * diffusers' {@code UNet2DConditionModel} config.json (0.27.2 keys and defaults). Per-block options that diffusers
 * accepts as "int or list" ({@code attention_head_dim}, {@code layers_per_block}, {@code cross_attention_dim},
 * {@code transformer_layers_per_block}, {@code only_cross_attention}) are expanded to one entry per down block.
 *
 * <p>Every key is type- and range-checked as it is read; only what Stable Diffusion 1.x, 2.x and XL use is supported
 * (SDXL: {@code addition_embed_type "text_time"}), and {@link #validate()} (called by {@link #fromJson}) rejects every
 * other value with a message naming the key, so a Kandinsky or DeepFloyd config fails before any weight is read.
 *
 * <p>diffusers' naming quirk: with {@code num_attention_heads} null (always, for SD), {@code attention_head_dim} is
 * the number of HEADS per block; the head size is {@code channels / heads} (see {@link #heads(int)}).
 */
public record UNet2DConditionConfig(
        int sampleSize,
        int inChannels,
        int outChannels,
        boolean centerInputSample,
        boolean flipSinToCos,
        double freqShift,
        String[] downBlockTypes,
        String midBlockType,
        String[] upBlockTypes,
        boolean[] onlyCrossAttention,
        int[] blockOutChannels,
        int[] layersPerBlock,
        int downsamplePadding,
        double midBlockScaleFactor,
        String actFn,
        Integer normNumGroups,
        double normEps,
        int[] crossAttentionDim,
        int[] transformerLayersPerBlock,
        boolean reverseTransformerLayersPerBlockSet,
        Integer encoderHidDim,
        String encoderHidDimType,
        int[] attentionHeadDim,
        int[] numAttentionHeads,
        boolean dualCrossAttention,
        boolean useLinearProjection,
        String classEmbedType,
        String additionEmbedType,
        Integer numClassEmbeds,
        boolean upcastAttention,
        String resnetTimeScaleShift,
        boolean resnetSkipTimeAct,
        String timeEmbeddingType,
        Integer timeEmbeddingDim,
        String timeEmbeddingActFn,
        String timestepPostAct,
        Integer timeCondProjDim,
        int convInKernel,
        int convOutKernel,
        String attentionType,
        boolean classEmbeddingsConcat,
        Integer additionTimeEmbedDim,
        Integer projectionClassEmbeddingsInputDim) {

    private static final Set<String> DOWN_BLOCKS = Set.of("CrossAttnDownBlock2D", "DownBlock2D");
    private static final Set<String> UP_BLOCKS = Set.of("CrossAttnUpBlock2D", "UpBlock2D");
    private static final String MID_BLOCK = "UNetMidBlock2DCrossAttn";
    /** SDXL's {@code addition_embed_type}. */
    public static final String TEXT_TIME = "text_time";
    /** SDXL's time ids per row: original height and width, crop top and left, target height and width. */
    public static final int TIME_IDS = 6;
    /**
     * The SDXL refiner's time ids per row ({@code requires_aesthetics_score}): original height and width, crop top and
     * left, aesthetic score.
     */
    public static final int AESTHETIC_TIME_IDS = 5;

    /** Most down (and up) blocks a config may list; Stable Diffusion has 4. */
    public static final int MAX_BLOCKS = 8;
    /** Largest channel count, head count or embedding width a config may give before the weights are consulted. */
    public static final int MAX_CHANNELS = 1 << 16;
    /** Most resnets or transformer layers per block a config may give. */
    public static final int MAX_LAYERS = 64;
    /** Largest sample_size (latent pixels): 256 latents are 2048 image pixels, the engine's default limit. */
    public static final int MAX_SAMPLE_SIZE = 256;

    /**
     * Reads and validates {@code config.json}: every key's type and range, then what this runtime implements.
     * Problems are a {@link ConfigException} naming the file and the key. The sizes are checked against the weights
     * by {@link #checkWeights}.
     */
    public static UNet2DConditionConfig read(Path configFile) {
        try {
            return fromJson(ConfigReader.of(configFile));
        } catch (ConfigException e) {
            throw e.file() == null ? e.in(configFile) : e;
        }
    }

    /** As {@link #read(Path)}, for the parsed (or derived) {@code root}; {@code configFile} names it in messages. */
    public static UNet2DConditionConfig read(Path configFile, JsonNode root) {
        try {
            return fromJson(new ConfigReader(configFile, root));
        } catch (ConfigException e) {
            throw e.file() == null ? e.in(configFile) : e;
        }
    }

    /** The config from a parsed config.json, diffusers 0.27.2 defaults for absent keys, validated. */
    public static UNet2DConditionConfig fromJson(JsonNode j) {
        return fromJson(new ConfigReader(null, j));
    }

    private static UNet2DConditionConfig fromJson(ConfigReader j) {
        String[] down = j.strings("down_block_types", MAX_BLOCKS,
                "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D");
        int n = down.length;
        int maxC = MAX_CHANNELS;
        UNet2DConditionConfig c = new UNet2DConditionConfig(
                // diffusers' default is None; Stable Diffusion pipelines need it, so SD 1.x's 64 is assumed
                j.integer("sample_size", 64, 1, MAX_SAMPLE_SIZE),
                j.integer("in_channels", 4, 1, maxC),
                j.integer("out_channels", 4, 1, maxC),
                j.bool("center_input_sample", false),
                j.bool("flip_sin_to_cos", true),
                j.number("freq_shift", 0, -1e6, 1e6),
                down,
                j.nullableString("mid_block_type", MID_BLOCK),
                j.strings("up_block_types", MAX_BLOCKS, "UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                j.perBlockBools("only_cross_attention", false, n),
                j.ints("block_out_channels", MAX_BLOCKS, 1, maxC, 320, 640, 1280, 1280),
                j.perBlockInts("layers_per_block", 2, n, 1, MAX_LAYERS),
                j.integer("downsample_padding", 1, 0, 1),
                j.number("mid_block_scale_factor", 1, -1e6, 1e6),
                j.string("act_fn", "silu"),
                j.nullableInteger("norm_num_groups", 32, 1, maxC),
                j.number("norm_eps", 1e-5, Double.MIN_VALUE, 1),
                j.perBlockInts("cross_attention_dim", 1280, n, 1, maxC),
                j.perBlockInts("transformer_layers_per_block", 1, n, 1, MAX_LAYERS),
                j.isSet("reverse_transformer_layers_per_block"),
                j.nullableInteger("encoder_hid_dim", null, 1, maxC),
                j.nullableString("encoder_hid_dim_type", null),
                j.perBlockInts("attention_head_dim", 8, n, 1, maxC),
                j.isSet("num_attention_heads") ? j.perBlockInts("num_attention_heads", 0, n, 1, maxC) : null,
                j.bool("dual_cross_attention", false),
                j.bool("use_linear_projection", false),
                j.nullableString("class_embed_type", null),
                j.nullableString("addition_embed_type", null),
                j.nullableInteger("num_class_embeds", null, 1, maxC),
                j.bool("upcast_attention", false),
                j.string("resnet_time_scale_shift", "default"),
                j.bool("resnet_skip_time_act", false),
                j.string("time_embedding_type", "positional"),
                j.nullableInteger("time_embedding_dim", null, 1, 4 * maxC),
                j.nullableString("time_embedding_act_fn", null),
                j.nullableString("timestep_post_act", null),
                j.nullableInteger("time_cond_proj_dim", null, 1, maxC),
                j.integer("conv_in_kernel", 3, 1, 15),
                j.integer("conv_out_kernel", 3, 1, 15),
                j.string("attention_type", "default"),
                j.bool("class_embeddings_concat", false),
                j.nullableInteger("addition_time_embed_dim", null, 2, maxC),
                j.nullableInteger("projection_class_embeddings_input_dim", null, 1, 4 * maxC));
        c.validate();
        return c;
    }

    /** Stable Diffusion 1.5's unet/config.json. */
    public static UNet2DConditionConfig sd15() {
        ObjectNode j = ConfigJson.MAPPER.createObjectNode();
        j.put("sample_size", 64).put("cross_attention_dim", 768).put("attention_head_dim", 8);
        return fromJson(j);
    }

    /** Stable Diffusion 2.1's (768-v) unet/config.json. */
    public static UNet2DConditionConfig sd21() {
        ObjectNode j = ConfigJson.MAPPER.createObjectNode();
        j.put("sample_size", 96).put("cross_attention_dim", 1024).put("use_linear_projection", true)
                .put("upcast_attention", true);
        j.putArray("attention_head_dim").add(5).add(10).add(20).add(20);
        return fromJson(j);
    }

    /** Throws {@link IllegalArgumentException} naming the first key whose value this runtime does not implement. */
    public void validate() {
        int n = downBlockTypes.length;
        require(n > 0, "down_block_types", "is empty");
        require(upBlockTypes.length == n, "up_block_types",
                "has " + upBlockTypes.length + " entries but down_block_types has " + n);
        require(blockOutChannels.length == n, "block_out_channels",
                "has " + blockOutChannels.length + " entries but down_block_types has " + n);
        for (String t : downBlockTypes) require(DOWN_BLOCKS.contains(t), "down_block_types", "unsupported block " + t + " (supported: " + DOWN_BLOCKS + ")");
        for (String t : upBlockTypes) require(UP_BLOCKS.contains(t), "up_block_types", "unsupported block " + t + " (supported: " + UP_BLOCKS + ")");
        require(MID_BLOCK.equals(midBlockType), "mid_block_type", "unsupported: " + midBlockType + " (supported: " + MID_BLOCK + ")");
        require(normNumGroups != null, "norm_num_groups", "null (no output norm) is not supported");
        require(normNumGroups > 0, "norm_num_groups", normNumGroups + " is not positive");
        for (int c : blockOutChannels) {
            require(c > 0 && c % normNumGroups == 0, "block_out_channels", c + " is not a positive multiple of norm_num_groups " + normNumGroups);
        }
        require(inChannels > 0 && outChannels > 0, "in_channels/out_channels", "must be positive");
        require(convInKernel % 2 == 1 && convOutKernel % 2 == 1, "conv_in_kernel/conv_out_kernel", "must be odd");
        require(downsamplePadding == 1 || downsamplePadding == 0, "downsample_padding", downsamplePadding + " is not 0 or 1");
        require(actFn.equals("silu") || actFn.equals("swish"), "act_fn", "unsupported: " + actFn + " (supported: silu)");
        require(!centerInputSample, "center_input_sample", "true is not supported");
        require(numAttentionHeads == null, "num_attention_heads",
                "must be null: diffusers 0.27 rejects it too (attention_head_dim holds the head count)");
        require(!dualCrossAttention, "dual_cross_attention", "true is not supported");
        for (boolean b : onlyCrossAttention) require(!b, "only_cross_attention", "true is not supported");
        require(classEmbedType == null && numClassEmbeds == null, "class_embed_type/num_class_embeds",
                "class conditioning is not supported");
        require(!classEmbeddingsConcat, "class_embeddings_concat", "true is not supported");
        require(additionEmbedType == null || additionEmbedType.equals(TEXT_TIME), "addition_embed_type",
                "unsupported: " + additionEmbedType + " (supported: null, \"text_time\" as SDXL)");
        if (hasTextTime()) {
            require(additionTimeEmbedDim != null, "addition_time_embed_dim", "is needed with addition_embed_type \"text_time\"");
            require(projectionClassEmbeddingsInputDim != null
                            && projectionClassEmbeddingsInputDim > AESTHETIC_TIME_IDS * additionTimeEmbedDim,
                    "projection_class_embeddings_input_dim", "must exceed " + AESTHETIC_TIME_IDS + " × addition_time_embed_dim = "
                            + AESTHETIC_TIME_IDS * additionTimeEmbedDim + " (the time ids' embedding plus the pooled text embedding)");
        }
        require(encoderHidDim == null && encoderHidDimType == null, "encoder_hid_dim/encoder_hid_dim_type",
                "encoder hidden state projection is not supported");
        require(resnetTimeScaleShift.equals("default"), "resnet_time_scale_shift", "unsupported: " + resnetTimeScaleShift);
        require(!resnetSkipTimeAct, "resnet_skip_time_act", "true is not supported");
        require(timeEmbeddingType.equals("positional"), "time_embedding_type", "unsupported: " + timeEmbeddingType + " (supported: positional)");
        require(timeEmbeddingActFn == null, "time_embedding_act_fn", "unsupported: " + timeEmbeddingActFn);
        require(timestepPostAct == null, "timestep_post_act", "unsupported: " + timestepPostAct);
        require(attentionType.equals("default"), "attention_type", "unsupported: " + attentionType);
        require(!reverseTransformerLayersPerBlockSet, "reverse_transformer_layers_per_block", "is not supported");
        require(timeEmbeddingDim == null || timeEmbeddingDim > 0, "time_embedding_dim", "must be positive");
        for (int i = 0; i < n; i++) {
            require(layersPerBlock[i] > 0, "layers_per_block", "must be positive");
            require(transformerLayersPerBlock[i] > 0, "transformer_layers_per_block", "must be positive");
            require(attentionHeadDim[i] > 0 && blockOutChannels[i] % attentionHeadDim[i] == 0, "attention_head_dim",
                    "block " + i + ": " + blockOutChannels[i] + " channels do not split into " + attentionHeadDim[i] + " heads");
            require(crossAttentionDim[i] == crossAttentionDim[0] && crossAttentionDim[0] > 0, "cross_attention_dim",
                    "must be one positive width for all blocks, not " + Arrays.toString(crossAttentionDim));
        }
    }

    /**
     * Checks this config, read from {@code configFile}, against the checkpoint's tensors before any module is built:
     * block and layer counts, channel widths, kernel sizes and the text width must be what the weights hold.
     */
    public void checkWeights(Path configFile, Map<String, Tensor> weights) {
        WeightShapes w = new WeightShapes(configFile, weights);
        int n = numBlocks();
        w.expectCount("down_block_types", n, "down_blocks.");
        w.expectCount("up_block_types", n, "up_blocks.");
        w.expect("block_out_channels", blockOutChannels[0], "conv_in.weight", 0);
        w.expect("in_channels", inChannels, "conv_in.weight", 1);
        w.expect("conv_in_kernel", convInKernel, "conv_in.weight", 2);
        w.expect("out_channels", outChannels, "conv_out.weight", 0);
        w.expect("conv_out_kernel", convOutKernel, "conv_out.weight", 2);
        w.expect(timeEmbeddingDim != null ? "time_embedding_dim" : "block_out_channels", timeEmbedDim(),
                "time_embedding.linear_1.weight", 0);
        if (timeCondProjDim != null) w.expect("time_cond_proj_dim", timeCondProjDim, "time_embedding.cond_proj.weight", 1);
        if (hasTextTime()) {
            w.expect("projection_class_embeddings_input_dim", projectionClassEmbeddingsInputDim, "add_embedding.linear_1.weight", 1);
            w.expect("time_embedding_dim", timeEmbedDim(), "add_embedding.linear_1.weight", 0);
        }
        for (int i = 0; i < n; i++) {
            String down = "down_blocks." + i + ".";
            w.expectCount("layers_per_block", layersPerBlock[i], down + "resnets.");
            w.expect("block_out_channels", blockOutChannels[i], down + "resnets.0.conv1.weight", 0);
            if (downBlockTypes[i].startsWith("CrossAttn")) {
                w.expectCount("layers_per_block", layersPerBlock[i], down + "attentions.");
                w.expectCount("transformer_layers_per_block", transformerLayersPerBlock[i], down + "attentions.0.transformer_blocks.");
                w.expect("cross_attention_dim", crossAttentionDim[i], down + "attentions.0.transformer_blocks.0.attn2.to_k.weight", 1);
            }
            int r = n - 1 - i; // up block i mirrors down block n-1-i and has one resnet more
            String up = "up_blocks." + i + ".";
            w.expectCount("layers_per_block", layersPerBlock[r], layersPerBlock[r] + 1L, up + "resnets.");
            if (upBlockTypes[i].startsWith("CrossAttn")) {
                w.expectCount("transformer_layers_per_block", transformerLayersPerBlock[r], up + "attentions.0.transformer_blocks.");
            }
        }
        w.expectCount("transformer_layers_per_block", transformerLayersPerBlock[n - 1], "mid_block.attentions.0.transformer_blocks.");
    }

    /** SDXL's added conditioning: {@code add_embedding} of the pooled text embedding and the embedded time ids. */
    public boolean hasTextTime() { return TEXT_TIME.equals(additionEmbedType); }

    /**
     * Width of the pooled text embedding the UNet expects with {@code text_time}:
     * {@code projection_class_embeddings_input_dim − 6 × addition_time_embed_dim} (text_encoder_2's projection_dim).
     */
    public int textEmbedsDim() {
        if (!hasTextTime()) throw new IllegalStateException("this UNet has no text_time added conditioning");
        return textEmbedsDim(TIME_IDS);
    }

    /**
     * The pooled text width with {@code timeIds} time ids per row ({@link #TIME_IDS} for SDXL base,
     * {@link #AESTHETIC_TIME_IDS} for the refiner): {@code projection_class_embeddings_input_dim − timeIds ×
     * addition_time_embed_dim}, which diffusers' {@code _get_add_time_ids} requires to be text_encoder_2's projection_dim.
     */
    public int textEmbedsDim(int timeIds) {
        if (!hasTextTime()) throw new IllegalStateException("this UNet has no text_time added conditioning");
        return projectionClassEmbeddingsInputDim - timeIds * additionTimeEmbedDim;
    }

    /** Number of down (and up) blocks. */
    public int numBlocks() { return downBlockTypes.length; }

    /**
     * Attention heads of the transformers in down block {@code i} (and of up block {@code numBlocks() - 1 - i});
     * diffusers passes {@code attention_head_dim[i]} as the head count ({@code num_attention_heads or attention_head_dim}).
     */
    public int heads(int i) { return attentionHeadDim[i]; }

    /** Width of the time embedding: {@code time_embedding_dim} or 4 × block_out_channels[0]. */
    public int timeEmbedDim() { return timeEmbeddingDim != null ? timeEmbeddingDim : 4 * blockOutChannels[0]; }

    /** Spatial factor between the input and the deepest block: 2^(number of down blocks − 1). */
    public int downscaleFactor() { return 1 << (downBlockTypes.length - 1); }

    @Override
    public String toString() {
        return "UNet2DConditionConfig[in=" + inChannels + ", out=" + outChannels + ", blocks=" + Arrays.toString(blockOutChannels)
                + ", down=" + Arrays.toString(downBlockTypes) + ", up=" + Arrays.toString(upBlockTypes)
                + ", layers=" + Arrays.toString(layersPerBlock) + ", heads=" + Arrays.toString(attentionHeadDim)
                + ", cross=" + Arrays.toString(crossAttentionDim) + ", linearProjection=" + useLinearProjection
                + ", sampleSize=" + sampleSize + "]";
    }

    private static void require(boolean ok, String key, String problem) {
        if (!ok) throw new ConfigException(null, key, problem);
    }
}
