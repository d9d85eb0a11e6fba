package dev.panamadiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.clip.CLIPTextModelWithProjection;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.pipeline.RequestLimits;
import dev.panamadiffusion.pipeline.StableDiffusionPipeline;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

import static dev.panamadiffusion.io.LdmCheckpointTest.assertRefused;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An SDXL base checkpoint in the original (generative-models) layout, on reference/single-file/sdxl: the configs derived
 * from its shapes and the LDM .yaml beside it, the StableDiffusionXLPipeline folder it stands for, and the one-line
 * refusals of SDXL files that are not whole (a missing embedder, a truncated file, tensors of the wrong shape). That
 * the converted tensors are the diffusers folders' is {@link LdmCheckpointTest}'s, and their outputs
 * {@code pdiff verify reference/single-file}'s.
 */
class LdmCheckpointSdxlTest {
    static final Path FILE = LdmCheckpointTest.file("sdxl");
    static final Path YAML = FILE.resolveSibling("tiny-sdxl.yaml");

    @Test
    void derivesDiffusersSdxlConfigsFromShapesAndTheLdmYaml() {
        ModelFolder m = ModelFolder.open(FILE);
        LdmCheckpoint c = m.checkpoint();
        assertEquals("SDXL", c.family());
        assertTrue(c.isSdxl());
        assertFalse(c.isSd2());
        JsonNode u = m.config("unet");
        assertEquals("[32,32]", u.get("block_out_channels").toString());
        assertEquals("[\"DownBlock2D\",\"CrossAttnDownBlock2D\"]", u.get("down_block_types").toString());
        assertEquals("[\"CrossAttnUpBlock2D\",\"UpBlock2D\"]", u.get("up_block_types").toString());
        assertEquals("[1,2]", u.get("transformer_layers_per_block").toString(), "level 1 and the mid block hold 2");
        assertEquals("[2,2]", u.get("attention_head_dim").toString(), "32 channels / num_head_channels 16 of the .yaml");
        assertEquals(128, u.get("cross_attention_dim").asInt(), "CLIP ViT-L's 64 + OpenCLIP's 64");
        assertTrue(u.get("use_linear_projection").asBoolean());
        assertEquals("text_time", u.get("addition_embed_type").asText());
        assertEquals(80, u.get("projection_class_embeddings_input_dim").asInt());
        assertEquals(8, u.get("addition_time_embed_dim").asInt(), "(80 - projection 32) / 6 time ids");
        assertEquals(128, u.get("sample_size").asInt(), "SDXL's 1024 pixels / 8");
        JsonNode v = m.config("vae");
        assertEquals(0.13025, v.get("scaling_factor").asDouble());
        assertTrue(v.get("force_upcast").asBoolean());
        JsonNode t1 = m.config("text_encoder"), t2 = m.config("text_encoder_2");
        assertEquals("quick_gelu", t1.get("hidden_act").asText());
        assertEquals(2, t1.get("num_hidden_layers").asInt());
        assertEquals("CLIPTextModelWithProjection", t2.get("architectures").get(0).asText());
        assertEquals("gelu", t2.get("hidden_act").asText());
        assertEquals(2, t2.get("num_hidden_layers").asInt(), "SDXL keeps every OpenCLIP block (it picks the penultimate itself)");
        assertEquals(32, t2.get("projection_dim").asInt());
        assertEquals(1000, t2.get("vocab_size").asInt());
        JsonNode s = m.config("scheduler");
        assertEquals("EulerDiscreteScheduler", s.get("_class_name").asText());
        assertEquals("epsilon", s.get("prediction_type").asText());
        assertEquals("leading", s.get("timestep_spacing").asText());
        assertEquals("StableDiffusionXLPipeline", m.index().className());
        assertTrue(m.index().flag("force_zeros_for_empty_prompt", false));
        assertTrue(m.has("text_encoder_2") && m.has("tokenizer_2"));
        assertNull(m.padToken());
        assertEquals("!", m.padToken("tokenizer_2"), "OpenCLIP bigG's tokenizer pads with '!'");
        RequestLimits.Model limits = StableDiffusionPipeline.modelLimits(m);
        assertEquals(256, limits.defaultWidth(), "sample size 128 times the tiny VAE's scale 2");
    }

    @Test
    void withoutItsYamlSdxlHasOneHeadPer64ChannelsAndTheYamlDecides(@TempDir Path tmp) throws IOException {
        Path f = Files.copy(FILE, tmp.resolve("model.safetensors"));
        CheckpointException e = assertThrows(CheckpointException.class, () -> ModelFolder.open(f));
        assertTrue(e.getMessage().contains("not a multiple of 64 channels per attention head (SDXL's"), e.getMessage());
        Path yaml = tmp.resolve("model.yaml");
        Files.writeString(yaml, Files.readString(YAML).replace("num_head_channels: 16", "num_head_channels: 8")
                .replace("scale_factor: 0.13025", "scale_factor: 0.5"));
        ModelFolder m = ModelFolder.open(f);
        assertEquals("[4,4]", m.config("unet").get("attention_head_dim").toString());
        assertEquals(0.5, m.config("vae").get("scaling_factor").asDouble());
        assertEquals("epsilon", m.config("scheduler").get("prediction_type").asText());
        // a v-prediction SDXL fine-tune says so through its denoiser's scaling
        Files.writeString(yaml, Files.readString(YAML) + "    denoiser_config:\n      params:\n        scaling_config:\n"
                + "          target: sgm.modules.diffusionmodules.denoiser_scaling.VScaling\n");
        assertEquals("v_prediction", ModelFolder.open(f).config("scheduler").get("prediction_type").asText());
        assertEquals("epsilon", ModelFolder.open(f, PredictionType.EPSILON).config("scheduler").get("prediction_type").asText());
    }

    /** {@link #FILE} with {@code edit} applied, written with its .yaml into {@code tmp} as {@code name}. */
    private static Path edited(Path tmp, String name, Consumer<Map<String, Tensor>> edit) throws IOException {
        Map<String, Tensor> all = new LinkedHashMap<>(SafeTensors.readAll(FILE));
        edit.accept(all);
        Path f = tmp.resolve(name + ".safetensors");
        SafeTensors.write(f, all, Map.of());
        Files.copy(YAML, tmp.resolve(name + ".yaml"));
        return f;
    }

    @Test
    void refusesSdxlFilesThatAreNotWholeInOneLine(@TempDir Path tmp) throws IOException {
        String open = LdmLayout.SDXL_OPEN_CLIP, clip = LdmLayout.SDXL_CLIP;
        String m = assertRefused(edited(tmp, "no-bigg", a -> a.keySet().removeIf(k -> k.startsWith(open))),
                "is an incomplete Stable Diffusion XL checkpoint");
        assertTrue(m.contains(open + "* (OpenCLIP ViT-bigG)"), m);
        m = assertRefused(edited(tmp, "no-clip-l", a -> a.keySet().removeIf(k -> k.startsWith(clip))),
                "is an incomplete Stable Diffusion XL checkpoint");
        assertTrue(m.contains(clip + "* (CLIP ViT-L)"), m);
        assertRefused(edited(tmp, "refiner", a -> {
            a.keySet().removeIf(k -> k.startsWith(clip));
            for (String k : a.keySet().stream().filter(k -> k.startsWith(open)).toList()) {
                a.put(LdmLayout.SDXL + "0.model." + k.substring(open.length()), a.remove(k));
            }
        }), "takes 80 inputs, which is not 5 time ids of an even width plus the 32 of text_encoder_2's projection");

        byte[] whole = Files.readAllBytes(FILE);
        Path cut = Files.write(tmp.resolve("cut.safetensors"), Arrays.copyOf(whole, whole.length - 4096));
        assertRefused(cut, "is not a complete safetensors file");

        m = assertRefused(edited(tmp, "partial", a -> a.keySet().removeIf(k -> k.startsWith(LdmLayout.UNET + "label_emb.0.2.")
                || k.startsWith(open + "transformer.resblocks.1.attn."))), "is an incomplete SDXL checkpoint");
        assertTrue(m.contains(LdmLayout.UNET + "label_emb.0.2.weight") && m.contains(open + "transformer.resblocks.1.attn.in_proj_weight"), m);

        // transformers' text_projection.weight written as is, not as OpenCLIP's transpose
        m = assertRefused(edited(tmp, "projection", a -> a.put(open + "text_projection", Tensor.zeros(32, 64))),
                "text_projection has shape [32, 64] but the OpenCLIP tower is 64 wide");
        m = assertRefused(edited(tmp, "add-embedding", a -> a.put(LdmLayout.UNET + "label_emb.0.0.weight", Tensor.zeros(128, 81))),
                "takes 81 inputs, which is not 6 time ids");
    }

    @Test
    void tensorsOfTheWrongShapeNameTheFilesKey(@TempDir Path tmp) throws IOException {
        Path unet = edited(tmp, "unet", a -> a.put(LdmLayout.UNET + "label_emb.0.2.bias", Tensor.zeros(7)));
        Path text2 = edited(tmp, "text2", a -> a.put(LdmLayout.SDXL_OPEN_CLIP + "ln_final.bias", Tensor.zeros(7)));
        try (CpuBackend cpu = new CpuBackend(1); Arena arena = Arena.ofConfined()) {
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> UNet2DConditionModel.load(ModelFolder.open(unet), "unet", cpu, arena));
            assertTrue(e.getMessage().contains(LdmLayout.UNET + "label_emb.0.2.bias: file has [7]"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            e = assertThrows(CheckpointException.class,
                    () -> CLIPTextModelWithProjection.load(ModelFolder.open(text2), "text_encoder_2", cpu, arena));
            assertTrue(e.getMessage().contains(LdmLayout.SDXL_OPEN_CLIP + "ln_final.bias: file has [7]"), e.getMessage());
            assertTrue(e.getMessage().contains("SDXL checkpoint"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }
}
