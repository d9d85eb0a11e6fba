package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.config.ConfigException;
import org.junit.jupiter.api.Test;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link UNet2DConditionConfig#validate()} on configs built in code (the record's constructor), where the JSON reader's
 * ranges do not come first: each value this runtime does not implement is refused naming its key, and the values at
 * the edges of what it does implement pass.
 */
class UNet2DConditionConfigValidateTest {
    /** SD 1.5's config with the named record components replaced. */
    private static UNet2DConditionConfig sd15With(Map<String, Object> changes) {
        UNet2DConditionConfig base = UNet2DConditionConfig.sd15();
        RecordComponent[] rc = UNet2DConditionConfig.class.getRecordComponents();
        Object[] args = new Object[rc.length];
        Class<?>[] types = new Class<?>[rc.length];
        int used = 0;
        try {
            for (int i = 0; i < rc.length; i++) {
                types[i] = rc[i].getType();
                if (changes.containsKey(rc[i].getName())) {
                    args[i] = changes.get(rc[i].getName());
                    used++;
                } else {
                    args[i] = rc[i].getAccessor().invoke(base);
                }
            }
            assertEquals(changes.size(), used, "unknown component in " + changes.keySet());
            return UNet2DConditionConfig.class.getDeclaredConstructor(types).newInstance(args);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new AssertionError(e);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    private static UNet2DConditionConfig sd15With(Object... keyValues) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) m.put((String) keyValues[i], keyValues[i + 1]);
        return sd15With(m);
    }

    private static void refused(String key, Object... keyValues) {
        ConfigException e = assertThrows(ConfigException.class, () -> sd15With(keyValues).validate(), key);
        assertEquals(key, e.field(), e.getMessage());
    }

    private static void accepted(Object... keyValues) {
        sd15With(keyValues).validate();
    }

    private static final String[] FOUR_DOWN = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"};

    @Test
    void blockLayout() {
        refused("down_block_types", "downBlockTypes", new String[0], "upBlockTypes", new String[0],
                "blockOutChannels", new int[0], "onlyCrossAttention", new boolean[0], "layersPerBlock", new int[0],
                "crossAttentionDim", new int[0], "transformerLayersPerBlock", new int[0], "attentionHeadDim", new int[0]);
        refused("up_block_types", "upBlockTypes", new String[] {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"});
        refused("block_out_channels", "blockOutChannels", new int[] {320, 640, 1280});
        refused("down_block_types", "downBlockTypes", new String[] {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "SimpleDownBlock2D"});
        refused("up_block_types", "upBlockTypes", new String[] {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "AttnUpBlock2D"});
        refused("mid_block_type", "midBlockType", "UNetMidBlock2DSimpleCrossAttn");
        refused("mid_block_type", "midBlockType", null);
        accepted("downBlockTypes", FOUR_DOWN);
    }

    @Test
    void groupsChannelsAndKernels() {
        refused("norm_num_groups", "normNumGroups", null);
        refused("norm_num_groups", "normNumGroups", 0);
        refused("norm_num_groups", "normNumGroups", -32);
        refused("block_out_channels", "blockOutChannels", new int[] {320, 640, 1280, 1290});
        refused("block_out_channels", "blockOutChannels", new int[] {0, 640, 1280, 1280}, "normNumGroups", 1);
        refused("block_out_channels", "blockOutChannels", new int[] {-320, 640, 1280, 1280});
        accepted("normNumGroups", 1, "blockOutChannels", new int[] {8, 8, 8, 8}, "attentionHeadDim", new int[] {1, 1, 1, 1});
        refused("in_channels/out_channels", "inChannels", 0);
        refused("in_channels/out_channels", "outChannels", 0);
        refused("in_channels/out_channels", "inChannels", -4);
        accepted("inChannels", 1, "outChannels", 1);
        refused("conv_in_kernel/conv_out_kernel", "convInKernel", 2);
        refused("conv_in_kernel/conv_out_kernel", "convOutKernel", 4);
        refused("conv_in_kernel/conv_out_kernel", "convInKernel", -1);
        accepted("convInKernel", 1, "convOutKernel", 5);
        refused("downsample_padding", "downsamplePadding", 2);
        refused("downsample_padding", "downsamplePadding", -1);
        accepted("downsamplePadding", 0);
        accepted("actFn", "swish");
        refused("act_fn", "actFn", "gelu");
    }

    @Test
    void perBlockCountsAndHeads() {
        refused("layers_per_block", "layersPerBlock", new int[] {2, 0, 2, 2});
        accepted("layersPerBlock", new int[] {1, 1, 1, 1});
        refused("transformer_layers_per_block", "transformerLayersPerBlock", new int[] {1, 1, 1, 0});
        accepted("transformerLayersPerBlock", new int[] {1, 2, 10, 1});
        refused("attention_head_dim", "attentionHeadDim", new int[] {8, 0, 8, 8});
        refused("attention_head_dim", "attentionHeadDim", new int[] {8, 8, 8, 7});
        refused("attention_head_dim", "attentionHeadDim", new int[] {-8, 8, 8, 8});
        accepted("attentionHeadDim", new int[] {1, 640, 5, 1280});
        refused("cross_attention_dim", "crossAttentionDim", new int[] {768, 768, 1024, 768});
        refused("cross_attention_dim", "crossAttentionDim", new int[] {0, 0, 0, 0});
        refused("cross_attention_dim", "crossAttentionDim", new int[] {-768, -768, -768, -768});
        accepted("crossAttentionDim", new int[] {1, 1, 1, 1});
        refused("time_embedding_dim", "timeEmbeddingDim", 0);
        refused("time_embedding_dim", "timeEmbeddingDim", -1);
        accepted("timeEmbeddingDim", 1);
    }

    @Test
    void featuresThisRuntimeDoesNotImplement() {
        refused("center_input_sample", "centerInputSample", true);
        refused("num_attention_heads", "numAttentionHeads", new int[] {8, 8, 8, 8});
        refused("dual_cross_attention", "dualCrossAttention", true);
        refused("only_cross_attention", "onlyCrossAttention", new boolean[] {false, false, false, true});
        refused("class_embed_type/num_class_embeds", "classEmbedType", "timestep");
        refused("class_embed_type/num_class_embeds", "numClassEmbeds", 10);
        refused("class_embeddings_concat", "classEmbeddingsConcat", true);
        refused("addition_embed_type", "additionEmbedType", "text");
        refused("addition_time_embed_dim", "additionEmbedType", "text_time");
        refused("projection_class_embeddings_input_dim", "additionEmbedType", "text_time", "additionTimeEmbedDim", 256);
        // SDXL's 2816 = 1280 + 6 × 256; the refiner's 2560 = 1280 + 5 × 256; the width must exceed 5 × 256
        accepted("additionEmbedType", "text_time", "additionTimeEmbedDim", 256, "projectionClassEmbeddingsInputDim", 2816);
        accepted("additionEmbedType", "text_time", "additionTimeEmbedDim", 256, "projectionClassEmbeddingsInputDim", 1281);
        refused("projection_class_embeddings_input_dim", "additionEmbedType", "text_time", "additionTimeEmbedDim", 256,
                "projectionClassEmbeddingsInputDim", 1280);
        ConfigException e = assertThrows(ConfigException.class, () -> sd15With("additionEmbedType", "text_time",
                "additionTimeEmbedDim", 256, "projectionClassEmbeddingsInputDim", 1000).validate());
        assertTrue(e.getMessage().contains("must exceed 5 × addition_time_embed_dim = 1280"), e.getMessage());
        refused("encoder_hid_dim/encoder_hid_dim_type", "encoderHidDim", 768);
        refused("encoder_hid_dim/encoder_hid_dim_type", "encoderHidDimType", "text_proj");
        refused("resnet_time_scale_shift", "resnetTimeScaleShift", "scale_shift");
        refused("resnet_skip_time_act", "resnetSkipTimeAct", true);
        refused("time_embedding_type", "timeEmbeddingType", "fourier");
        refused("time_embedding_act_fn", "timeEmbeddingActFn", "silu");
        refused("timestep_post_act", "timestepPostAct", "silu");
        refused("attention_type", "attentionType", "gated");
        refused("reverse_transformer_layers_per_block", "reverseTransformerLayersPerBlockSet", true);
        accepted();
    }

    @Test
    void theModelValidatesTheConfigBeforeBindingWeights() {
        ConfigException e = assertThrows(ConfigException.class, () -> new UNet2DConditionModel(sd15With("centerInputSample", true),
                dev.panamadiffusion.weights.Weights.of(Map.of(), new dev.panamadiffusion.models.NaiveBackend(), "no weights")));
        assertEquals("center_input_sample", e.field());
    }

    @Test
    void readNamesTheFileOfAValueThisRuntimeDoesNotImplement(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path file = dir.resolve("config.json");
        java.nio.file.Files.writeString(file, "{\"center_input_sample\": true}");
        ConfigException e = assertThrows(ConfigException.class, () -> UNet2DConditionConfig.read(file));
        assertEquals(file, e.file());
        assertEquals("center_input_sample", e.field());
        var tree = dev.panamadiffusion.config.ConfigJson.tree(file);
        e = assertThrows(ConfigException.class, () -> UNet2DConditionConfig.read(file, tree));
        assertEquals(file, e.file());
        assertEquals("center_input_sample", e.field());
    }
}
