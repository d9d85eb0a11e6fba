package dev.panamadiffusion.models.unet;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link UNet2DConditionConfig#checkWeights} on the tiny reference UNet (blocks CrossAttnDown + Down, Up + CrossAttnUp,
 * one layer each): every config value, and every group of tensors, that disagrees with the other is refused naming the
 * config key; and the validation at the edges of its ranges.
 */
class UNet2DConditionConfigCheckTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    Path tmp;

    private Path writeConfig(Consumer<ObjectNode> edit) throws Exception {
        ObjectNode j = (ObjectNode) JSON.readTree(Reference.tiny().resolve("unet/config.json").toFile());
        edit.accept(j);
        Path p = tmp.resolve("config-" + System.nanoTime() + ".json");
        JSON.writeValue(p.toFile(), j);
        return p;
    }

    private static Map<String, Tensor> weights() {
        return SafeTensors.readAll(Reference.tiny().resolve("unet/diffusion_pytorch_model.safetensors"));
    }

    private ConfigException configMismatch(String field, Consumer<ObjectNode> edit) throws Exception {
        Path file = writeConfig(edit);
        UNet2DConditionConfig c = UNet2DConditionConfig.read(file);
        ConfigException e = assertThrows(ConfigException.class, () -> c.checkWeights(file, weights()), field);
        assertEquals(field, e.field(), e.getMessage());
        assertEquals(file, e.file());
        return e;
    }

    private ConfigException weightsMismatch(String field, Predicate<String> drop) throws Exception {
        Path file = writeConfig(j -> {});
        Map<String, Tensor> w = new HashMap<>(weights());
        assertTrue(w.keySet().removeIf(drop), "the edit removes tensors");
        ConfigException e = assertThrows(ConfigException.class, () -> UNet2DConditionConfig.read(file).checkWeights(file, w), field);
        assertEquals(field, e.field(), e.getMessage());
        return e;
    }

    @Test
    void theTinyConfigAgreesWithItsWeights() throws Exception {
        Path file = writeConfig(j -> {});
        UNet2DConditionConfig.read(file).checkWeights(file, weights());
    }

    @Test
    void configValuesThatDisagreeWithTheWeights() throws Exception {
        configMismatch("in_channels", j -> j.put("in_channels", 8));
        configMismatch("out_channels", j -> j.put("out_channels", 8));
        configMismatch("conv_in_kernel", j -> j.put("conv_in_kernel", 5));
        configMismatch("conv_out_kernel", j -> j.put("conv_out_kernel", 5));
        configMismatch("time_embedding_dim", j -> j.put("time_embedding_dim", 64));
        configMismatch("block_out_channels", j -> j.putArray("block_out_channels").add(64).add(64));
        configMismatch("block_out_channels", j -> j.putArray("block_out_channels").add(32).add(32));
        configMismatch("cross_attention_dim", j -> j.put("cross_attention_dim", 64));
        ConfigException e = configMismatch("layers_per_block", j -> j.put("layers_per_block", 2));
        assertTrue(e.getMessage().contains("down_blocks.0.resnets."), e.getMessage());
        e = configMismatch("transformer_layers_per_block", j -> j.put("transformer_layers_per_block", 2));
        assertTrue(e.getMessage().contains("down_blocks.0.attentions.0.transformer_blocks."), e.getMessage());
    }

    @Test
    void weightsThatDisagreeWithTheConfig() throws Exception {
        ConfigException e = weightsMismatch("down_block_types", k -> k.startsWith("down_blocks.1."));
        assertTrue(e.getMessage().contains("('down_blocks.0' to 'down_blocks.0')"), e.getMessage());
        e = weightsMismatch("up_block_types", k -> k.startsWith("up_blocks.1."));
        assertTrue(e.getMessage().contains("('up_blocks.0' to 'up_blocks.0')"), e.getMessage());
        e = weightsMismatch("layers_per_block", k -> k.startsWith("down_blocks.0.attentions.0."));
        assertTrue(e.getMessage().contains("down_blocks.0.attentions."), e.getMessage());
        e = weightsMismatch("layers_per_block", k -> k.startsWith("up_blocks.0.resnets.1."));
        assertTrue(e.getMessage().contains("up_blocks.0.resnets."), e.getMessage());
        e = weightsMismatch("transformer_layers_per_block", k -> k.startsWith("up_blocks.1.attentions.0.transformer_blocks."));
        assertTrue(e.getMessage().contains("up_blocks.1.attentions.0.transformer_blocks."), e.getMessage());
        e = weightsMismatch("transformer_layers_per_block", k -> k.startsWith("mid_block.attentions.0.transformer_blocks."));
        assertTrue(e.getMessage().contains("mid_block.attentions.0.transformer_blocks."), e.getMessage());
    }

    @Test
    void validationEdges() throws Exception {
        // the reader's checks come first for most keys; these reach validate()
        assertRejected("downsample_padding", j -> j.put("downsample_padding", 2));
        UNet2DConditionConfig.read(writeConfig(j -> j.put("downsample_padding", 0)));
        assertRejected("conv_in_kernel/conv_out_kernel", j -> j.put("conv_in_kernel", 4));
        assertRejected("conv_in_kernel/conv_out_kernel", j -> j.put("conv_out_kernel", 2));
        UNet2DConditionConfig.read(writeConfig(j -> j.put("act_fn", "swish")));
        assertRejected("act_fn", j -> j.put("act_fn", "mish"));
        assertRejected("center_input_sample", j -> j.put("center_input_sample", true));
        assertRejected("class_embeddings_concat", j -> j.put("class_embeddings_concat", true));
        assertRejected("resnet_skip_time_act", j -> j.put("resnet_skip_time_act", true));
        assertRejected("time_embedding_act_fn", j -> j.put("time_embedding_act_fn", "silu"));
        assertRejected("timestep_post_act", j -> j.put("timestep_post_act", "silu"));
        assertRejected("attention_type", j -> j.put("attention_type", "gated"));
        assertRejected("class_embed_type/num_class_embeds", j -> j.put("num_class_embeds", 10));
        assertRejected("encoder_hid_dim/encoder_hid_dim_type", j -> j.put("encoder_hid_dim_type", "text_proj"));
        assertRejected("block_out_channels", j -> j.putArray("block_out_channels").add(32).add(48));
        assertRejected("up_block_types", j -> j.putArray("up_block_types").add("UpBlock2D").add("UpBlock2D").add("UpBlock2D"));
        assertRejected("block_out_channels", j -> j.putArray("block_out_channels").add(32).add(64).add(64));
    }

    private void assertRejected(String key, Consumer<ObjectNode> edit) throws Exception {
        Path file = writeConfig(edit);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UNet2DConditionConfig.read(file), key);
        assertTrue(e.getMessage().contains(key), "message for " + key + ": " + e.getMessage());
    }

    @Test
    void aTimestepConditionOrAddedConditioningTheWeightsLackIsRefused() throws Exception {
        // the tiny UNet has neither time_embedding.cond_proj nor add_embedding
        configMismatch("time_cond_proj_dim", j -> j.put("time_cond_proj_dim", 8));
        configMismatch("projection_class_embeddings_input_dim", j -> j.put("addition_embed_type", "text_time")
                .put("addition_time_embed_dim", 8).put("projection_class_embeddings_input_dim", 80));
    }

    @Test
    void anAddEmbeddingOfAnotherWidthThanTheTimeEmbeddingIsRefused() {
        // SDXL's add_embedding maps the added conditioning to time_embed_dim, the width it is added at; the tiny SDXL
        // UNet (reference/sdxl) with an add_embedding 8 wider than its time embedding
        Path dir = Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl/unet");
        Path file = dir.resolve("config.json");
        Map<String, Tensor> w = new HashMap<>(SafeTensors.readAll(dir.resolve("diffusion_pytorch_model.safetensors")));
        UNet2DConditionConfig c = UNet2DConditionConfig.read(file);
        c.checkWeights(file, w);
        Tensor linear1 = w.get("add_embedding.linear_1.weight");
        assertEquals(c.timeEmbedDim(), linear1.dim(0));
        w.put("add_embedding.linear_1.weight", Tensor.zeros(linear1.dim(0) + 8, linear1.dim(1)));
        ConfigException e = assertThrows(ConfigException.class, () -> c.checkWeights(file, w));
        assertEquals("time_embedding_dim", e.field(), e.getMessage());
        assertTrue(e.getMessage().contains("add_embedding.linear_1.weight"), e.getMessage());
    }
}
