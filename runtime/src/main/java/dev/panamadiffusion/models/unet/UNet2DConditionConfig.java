package dev.panamadiffusion.models.unet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.config.ConfigJson;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * diffusers' {@code UNet2DConditionModel} config.json (0.27.2 keys and defaults). Per-block options that diffusers
 * accepts as "int or list" ({@code attention_head_dim}, {@code layers_per_block}, {@code cross_attention_dim},
 * {@code transformer_layers_per_block}, {@code only_cross_attention}) are expanded to one entry per down block.
 *
 * <p>Only what Stable Diffusion 1.x and 2.x use is supported; {@link #validate()} (called by {@link #fromJson})
 * rejects every other value with a message naming the key, so an SDXL, Kandinsky or DeepFloyd config fails before
 * any weight is read.
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
        boolean classEmbeddingsConcat) {

    private static final Set<String> DOWN_BLOCKS = Set.of("CrossAttnDownBlock2D", "DownBlock2D");
    private static final Set<String> UP_BLOCKS = Set.of("CrossAttnUpBlock2D", "UpBlock2D");
    private static final String MID_BLOCK = "UNetMidBlock2DCrossAttn";

    /** Reads and validates {@code config.json}; problems are an {@link IllegalArgumentException} naming the file. */
    public static UNet2DConditionConfig read(Path configFile) {
        try {
            return fromJson(ConfigJson.tree(configFile));
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith(configFile.toString())) throw e;
            throw new IllegalArgumentException(configFile + ": " + e.getMessage(), e);
        }
    }

    /** The config from a parsed config.json, diffusers 0.27.2 defaults for absent keys, validated. */
    public static UNet2DConditionConfig fromJson(JsonNode j) {
        String[] down = strings(j, "down_block_types",
                "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D");
        int n = down.length;
        UNet2DConditionConfig c = new UNet2DConditionConfig(
                // diffusers' default is None; Stable Diffusion pipelines need it, so SD 1.x's 64 is assumed
                integer(j, "sample_size", 64),
                integer(j, "in_channels", 4),
                integer(j, "out_channels", 4),
                bool(j, "center_input_sample", false),
                bool(j, "flip_sin_to_cos", true),
                number(j, "freq_shift", 0),
                down,
                nullableString(j, "mid_block_type", MID_BLOCK),
                strings(j, "up_block_types", "UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                perBlockBools(j, "only_cross_attention", false, n),
                ints(j, "block_out_channels", 320, 640, 1280, 1280),
                perBlockInts(j, "layers_per_block", 2, n),
                integer(j, "downsample_padding", 1),
                number(j, "mid_block_scale_factor", 1),
                string(j, "act_fn", "silu"),
                nullableInteger(j, "norm_num_groups", 32),
                number(j, "norm_eps", 1e-5),
                perBlockInts(j, "cross_attention_dim", 1280, n),
                perBlockInts(j, "transformer_layers_per_block", 1, n),
                isSet(j, "reverse_transformer_layers_per_block"),
                nullableInteger(j, "encoder_hid_dim", null),
                nullableString(j, "encoder_hid_dim_type", null),
                perBlockInts(j, "attention_head_dim", 8, n),
                isSet(j, "num_attention_heads") ? perBlockInts(j, "num_attention_heads", 0, n) : null,
                bool(j, "dual_cross_attention", false),
                bool(j, "use_linear_projection", false),
                nullableString(j, "class_embed_type", null),
                nullableString(j, "addition_embed_type", null),
                nullableInteger(j, "num_class_embeds", null),
                bool(j, "upcast_attention", false),
                string(j, "resnet_time_scale_shift", "default"),
                bool(j, "resnet_skip_time_act", false),
                string(j, "time_embedding_type", "positional"),
                nullableInteger(j, "time_embedding_dim", null),
                nullableString(j, "time_embedding_act_fn", null),
                nullableString(j, "timestep_post_act", null),
                nullableInteger(j, "time_cond_proj_dim", null),
                integer(j, "conv_in_kernel", 3),
                integer(j, "conv_out_kernel", 3),
                string(j, "attention_type", "default"),
                bool(j, "class_embeddings_concat", false));
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
        require(additionEmbedType == null, "addition_embed_type", "unsupported: " + additionEmbedType + " (SDXL-style added embeddings)");
        require(encoderHidDim == null && encoderHidDimType == null, "encoder_hid_dim/encoder_hid_dim_type",
                "encoder hidden state projection is not supported");
        require(resnetTimeScaleShift.equals("default"), "resnet_time_scale_shift", "unsupported: " + resnetTimeScaleShift);
        require(!resnetSkipTimeAct, "resnet_skip_time_act", "true is not supported");
        require(timeEmbeddingType.equals("positional"), "time_embedding_type", "unsupported: " + timeEmbeddingType + " (supported: positional)");
        require(timeEmbeddingActFn == null, "time_embedding_act_fn", "unsupported: " + timeEmbeddingActFn);
        require(timestepPostAct == null, "timestep_post_act", "unsupported: " + timestepPostAct);
        require(timeCondProjDim == null, "time_cond_proj_dim", "unsupported: " + timeCondProjDim);
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

    // ---- JSON helpers -------------------------------------------------------------------------------------

    private static void require(boolean ok, String key, String problem) {
        if (!ok) throw new IllegalArgumentException("UNet config: " + key + " " + problem);
    }

    private static boolean isSet(JsonNode j, String key) {
        JsonNode v = j.get(key);
        return v != null && !v.isNull();
    }

    private static int integer(JsonNode j, String key, int dflt) {
        Integer v = nullableInteger(j, key, dflt);
        if (v == null) throw new IllegalArgumentException("UNet config: " + key + " must not be null");
        return v;
    }

    private static Integer nullableInteger(JsonNode j, String key, Integer dflt) {
        JsonNode v = j.get(key);
        if (v == null) return dflt;
        if (v.isNull()) return null;
        if (!v.isIntegralNumber() && !(v.isNumber() && v.asDouble() == Math.rint(v.asDouble()))) {
            throw new IllegalArgumentException("UNet config: " + key + " must be an integer, not " + v);
        }
        return v.asInt();
    }

    private static double number(JsonNode j, String key, double dflt) {
        JsonNode v = j.get(key);
        if (v == null) return dflt;
        if (!v.isNumber()) throw new IllegalArgumentException("UNet config: " + key + " must be a number, not " + v);
        return v.asDouble();
    }

    private static boolean bool(JsonNode j, String key, boolean dflt) {
        JsonNode v = j.get(key);
        if (v == null || v.isNull()) return dflt;
        if (!v.isBoolean()) throw new IllegalArgumentException("UNet config: " + key + " must be true or false, not " + v);
        return v.asBoolean();
    }

    private static String string(JsonNode j, String key, String dflt) {
        String s = nullableString(j, key, dflt);
        if (s == null) throw new IllegalArgumentException("UNet config: " + key + " must not be null");
        return s;
    }

    private static String nullableString(JsonNode j, String key, String dflt) {
        JsonNode v = j.get(key);
        if (v == null) return dflt;
        if (v.isNull()) return null;
        if (!v.isTextual()) throw new IllegalArgumentException("UNet config: " + key + " must be a string, not " + v);
        return v.asText();
    }

    private static String[] strings(JsonNode j, String key, String... dflt) {
        JsonNode v = j.get(key);
        if (v == null) return dflt;
        if (!v.isArray()) throw new IllegalArgumentException("UNet config: " + key + " must be a list of strings, not " + v);
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isTextual()) throw new IllegalArgumentException("UNet config: " + key + " must be a list of strings, not " + v);
            out.add(e.asText());
        }
        return out.toArray(String[]::new);
    }

    private static int[] ints(JsonNode j, String key, int... dflt) {
        JsonNode v = j.get(key);
        if (v == null) return dflt;
        if (!v.isArray()) throw new IllegalArgumentException("UNet config: " + key + " must be a list of integers, not " + v);
        int[] out = new int[v.size()];
        for (int i = 0; i < out.length; i++) {
            if (!v.get(i).isIntegralNumber()) {
                throw new IllegalArgumentException("UNet config: " + key + " must be a list of integers, not " + v);
            }
            out[i] = v.get(i).asInt();
        }
        return out;
    }

    /** An int, or a list with one int per down block; the int is repeated {@code n} times. */
    private static int[] perBlockInts(JsonNode j, String key, int dflt, int n) {
        JsonNode v = j.get(key);
        if (v == null || v.isNull()) {
            int[] out = new int[n];
            Arrays.fill(out, dflt);
            return out;
        }
        if (v.isIntegralNumber()) {
            int[] out = new int[n];
            Arrays.fill(out, v.asInt());
            return out;
        }
        int[] out = ints(j, key);
        if (out.length != n) {
            throw new IllegalArgumentException("UNet config: " + key + " has " + out.length + " entries but down_block_types has " + n);
        }
        return out;
    }

    private static boolean[] perBlockBools(JsonNode j, String key, boolean dflt, int n) {
        JsonNode v = j.get(key);
        boolean[] out = new boolean[n];
        if (v == null || v.isNull() || v.isBoolean()) {
            Arrays.fill(out, v == null || v.isNull() ? dflt : v.asBoolean());
            return out;
        }
        if (!v.isArray() || v.size() != n) {
            throw new IllegalArgumentException("UNet config: " + key + " must be a boolean or " + n + " booleans, not " + v);
        }
        for (int i = 0; i < n; i++) out[i] = v.get(i).asBoolean();
        return out;
    }
}
