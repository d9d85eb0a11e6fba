package dev.panamadiffusion.models.clip;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link CLIPTextConfig}'s own checks at the edges of each range (the constructor's, which a derived config from a
 * single-file checkpoint meets without {@code read}'s), transformers' defaults, the SD 1.x preset, and
 * {@link CLIPTextConfig#checkWeights}: each config value that disagrees with the tiny reference text encoder's weights
 * is refused naming that key, also when {@link CLIPTextModel#load} loads the folder.
 */
class CLIPTextConfigCheckTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    Path tmp;

    /** The tiny reference encoder's config with one int field replaced (index in record order: 0 vocab ... 6 positions). */
    private static CLIPTextConfig with(int index, int value) {
        int[] v = {1000, 32, 37, 512, 2, 4, 77};
        v[index] = value;
        return new CLIPTextConfig(v[0], v[1], v[2], v[3], v[4], v[5], v[6], "quick_gelu", 1e-5, 999, 998, 999);
    }

    private static int field(CLIPTextConfig c, int index) {
        return new int[] {c.vocabSize(), c.hiddenSize(), c.intermediateSize(), c.projectionDim(), c.numHiddenLayers(),
                c.numAttentionHeads(), c.maxPositionEmbeddings()}[index];
    }

    private static CLIPTextConfig eps(double eps) {
        return new CLIPTextConfig(1000, 32, 37, 512, 2, 4, 77, "quick_gelu", eps, 999, 998, 999);
    }

    private static CLIPTextConfig act(String act) {
        return new CLIPTextConfig(1000, 32, 37, 512, 2, 4, 77, act, 1e-5, 999, 998, 999);
    }

    private static ConfigException refused(String field, org.junit.jupiter.api.function.Executable e) {
        ConfigException x = assertThrows(ConfigException.class, e, field);
        assertEquals(field, x.field(), x.getMessage());
        assertNull(x.file(), "the constructor knows no file");
        return x;
    }

    @Test
    void everySizeIsCheckedAtBothEnds() {
        String[] keys = {"vocab_size", "hidden_size", "intermediate_size", "projection_dim", "num_hidden_layers",
                "num_attention_heads", "max_position_embeddings"};
        int[] max = {CLIPTextConfig.MAX_SIZE, CLIPTextConfig.MAX_SIZE, CLIPTextConfig.MAX_SIZE, CLIPTextConfig.MAX_SIZE,
                CLIPTextConfig.MAX_LAYERS, 32, CLIPTextConfig.MAX_POSITIONS};
        for (int i = 0; i < keys.length; i++) {
            int k = i;
            ConfigException zero = refused(keys[k], () -> with(k, 0));
            assertEquals("0 is out of range [1, " + max[k] + "]", zero.problem());
            refused(keys[k], () -> with(k, -1));
            if (k != 1 && k != 5) { // hidden_size and the head count must also divide: below
                refused(keys[k], () -> with(k, max[k] + 1));
                assertEquals(max[k], field(with(k, max[k]), k), keys[k]);
                assertEquals(1, field(with(k, 1), k), keys[k]);
            }
        }
        // at most one head per channel: 32 heads of width 1, not 64
        assertEquals(32, with(5, 32).numAttentionHeads());
        assertEquals(1, with(5, 32).headDim());
        refused("num_attention_heads", () -> with(5, 64));
        assertEquals(1, with(5, 1).numAttentionHeads());
        assertEquals(32, with(5, 1).headDim());
        // hidden_size at the limit, with heads that divide it
        assertEquals(CLIPTextConfig.MAX_SIZE, with(1, CLIPTextConfig.MAX_SIZE).hiddenSize());
        refused("hidden_size", () -> with(1, CLIPTextConfig.MAX_SIZE + 4));
    }

    @Test
    void headsMustDivideTheWidth() {
        ConfigException e = refused("num_attention_heads", () -> with(5, 3));
        assertEquals("hidden_size 32 is not a multiple of num_attention_heads 3", e.problem());
        assertEquals(8, with(5, 4).headDim());
        assertEquals(16, with(5, 2).headDim());
    }

    @Test
    void layerNormEpsIsInZeroToOne() {
        assertEquals(1.0, eps(1.0).layerNormEps());
        assertEquals(Double.MIN_VALUE, eps(Double.MIN_VALUE).layerNormEps());
        for (double bad : new double[] {0, -1e-5, Math.nextUp(1.0), Double.NaN, Double.POSITIVE_INFINITY}) {
            ConfigException e = refused("layer_norm_eps", () -> eps(bad));
            assertEquals(bad + " is out of range (0, 1]", e.problem());
        }
    }

    @Test
    void activations() {
        assertEquals("quick_gelu", act(null).hiddenAct(), "absent: transformers' default");
        assertEquals("quick_gelu", act("quick_gelu").hiddenAct());
        assertEquals("gelu", act("gelu").hiddenAct());
        ConfigException e = refused("hidden_act", () -> act("relu"));
        assertEquals("\"relu\" (supported: quick_gelu, gelu)", e.problem());
    }

    @Test
    void sd15IsClipViTL14() {
        CLIPTextConfig c = CLIPTextConfig.sd15();
        assertEquals(new CLIPTextConfig(49408, 768, 3072, 768, 12, 12, 77, "quick_gelu", 1e-5, 1, 0, 2), c);
        assertEquals(64, c.headDim());
    }

    private Path writeConfig(Consumer<ObjectNode> edit) throws Exception {
        ObjectNode j = (ObjectNode) JSON.readTree(Reference.tiny().resolve("text_encoder/config.json").toFile());
        edit.accept(j);
        Path p = tmp.resolve("config-" + System.nanoTime() + ".json");
        JSON.writeValue(p.toFile(), j);
        return p;
    }

    @Test
    void readTakesTransformersDefaultsForAbsentKeysAndTokenIds() throws Exception {
        CLIPTextConfig tiny = CLIPTextConfig.read(writeConfig(j -> {}));
        assertEquals(999, tiny.padTokenId());
        assertEquals(998, tiny.bosTokenId());
        assertEquals(999, tiny.eosTokenId());
        CLIPTextConfig bare = CLIPTextConfig.read(writeConfig(j -> {
            for (String k : new String[] {"vocab_size", "hidden_size", "intermediate_size", "projection_dim", "num_hidden_layers",
                    "num_attention_heads", "max_position_embeddings", "hidden_act", "layer_norm_eps", "pad_token_id",
                    "bos_token_id", "eos_token_id"}) j.remove(k);
        }));
        assertEquals(new CLIPTextConfig(49408, 512, 2048, 512, 12, 8, 77, "quick_gelu", 1e-5, 1, 49406, 49407), bare);
        // null token ids take the defaults; -1 is kept (some exports write it)
        CLIPTextConfig nulls = CLIPTextConfig.read(writeConfig(j -> j.putNull("pad_token_id").put("bos_token_id", -1)
                .putNull("eos_token_id")));
        assertEquals(1, nulls.padTokenId());
        assertEquals(-1, nulls.bosTokenId());
        assertEquals(49407, nulls.eosTokenId());
        Path bad = writeConfig(j -> j.put("hidden_act", "relu"));
        ConfigException e = assertThrows(ConfigException.class, () -> CLIPTextConfig.read(bad));
        assertEquals(bad, e.file(), "the constructor's complaint names the file it came from");
        assertEquals("hidden_act", e.field());
    }

    @Test
    void checkWeightsNamesTheKeyThatDisagreesWithTheWeights() throws Exception {
        Map<String, Tensor> weights = SafeTensors.readAll(Reference.tiny().resolve("text_encoder/model.safetensors"));
        Path file = writeConfig(j -> {});
        CLIPTextConfig.read(file).checkWeights(file, weights);
        assertMismatch("vocab_size", weights, j -> j.put("vocab_size", 1001));
        assertMismatch("hidden_size", weights, j -> j.put("hidden_size", 64));
        assertMismatch("max_position_embeddings", weights, j -> j.put("max_position_embeddings", 76));
        ConfigException e = assertMismatch("num_hidden_layers", weights, j -> j.put("num_hidden_layers", 3));
        assertTrue(e.getMessage().contains("text_model.encoder.layers."), e.getMessage());
        assertMismatch("intermediate_size", weights, j -> j.put("intermediate_size", 36));
        // the config as written, the weights one layer short
        Map<String, Tensor> oneLayer = new HashMap<>(weights);
        oneLayer.keySet().removeIf(k -> k.startsWith("text_model.encoder.layers.1."));
        e = assertThrows(ConfigException.class, () -> CLIPTextConfig.read(file).checkWeights(file, oneLayer));
        assertEquals("num_hidden_layers", e.field());
    }

    private ConfigException assertMismatch(String field, Map<String, Tensor> weights, Consumer<ObjectNode> edit) throws Exception {
        Path file = writeConfig(edit);
        CLIPTextConfig c = CLIPTextConfig.read(file);
        ConfigException e = assertThrows(ConfigException.class, () -> c.checkWeights(file, weights), field);
        assertEquals(field, e.field(), e.getMessage());
        assertEquals(file, e.file());
        return e;
    }

    /** A copy of the tiny text encoder folder whose config.json has {@code edit} applied. */
    private Path encoderFolder(Consumer<ObjectNode> edit) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("model-" + System.nanoTime()).resolve("text_encoder"));
        Files.copy(Reference.tiny().resolve("text_encoder/model.safetensors"), dir.resolve("model.safetensors"));
        ObjectNode j = (ObjectNode) JSON.readTree(Reference.tiny().resolve("text_encoder/config.json").toFile());
        edit.accept(j);
        JSON.writeValue(dir.resolve("config.json").toFile(), j);
        return dir;
    }

    @Test
    void loadChecksTheConfigAgainstTheWeightsFirst() throws Exception {
        try (CpuBackend backend = new CpuBackend(1)) {
            Path ok = encoderFolder(j -> {});
            CLIPTextModel m = CLIPTextModel.load(ok, backend, Arena.ofAuto());
            assertEquals(32, m.config().hiddenSize());
            assertTrue(m.params().containsKey("text_model.encoder.layers.0.self_attn.q_proj.weight"), m.params().keySet().toString());
            assertFalse(m.params().isEmpty());
            // a config whose sizes disagree with the weights is named by key, before any weight is bound
            Path wrong = encoderFolder(j -> j.put("max_position_embeddings", 76));
            ConfigException e = assertThrows(ConfigException.class, () -> CLIPTextModel.load(wrong, backend, Arena.ofAuto()));
            assertEquals("max_position_embeddings", e.field());
            assertEquals(wrong.resolve("config.json"), e.file());
            // the same through a model folder (the component's name, not its path)
            ModelFolder folder = ModelFolder.openComponents(ok.getParent());
            CLIPTextModel viaFolder = CLIPTextModel.load(folder, "text_encoder", backend, Arena.ofAuto());
            assertEquals(m.config(), viaFolder.config());
            assertEquals(m.params().keySet(), viaFolder.params().keySet());
            ModelFolder bad = ModelFolder.openComponents(wrong.getParent());
            e = assertThrows(ConfigException.class, () -> CLIPTextModel.load(bad, "text_encoder", backend, Arena.ofAuto()));
            assertEquals("max_position_embeddings", e.field());
        }
    }
}
