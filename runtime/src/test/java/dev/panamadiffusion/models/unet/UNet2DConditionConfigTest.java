package dev.panamadiffusion.models.unet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.models.Reference;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class UNet2DConditionConfigTest {
    /** stable-diffusion-v1-5/unet/config.json (written by diffusers 0.6: no keys added since then). */
    static final String SD15 = """
            {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.6.0", "act_fn": "silu",
             "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false,
             "cross_attention_dim": 768,
             "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
             "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
             "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": 4, "sample_size": 64,
             "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]}
            """;

    /** stabilityai/stable-diffusion-2-1/unet/config.json. */
    static final String SD21 = """
            {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.10.0.dev0", "act_fn": "silu",
             "attention_head_dim": [5, 10, 20, 20], "block_out_channels": [320, 640, 1280, 1280],
             "center_input_sample": false, "cross_attention_dim": 1024,
             "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
             "downsample_padding": 1, "dual_cross_attention": false, "flip_sin_to_cos": true, "freq_shift": 0,
             "in_channels": 4, "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05,
             "norm_num_groups": 32, "num_class_embeds": null, "only_cross_attention": false, "out_channels": 4,
             "sample_size": 96,
             "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
             "upcast_attention": true, "use_linear_projection": true}
            """;

    static JsonNode json(String s) {
        try {
            return ConfigJson.MAPPER.readTree(s);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void sd15AttentionHeadDimIsTheNumberOfHeads() {
        UNet2DConditionConfig c = UNet2DConditionConfig.fromJson(json(SD15));
        assertArrayEquals(new int[] {320, 640, 1280, 1280}, c.blockOutChannels());
        assertArrayEquals(new int[] {2, 2, 2, 2}, c.layersPerBlock());
        assertArrayEquals(new int[] {768, 768, 768, 768}, c.crossAttentionDim());
        for (int i = 0; i < 4; i++) assertEquals(8, c.heads(i)); // 8 heads of 40, 80, 160, 160
        assertEquals(1280, c.timeEmbedDim());
        assertEquals(8, c.downscaleFactor());
        assertEquals(64, c.sampleSize());
        assertFalse(c.useLinearProjection());
        assertEquals(1e-5, c.normEps());
        assertTrue(c.flipSinToCos());
        assertEquals(0, c.freqShift());
        assertArrayEquals(c.blockOutChannels(), UNet2DConditionConfig.sd15().blockOutChannels());
        assertArrayEquals(c.attentionHeadDim(), UNet2DConditionConfig.sd15().attentionHeadDim());
        assertArrayEquals(c.crossAttentionDim(), UNet2DConditionConfig.sd15().crossAttentionDim());
        assertArrayEquals(c.upBlockTypes(), UNet2DConditionConfig.sd15().upBlockTypes());
    }

    @Test
    void sd21HasHeadsOfSize64AndLinearProjections() {
        UNet2DConditionConfig c = UNet2DConditionConfig.fromJson(json(SD21));
        int[] heads = new int[4];
        for (int i = 0; i < 4; i++) {
            heads[i] = c.heads(i);
            assertEquals(64, c.blockOutChannels()[i] / c.heads(i));
        }
        assertArrayEquals(new int[] {5, 10, 20, 20}, heads);
        assertTrue(c.useLinearProjection());
        assertTrue(c.upcastAttention());
        assertEquals(1024, c.crossAttentionDim()[0]);
        assertEquals(96, c.sampleSize());
        UNet2DConditionConfig preset = UNet2DConditionConfig.sd21();
        assertArrayEquals(c.attentionHeadDim(), preset.attentionHeadDim());
        assertEquals(c.useLinearProjection(), preset.useLinearProjection());
        assertEquals(c.sampleSize(), preset.sampleSize());
    }

    @Test
    void readsTheTinyReferenceConfig() {
        Path file = Reference.tiny().resolve("unet/config.json");
        UNet2DConditionConfig c = UNet2DConditionConfig.read(file);
        assertArrayEquals(new int[] {32, 64}, c.blockOutChannels());
        assertArrayEquals(new int[] {1, 1}, c.layersPerBlock());
        assertArrayEquals(new int[] {8, 8}, c.attentionHeadDim());
        assertArrayEquals(new String[] {"UpBlock2D", "CrossAttnUpBlock2D"}, c.upBlockTypes());
        assertEquals(8, c.sampleSize());
    }

    @Test
    void unsupportedValuesFailNamingTheKey() {
        assertRejected("addition_embed_type", j -> j.put("addition_embed_type", "image"));
        assertRejected("addition_time_embed_dim", j -> j.put("addition_embed_type", "text_time"));
        assertRejected("projection_class_embeddings_input_dim", j -> j.put("addition_embed_type", "text_time")
                .put("addition_time_embed_dim", 256).put("projection_class_embeddings_input_dim", 5 * 256)); // no room for text
        assertRejected("class_embed_type", j -> j.put("class_embed_type", "timestep"));
        assertRejected("num_attention_heads", j -> j.put("num_attention_heads", 8));
        assertRejected("dual_cross_attention", j -> j.put("dual_cross_attention", true));
        assertRejected("only_cross_attention", j -> j.put("only_cross_attention", true));
        assertRejected("time_embedding_type", j -> j.put("time_embedding_type", "fourier"));
        assertRejected("act_fn", j -> j.put("act_fn", "gelu"));
        assertRejected("mid_block_type", j -> j.put("mid_block_type", "UNetMidBlock2DSimpleCrossAttn"));
        assertRejected("mid_block_type", j -> j.putNull("mid_block_type"));
        assertRejected("down_block_types", j -> j.putArray("down_block_types").add("SimpleCrossAttnDownBlock2D")
                .add("CrossAttnDownBlock2D").add("CrossAttnDownBlock2D").add("DownBlock2D"));
        assertRejected("up_block_types", j -> j.putArray("up_block_types").add("UpBlock2D"));
        assertRejected("attention_head_dim", j -> j.putArray("attention_head_dim").add(5).add(10));
        assertRejected("attention_head_dim", j -> j.put("attention_head_dim", 7)); // 320 channels do not split into 7
        assertRejected("transformer_layers_per_block", j -> j.putArray("transformer_layers_per_block").addArray().add(1));
        assertRejected("reverse_transformer_layers_per_block", j -> j.putArray("reverse_transformer_layers_per_block"));
        assertRejected("encoder_hid_dim", j -> j.put("encoder_hid_dim", 1024));
        assertRejected("resnet_time_scale_shift", j -> j.put("resnet_time_scale_shift", "scale_shift"));
        assertRejected("time_cond_proj_dim", j -> j.put("time_cond_proj_dim", 0));
        assertRejected("time_cond_proj_dim", j -> j.put("time_cond_proj_dim", "256"));
        assertRejected("cross_attention_dim", j -> j.putArray("cross_attention_dim").add(768).add(768).add(1024).add(768));
        assertRejected("norm_num_groups", j -> j.putNull("norm_num_groups"));
        assertRejected("layers_per_block", j -> j.put("layers_per_block", "two"));
        assertRejected("use_linear_projection", j -> j.put("use_linear_projection", "yes"));
    }

    @Test
    void perBlockListsAreAcceptedWhereDiffusersAcceptsThem() {
        ObjectNode j = (ObjectNode) json(SD15);
        j.putArray("layers_per_block").add(1).add(2).add(2).add(3);
        j.putArray("transformer_layers_per_block").add(1).add(1).add(2).add(2);
        j.putArray("cross_attention_dim").add(768).add(768).add(768).add(768);
        j.putArray("only_cross_attention").add(false).add(false).add(false).add(false);
        j.put("time_embedding_dim", 512);
        UNet2DConditionConfig c = UNet2DConditionConfig.fromJson(j);
        assertArrayEquals(new int[] {1, 2, 2, 3}, c.layersPerBlock());
        assertArrayEquals(new int[] {1, 1, 2, 2}, c.transformerLayersPerBlock());
        assertEquals(512, c.timeEmbedDim());
    }

    private interface Edit { void apply(ObjectNode j); }

    @Test
    void sdxlTextTimeIsReadWithItsPooledWidth() {
        ObjectNode j = (ObjectNode) json(SD15);
        j.put("addition_embed_type", "text_time").put("addition_time_embed_dim", 256)
                .put("projection_class_embeddings_input_dim", 2816);          // SDXL base: 6 × 256 + 1280
        UNet2DConditionConfig c = UNet2DConditionConfig.fromJson(j);
        assertTrue(c.hasTextTime());
        assertEquals(1280, c.textEmbedsDim());
        assertFalse(UNet2DConditionConfig.fromJson(json(SD15)).hasTextTime());
        assertThrows(IllegalStateException.class, () -> UNet2DConditionConfig.fromJson(json(SD15)).textEmbedsDim());
    }

    private static void assertRejected(String key, Edit edit) {
        ObjectNode j = (ObjectNode) json(SD15);
        edit.apply(j);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UNet2DConditionConfig.fromJson(j), key);
        assertTrue(e.getMessage().contains(key), "message for " + key + ": " + e.getMessage());
    }
}
