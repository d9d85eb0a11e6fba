package dev.panamadiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import static dev.panamadiffusion.io.LdmCheckpointTest.assertRefused;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The diffusers configs a single file's tensors give (diffusers 0.27.2's {@code convert_from_ckpt.py}), where the
 * reference files alone cannot tell: the family defaults without an LDM .yaml (a UNet widened to 64 channels a level,
 * so that SD 2.x's and SDXL's 64 channels per head divide it), the ranges a .yaml or the shapes must be in, and the
 * weights a checkpoint hands out (optional tensors, one mapping per arena, names in binding failures).
 */
class LdmCheckpointDerivedConfigTest {
    private static final String UNET = LdmLayout.UNET;

    @TempDir
    Path tmp;

    /** {@code set}'s file with {@code edit} applied (shapes only: opening reads no values), written as {@code name}, with the set's .yaml when {@code yaml}. */
    private Path edited(String set, String name, boolean yaml, Consumer<Map<String, Tensor>> edit) throws IOException {
        Map<String, Tensor> all = new LinkedHashMap<>(SafeTensors.readAll(LdmCheckpointTest.file(set)));
        edit.accept(all);
        Path f = tmp.resolve(name + ".safetensors");
        SafeTensors.write(f, all, Map.of());
        if (yaml) Files.copy(LdmCheckpointTest.file(set).resolveSibling("tiny-" + set + ".yaml"), tmp.resolve(name + ".yaml"));
        return f;
    }

    /** Both UNet levels 64 wide (a level's width is its first resnet's output), from 32: with the shortcut that takes. */
    private static void widened(Map<String, Tensor> all) {
        for (String block : List.of("input_blocks.1.0.", "input_blocks.3.0.")) {
            all.put(UNET + block + "out_layers.3.weight", Tensor.zeros(64, 32, 3, 3));
            all.put(UNET + block + "skip_connection.weight", Tensor.zeros(64, 32, 1, 1));
            all.put(UNET + block + "skip_connection.bias", Tensor.zeros(64));
        }
    }

    private static void inpainting(Map<String, Tensor> all) {
        Tensor convIn = all.get(UNET + "input_blocks.0.0.weight");
        all.put(UNET + "input_blocks.0.0.weight", Tensor.zeros(convIn.dim(0), 9, convIn.dim(2), convIn.dim(3)));
    }

    // ---- without a .yaml: the family's defaults

    @Test
    void sd2WithoutAYamlPredictsVUnlessItInpaints() throws IOException {
        LdmCheckpoint v = LdmCheckpoint.open(edited("sd2-v", "sd2", false, LdmCheckpointDerivedConfigTest::widened), null);
        assertEquals(PredictionType.V_PREDICTION, v.prediction(), "SD 2.x's 768-v");
        assertEquals("[1,1]", v.config("unet").get("attention_head_dim").toString(), "64 channels per head");
        assertEquals(96, v.config("unet").get("sample_size").asInt());
        assertTrue(v.config("unet").get("upcast_attention").asBoolean(), "as SD 2.1 768-v's config");
        LdmCheckpoint inpaint = LdmCheckpoint.open(edited("sd2-v", "sd2-inpaint", false,
                all -> { widened(all); inpainting(all); }), null);
        assertTrue(inpaint.isInpainting());
        assertEquals(PredictionType.EPSILON, inpaint.prediction(), "SD 2.x inpainting predicts eps");
        assertEquals(64, inpaint.config("unet").get("sample_size").asInt());
        assertFalse(inpaint.config("unet").get("upcast_attention").asBoolean());
    }

    @Test
    void sdxlWithoutAYamlScalesLatentsBySdxlsFactor() throws IOException {
        LdmCheckpoint c = LdmCheckpoint.open(edited("sdxl", "sdxl", false, LdmCheckpointDerivedConfigTest::widened), null);
        assertEquals(0.13025, c.config("vae").get("scaling_factor").asDouble());
        assertEquals(0.18215, LdmCheckpoint.open(LdmCheckpointTest.file("sd1"), null).config("vae").get("scaling_factor").asDouble());
    }

    // ---- configs from the reference files

    @Test
    void derivedConfigsAsDiffusersWritesThem() {
        LdmCheckpoint sd1 = LdmCheckpoint.open(LdmCheckpointTest.file("sd1"), null);
        LdmCheckpoint sd2 = LdmCheckpoint.open(LdmCheckpointTest.file("sd2-v"), null);
        LdmCheckpoint sd2eps = LdmCheckpoint.open(LdmCheckpointTest.file("sd2-v"), PredictionType.EPSILON);
        LdmCheckpoint xl = LdmCheckpoint.open(LdmCheckpointTest.file("sdxl"), null);
        // one transformer depth for every level is written as a number, per-level depths as a list
        assertTrue(sd1.config("unet").get("transformer_layers_per_block").isInt());
        assertEquals(1, sd1.config("unet").get("transformer_layers_per_block").asInt());
        assertEquals("[1,2]", xl.config("unet").get("transformer_layers_per_block").toString());
        // attention in float32 for SD 2.x's v-prediction only
        assertTrue(sd2.config("unet").get("upcast_attention").asBoolean());
        assertFalse(sd2eps.config("unet").get("upcast_attention").asBoolean());
        assertFalse(sd1.config("unet").get("upcast_attention").asBoolean());
        // the VAE's sample size is the UNet's in pixels
        assertEquals(512, sd1.config("vae").get("sample_size").asInt());
        assertEquals(768, sd2.config("vae").get("sample_size").asInt());
        assertEquals(1024, xl.config("vae").get("sample_size").asInt());
        // projection_dim as diffusers' SD configs carry it (informational: SD conditions on the hidden states)
        assertEquals(768, sd1.config("text_encoder").get("projection_dim").asInt());
        assertEquals(512, sd2.config("text_encoder").get("projection_dim").asInt());
    }

    // ---- ranges

    @Test
    void theYamlsScaleFactorMustBeAPositiveNumber() throws IOException {
        Path f = Files.copy(LdmCheckpointTest.file("sd1"), tmp.resolve("m.safetensors"));
        Path yaml = tmp.resolve("m.yaml");
        Files.writeString(yaml, "model:\n  params:\n    scale_factor: 0.5\n");
        assertEquals(0.5, LdmCheckpoint.open(f, null).config("vae").get("scaling_factor").asDouble());
        for (String bad : List.of("0", "-0.18215", "Infinity", "NaN", "x")) {
            Files.writeString(yaml, "model:\n  params:\n    scale_factor: " + bad + "\n");
            CheckpointException e = assertThrows(CheckpointException.class, () -> LdmCheckpoint.open(f, null), bad);
            assertEquals(yaml + ": model.params.scale_factor: '" + bad + "' is not a positive number", e.getMessage());
        }
    }

    @Test
    void textEncoderWidthsAreWholeHeads() throws IOException {
        String embedding = LdmLayout.CLIP + "text_model.embeddings.token_embedding.weight";
        assertRefused(edited("sd1", "te", false, all -> all.put(embedding, Tensor.zeros(all.get(embedding).dim(0), 96))),
                "text encoder width 96 is not a multiple of CLIP's 64 channels per head");
        String p = LdmLayout.SDXL_OPEN_CLIP;
        assertRefused(edited("sdxl", "te2", true, all -> {
            all.put(p + "token_embedding.weight", Tensor.zeros(all.get(p + "token_embedding.weight").dim(0), 96));
            all.put(p + "text_projection", Tensor.zeros(96, 32));
        }), "text encoder 2 width 96 is not a multiple of CLIP's 64 channels per head");
    }

    @Test
    void sdxlsAddedEmbeddingIsSixTimeIdsOfAnEvenWidthAndThePooledText() throws IOException {
        String labelEmb = UNET + "label_emb.0.0.weight", projection = LdmLayout.SDXL_OPEN_CLIP + "text_projection";
        // a 33-wide projection and 6 × 8 time-id inputs: 81
        LdmCheckpoint c = LdmCheckpoint.open(edited("sdxl", "p33", true, all -> {
            all.put(projection, Tensor.zeros(64, 33));
            all.put(labelEmb, Tensor.zeros(all.get(labelEmb).dim(0), 81));
        }), null);
        assertEquals(8, c.config("unet").get("addition_time_embed_dim").asInt());
        assertEquals(81, c.config("unet").get("projection_class_embeddings_input_dim").asInt());
        assertEquals(33, c.config("text_encoder_2").get("projection_dim").asInt());
        // no room for time ids, or 6 of an odd width (7)
        for (int in : new int[] {32, 32 + 6 * 7}) {
            assertRefused(edited("sdxl", "in" + in, true, all -> all.put(labelEmb, Tensor.zeros(all.get(labelEmb).dim(0), in))),
                    "takes " + in + " inputs, which is not 6 time ids of an even width plus the 32 of text_encoder_2's projection");
        }
    }

    @Test
    void fiveMissingTensorsAreAllNamed() throws IOException {
        List<String> five = List.of("first_stage_model.decoder.conv_out.bias", "first_stage_model.decoder.conv_in.bias",
                "first_stage_model.decoder.norm_out.weight", "first_stage_model.decoder.norm_out.bias",
                "first_stage_model.encoder.norm_out.weight");
        String m = assertRefused(edited("sd1", "five", false, all -> all.keySet().removeAll(five)),
                "5 of the tensors it needs are missing: ");
        assertFalse(m.endsWith("…"), m);
        for (String k : five) assertTrue(m.contains(k), k + " in " + m);
    }

    // ---- weights

    @Test
    void optionalTensorsMayBeAbsent() throws IOException {
        String ids = LdmLayout.CLIP + "text_model.embeddings.position_ids";
        try (Arena arena = Arena.ofConfined()) {
            assertTrue(LdmCheckpoint.open(LdmCheckpointTest.file("sd1"), null).weights("text_encoder", arena)
                    .containsKey("text_model.embeddings.position_ids"));
            LdmCheckpoint without = LdmCheckpoint.open(edited("sd1", "no-ids", false, all -> assertNotNull(all.remove(ids))), null);
            Map<String, Tensor> w = without.weights("text_encoder", arena);
            assertFalse(w.containsKey("text_model.embeddings.position_ids"));
            assertTrue(w.containsKey("text_model.embeddings.token_embedding.weight"));
        }
    }

    @Test
    void anOptionalTensorGoneFromTheFileSinceItWasOpenedIsLeftOut() throws IOException {
        // weights() maps the file anew for an arena: a file rewritten without position_ids still gives its encoder
        Path f = Files.copy(LdmCheckpointTest.file("sd1"), tmp.resolve("m.safetensors"));
        LdmCheckpoint c = LdmCheckpoint.open(f, null);
        Path without = edited("sd1", "without-ids", false, all -> assertNotNull(all.remove(LdmLayout.CLIP + "text_model.embeddings.position_ids")));
        Files.move(without, f, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> w = c.weights("text_encoder", arena);
            assertFalse(w.containsKey("text_model.embeddings.position_ids"));
            assertTrue(w.containsKey("text_model.embeddings.token_embedding.weight"));
        }
    }

    @Test
    void theFileIsMappedOncePerArena() {
        LdmCheckpoint c = LdmCheckpoint.open(LdmCheckpointTest.file("sd1"), null);
        Tensor before;
        try (Arena a = Arena.ofConfined()) {
            before = c.weights("unet", a).get("conv_in.weight");
            Tensor again = c.weights("unet", a).get("conv_in.weight");
            assertEquals(before.segment().address(), again.segment().address(), "the same mapping");
        }
        try (Arena b = Arena.ofConfined()) {
            Tensor after = c.weights("unet", b).get("conv_in.weight");
            assertArrayEquals(SafeTensors.readAll(LdmCheckpointTest.file("sd1")).get(UNET + "input_blocks.0.0.weight").toFloatArray(),
                    after.toFloatArray(), "mapped again into the open arena");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> {
            try (Arena a = Arena.ofConfined()) { c.weights("tokenizer", a); }
        });
        assertEquals(LdmCheckpointTest.file("sd1") + ": a single-file checkpoint has no tokenizer weights", e.getMessage());
    }

    @Test
    void bindingFailuresAndKeysUnderLdmNames() {
        LdmCheckpoint c = LdmCheckpoint.open(LdmCheckpointTest.file("sd1"), null);
        assertEquals(UNET + "input_blocks.0.0.weight", c.ldmKey("unet", "conv_in.weight"));
        assertEquals("no.such.weight", c.ldmKey("unet", "no.such.weight"), "a key without an LDM name is itself");
        String m = c.bindingFailure("unet", List.of("time_embedding.linear_1.bias [128]"),
                List.of("conv_in.weight: file has [32, 4, 3, 3], model expects [32, 9, 3, 3]", "a problem without a key"),
                List.of("extra.weight"), null).getMessage();
        assertTrue(m.contains(UNET + "input_blocks.0.0.weight: file has [32, 4, 3, 3], model expects [32, 9, 3, 3]"), m);
        assertTrue(m.contains(", a problem without a key, "), m);
        assertTrue(m.contains(UNET + "time_embed.0.bias: missing"), m);
        assertTrue(m.endsWith("extra.weight: not used"), m);
    }
}
