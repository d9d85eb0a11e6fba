package dev.panamadiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.pipeline.Denoising;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.pipeline.PipelineInputs;
import dev.panamadiffusion.pipeline.StableDiffusionPipeline;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Single-file checkpoints against reference/single-file (tools/refgen/gen_single_file.py): the tiny SD 1.x, SD 2.x and
 * SDXL files present exactly the diffusers folders' tensors (their bytes pinned in folder_tensors.json), every tensor of
 * the file is used once or left out for a stated reason, the derived configs are diffusers', and every refusal is one
 * line naming the file. (The outputs against diffusers: {@code pdiff verify reference/single-file}, in the test module.)
 */
class LdmCheckpointTest {
    static Path sets() {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference/single-file");
        assertTrue(Files.isDirectory(p.resolve("sd1")), "reference/single-file missing at " + p.toAbsolutePath());
        return p;
    }

    static Path file(String set) { return sets().resolve(set).resolve("tiny-" + set + ".safetensors"); }

    @ParameterizedTest
    @ValueSource(strings = {"sd1", "sd2-v", "sdxl"})
    void presentsTheFolderTensorsByteForByteWithoutCopying(String set) throws Exception {
        ModelFolder model = ModelFolder.open(file(set));
        JsonNode manifest = ConfigJson.tree(sets().resolve(set).resolve("folder_tensors.json"));
        List<String> components = set.equals("sdxl") ? List.of("text_encoder", "text_encoder_2", "unet", "vae")
                : List.of("text_encoder", "unet", "vae");
        Set<String> manifestComponents = new TreeSet<>();
        manifest.fieldNames().forEachRemaining(manifestComponents::add);
        assertEquals(new TreeSet<>(components), manifestComponents);
        int transposed = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (String component : components) {
                Map<String, Tensor> got = model.weights(component, arena);
                JsonNode want = manifest.get(component).get("tensors");
                Set<String> wantKeys = new TreeSet<>();
                want.fieldNames().forEachRemaining(wantKeys::add);
                // OpenCLIP files carry no position_ids buffer (the model recomputes it)
                if (set.startsWith("sd2") || component.equals("text_encoder_2")) wantKeys.remove("text_model.embeddings.position_ids");
                assertEquals(wantKeys, new TreeSet<>(got.keySet()), component + " keys");
                for (String k : wantKeys) {
                    Tensor t = got.get(k);
                    JsonNode w = want.get(k);
                    assertEquals(w.get("dtype").asText(), t.dtype().safetensorsName(), k);
                    assertEquals(ConfigJson.MAPPER.convertValue(w.get("shape"), long[].class).length, t.rank(), k);
                    assertEquals(w.get("shape").toString(), ConfigJson.MAPPER.writeValueAsString(t.shape()), k);
                    // SDXL's text_projection is OpenCLIP's [hidden, projection] seen transposed: a strided view
                    if (!t.isContiguous()) transposed++;
                    byte[] bytes = t.contiguous().segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                    assertEquals(w.get("sha256").asText(), sha256(bytes), k);
                    assertTrue(t.storage().isMapped(), k + " is a view of the mapped file, not a copy");
                }
            }
        }
        assertEquals(set.equals("sdxl") ? 1 : 0, transposed, "views that are not contiguous");
    }

    @ParameterizedTest
    @ValueSource(strings = {"sd1", "sd2-v", "sdxl"})
    void everyTensorOfTheFileIsUsedExactlyOnceOrLeftOutForAReason(String set) {
        LdmCheckpoint c = ModelFolder.open(file(set)).checkpoint();
        Map<String, Tensor> all = SafeTensors.readAll(file(set));
        Map<String, List<LdmKeyMap.Entry>> byLdm = new HashMap<>();
        Set<String> diffusers = new TreeSet<>();
        for (LdmKeyMap.Entry e : c.keyMap().entries()) {
            byLdm.computeIfAbsent(e.ldmKey(), k -> new ArrayList<>()).add(e);
            assertTrue(diffusers.add(e.component() + "/" + e.diffusersKey()), "diffusers key mapped twice: " + e);
        }
        for (String key : all.keySet()) {
            List<LdmKeyMap.Entry> uses = byLdm.getOrDefault(key, List.of());
            boolean ignored = c.ignored().containsKey(key);
            assertTrue(uses.isEmpty() != !ignored, key + ": used " + uses.size() + " times, ignored " + ignored);
            if (ignored) continue;
            if (key.endsWith("attn.in_proj_weight") || key.endsWith("attn.in_proj_bias")) {
                // q, k and v: three row ranges that tile the fused tensor
                assertEquals(3, uses.size(), key);
                long rows = all.get(key).dim(0), next = 0;
                for (LdmKeyMap.Entry e : uses) {
                    assertEquals(LdmKeyMap.View.ROWS, e.view(), key);
                    assertEquals(next, e.rowStart(), key);
                    next = e.rowEnd();
                }
                assertEquals(rows, next, key);
            } else {
                assertEquals(1, uses.size(), key + " " + uses);
            }
        }
        for (String key : byLdm.keySet()) assertTrue(all.containsKey(key) || byLdm.get(key).getFirst().optional(), key);
        Set<String> expectIgnored = set.equals("sd1")
                ? Set.of("alphas_cumprod", "betas", "model_ema.decay", "model_ema.num_updates")
                : set.equals("sdxl") ? Set.of("conditioner.embedders.1.model.logit_scale")
                : new TreeSet<>(all.keySet().stream().filter(k -> k.startsWith("cond_stage_model.model.transformer.resblocks.2.")
                        || k.equals("cond_stage_model.model.text_projection") || k.equals("cond_stage_model.model.logit_scale")).toList());
        assertEquals(new TreeSet<>(expectIgnored), new TreeSet<>(c.ignored().keySet()));
    }

    @Test
    void derivesDiffusersConfigsFromShapesAndTheLdmYaml() {
        ModelFolder sd1 = ModelFolder.open(file("sd1"));
        assertEquals("SD 1.x", sd1.checkpoint().family());
        JsonNode u = sd1.config("unet");
        assertEquals("[32,32]", u.get("block_out_channels").toString());
        assertEquals("[\"CrossAttnDownBlock2D\",\"DownBlock2D\"]", u.get("down_block_types").toString());
        assertEquals("[\"UpBlock2D\",\"CrossAttnUpBlock2D\"]", u.get("up_block_types").toString());
        assertEquals(8, u.get("attention_head_dim").asInt());
        assertFalse(u.get("use_linear_projection").asBoolean());
        assertEquals(64, u.get("cross_attention_dim").asInt());
        assertEquals(1, u.get("layers_per_block").asInt());
        JsonNode t = sd1.config("text_encoder");
        assertEquals("quick_gelu", t.get("hidden_act").asText());
        assertEquals(2, t.get("num_hidden_layers").asInt());
        assertEquals(1000, t.get("vocab_size").asInt());
        assertEquals(1, t.get("num_attention_heads").asInt());
        assertEquals("epsilon", sd1.config("scheduler").get("prediction_type").asText());
        assertEquals("PNDMScheduler", sd1.config("scheduler").get("_class_name").asText());
        assertEquals(null, sd1.padToken());
        assertEquals("tiny-sd1", sd1.name());

        ModelFolder sd2 = ModelFolder.open(file("sd2-v"));
        assertEquals("SD 2.x", sd2.checkpoint().family());
        JsonNode u2 = sd2.config("unet");
        assertEquals("[4,4]", u2.get("attention_head_dim").toString(), "32 channels / num_head_channels 8 of the .yaml");
        assertTrue(u2.get("use_linear_projection").asBoolean());
        assertEquals(96, u2.get("sample_size").asInt());
        assertEquals("[\"CrossAttnUpBlock2D\",\"CrossAttnUpBlock2D\"]", u2.get("up_block_types").toString());
        assertEquals("gelu", sd2.config("text_encoder").get("hidden_act").asText());
        assertEquals(2, sd2.config("text_encoder").get("num_hidden_layers").asInt(), "penultimate of 3 OpenCLIP blocks");
        assertEquals("v_prediction", sd2.config("scheduler").get("prediction_type").asText());
        assertEquals("!", sd2.padToken());
        // the caller's choice wins over the .yaml
        ModelFolder eps = ModelFolder.open(file("sd2-v"), PredictionType.EPSILON);
        assertEquals("epsilon", eps.config("scheduler").get("prediction_type").asText());
        assertEquals(64, eps.config("unet").get("sample_size").asInt());
    }

    @Test
    void sd2WithoutItsYamlUsesSd2HeadsAndPredictsV(@TempDir Path tmp) throws IOException {
        Path f = Files.copy(file("sd2-v"), tmp.resolve("model.safetensors"));
        // SD 2.x's 64 channels per head do not divide the tiny UNet's 32: the message says where heads come from
        CheckpointException e = assertThrows(CheckpointException.class, () -> ModelFolder.open(f));
        assertTrue(e.getMessage().contains("not a multiple of 64 channels per attention head"), e.getMessage());
        Files.writeString(tmp.resolve("model.yaml"), "model:\n  params:\n    unet_config:\n      params:\n        num_head_channels: 16\n");
        ModelFolder m = ModelFolder.open(f);
        assertEquals("[2,2]", m.config("unet").get("attention_head_dim").toString());
        assertEquals("epsilon", m.config("scheduler").get("prediction_type").asText(), "a .yaml without parameterization: eps");
        Files.delete(tmp.resolve("model.yaml"));
        Files.writeString(tmp.resolve("model.yaml"), "model:\n  params:\n    unet_config:\n      params:\n        num_heads: 4\n");
        assertEquals(4, ModelFolder.open(f).config("unet").get("attention_head_dim").asInt());
    }

    /** A file written by diffusers' own inverse script has only the OpenCLIP blocks SD 2.x uses, and no text_projection. */
    @Test
    void openClipWithoutItsUnusedLastBlock(@TempDir Path tmp) throws IOException {
        Map<String, Tensor> all = new LinkedHashMap<>(SafeTensors.readAll(file("sd2-v")));
        all.keySet().removeIf(k -> k.contains("resblocks.2.") || k.endsWith("text_projection") || k.endsWith("logit_scale"));
        Path f = tmp.resolve("tiny-sd2-v.safetensors");
        SafeTensors.write(f, all, Map.of());
        Files.copy(sets().resolve("sd2-v/tiny-sd2-v.yaml"), tmp.resolve("tiny-sd2-v.yaml"));
        LdmCheckpoint c = ModelFolder.open(f).checkpoint();
        assertEquals(2, c.config("text_encoder").get("num_hidden_layers").asInt());
        assertTrue(c.ignored().isEmpty(), c.ignored().toString());
    }

    @Test
    void loadsAsAPipelineAndGenerates() {
        try (CpuBackend cpu = new CpuBackend(2);
             StableDiffusionPipeline p = StableDiffusionPipeline.load(file("sd2-v"), cpu)) {
            assertEquals("PNDM", p.defaultSampler());
            assertEquals(96 * 2, p.defaultSize(), "768-v's sample size 96 times the tiny VAE's scale 2");
            assertEquals("tiny-sd2-v", p.modelName());
            // the tiny text encoder's 1000 ids do not cover the real CLIP tokenizer's: give embeddings
            Tensor cond = Tensor.zeros(1, 77, 64), uncond = Tensor.zeros(1, 77, 64);
            for (int i = 0; i < 77 * 64; i++) cond.setFloat(i, (float) Math.sin(i));
            GenerationRequest r = GenerationRequest.of("").withSteps(3).withSize(16, 16).withSeed(5);
            Denoising d = p.begin(r, new PipelineInputs(cond, uncond, null, null));
            while (!d.finished()) p.step(List.of(d));
            GenerationResult out = p.finish(d);
            assertEquals(16, out.images().getFirst().width());
        }
    }

    @Test
    void refusesPickleTruncatedUnknownAndHalfSdxlFilesInOneLine(@TempDir Path tmp) throws IOException {
        Path ckpt = Files.write(tmp.resolve("model.ckpt"), new byte[] {(byte) 0x80, 2, 'c', 'x'});
        assertRefused(ckpt, "is a pickle checkpoint");
        Path zip = Files.write(tmp.resolve("renamed.safetensors"), new byte[] {'P', 'K', 3, 4, 0, 0});
        assertRefused(zip, "is a pickle checkpoint");

        byte[] whole = Files.readAllBytes(file("sd1"));
        Path cut = Files.write(tmp.resolve("cut.safetensors"), java.util.Arrays.copyOf(whole, whole.length / 2));
        assertRefused(cut, "is not a complete safetensors file");

        Map<String, Tensor> partial = new LinkedHashMap<>(SafeTensors.readAll(file("sd1")));
        partial.keySet().removeIf(k -> k.startsWith("model.diffusion_model.output_blocks.3.1.") || k.equals("first_stage_model.decoder.conv_out.bias"));
        Path missing = tmp.resolve("partial.safetensors");
        SafeTensors.write(missing, partial, Map.of());
        String m = assertRefused(missing, "incomplete SD 1.x checkpoint");
        assertTrue(m.contains("model.diffusion_model.output_blocks.3.1.norm.weight"), m);

        Map<String, Tensor> extra = new LinkedHashMap<>(SafeTensors.readAll(file("sd1")));
        extra.put("model.diffusion_model.label_emb.0.0.weight", Tensor.zeros(4, 4));
        Path unknownKey = tmp.resolve("extra.safetensors");
        SafeTensors.write(unknownKey, extra, Map.of());
        assertTrue(assertRefused(unknownKey, "an unknown key layout").contains("label_emb.0.0.weight"));

        Path other = tmp.resolve("lora.safetensors");
        SafeTensors.write(other, Map.of("lora_unet_down.alpha", Tensor.zeros(1)), Map.of());
        assertRefused(other, "not a Stable Diffusion checkpoint in the original (LDM) layout");

        Path sdxl = tmp.resolve("sdxl.safetensors");   // one of SDXL base's two text encoders (more: LdmCheckpointSdxlTest)
        SafeTensors.write(sdxl, Map.of("conditioner.embedders.1.model.ln_final.weight", Tensor.zeros(4),
                "model.diffusion_model.out.2.weight", Tensor.zeros(4)), Map.of());
        assertTrue(assertRefused(sdxl, "is an incomplete Stable Diffusion XL checkpoint").contains("conditioner.embedders.0.transformer.*"));

        // a tensor of the wrong shape binds to nothing: one line naming the file's own key
        Map<String, Tensor> bad = new LinkedHashMap<>(SafeTensors.readAll(file("sd1")));
        bad.put("model.diffusion_model.time_embed.2.bias", Tensor.zeros(7));
        Path badShape = tmp.resolve("bad.safetensors");
        SafeTensors.write(badShape, bad, Map.of());
        try (CpuBackend cpu = new CpuBackend(1); Arena arena = Arena.ofConfined()) {
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> dev.panamadiffusion.models.unet.UNet2DConditionModel.load(ModelFolder.open(badShape), "unet", cpu, arena));
            assertTrue(e.getMessage().contains("model.diffusion_model.time_embed.2.bias: file has [7]"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
    }

    static String assertRefused(Path f, String expected) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> ModelFolder.open(f));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void ldmYamlReadsNestedScalars() {
        LdmYaml y = LdmYaml.parse(Path.of("x.yaml"), List.of("model:", "  base_learning_rate: 1.0e-4",
                "  params:", "    parameterization: \"v\" # comment", "    unet_config:", "      params:",
                "        attention_resolutions: [ 4, 2, 1 ]", "        num_head_channels: 64", "    first_stage_config:",
                "      params:", "        embed_dim: 4", "        lossconfig:", "          target: torch.nn.Identity"));
        assertEquals("v", y.get("model.params.parameterization"));
        assertEquals(64, y.integer("model.params.unet_config.params.num_head_channels"));
        assertEquals("4", y.get("model.params.first_stage_config.params.embed_dim"));
        assertEquals("torch.nn.Identity", y.get("model.params.first_stage_config.params.lossconfig.target"));
        assertEquals(null, y.get("model.params.num_head_channels"));
    }

    private static String sha256(byte[] b) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }
}
