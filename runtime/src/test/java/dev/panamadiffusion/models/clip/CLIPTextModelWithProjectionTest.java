package dev.panamadiffusion.models.clip;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * SDXL's text encoders against diffusers/transformers on the repository's tiny SDXL set (reference/sdxl,
 * text_encoder_io and text_encoder_2_io): the penultimate hidden state without the final layer norm, and
 * text_encoder_2's projected pooled output, loaded from its folder or from the model folder; and the config checked
 * against the weights on loading (text_projection's width against projection_dim, the transformer's sizes).
 */
class CLIPTextModelWithProjectionTest {
    private static final double TOL = 1e-4;

    private static Path sdxl() {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl");
        assertTrue(Files.isDirectory(p), "missing " + p);
        return p;
    }

    @Test
    void textEncoder2MatchesTransformers() {
        Map<String, Tensor> io = SafeTensors.readAll(sdxl().resolve("text_encoder_2_io.safetensors"));
        NaiveBackend backend = new NaiveBackend();
        try (Arena arena = Arena.ofConfined()) {
            CLIPTextModelWithProjection model = CLIPTextModelWithProjection.load(sdxl().resolve("text_encoder_2"), backend, arena);
            assertEquals(32, model.config().projectionDim());
            assertTrue(model.params().containsKey("text_projection.weight"), model.params().keySet().toString());
            CLIPTextOutput out = model.forward(io.get("input_ids"), 1, false);
            Reference.assertClose("text_encoder_2 penultimate", io.get("hidden_state_penultimate"), backend.download(out.hiddenState()), TOL);
            Reference.assertClose("text_encoder_2 last_hidden_state", io.get("last_hidden_state"), backend.download(out.lastHiddenState()), TOL);
            Reference.assertClose("text_encoder_2 text_embeds", io.get("text_embeds"), backend.download(model.textEmbeds(out)), TOL);
        }
    }

    @Test
    void textEncoderPenultimateLayerWithoutFinalNorm() {
        Map<String, Tensor> io = SafeTensors.readAll(sdxl().resolve("text_encoder_io.safetensors"));
        NaiveBackend backend = new NaiveBackend();
        try (Arena arena = Arena.ofConfined()) {
            CLIPTextModel model = CLIPTextModel.load(sdxl().resolve("text_encoder"), backend, arena);
            CLIPTextOutput out = model.forward(io.get("input_ids"), 1, false);
            Reference.assertClose("text_encoder penultimate", io.get("hidden_state_penultimate"), backend.download(out.hiddenState()), TOL);
        }
    }

    @Test
    void aProjectionDimTheWeightsDoNotHaveIsRefused(@TempDir Path dir) throws Exception {
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(sdxl().resolve("text_encoder_2/config.json").toFile());
        config.put("projection_dim", 16);
        json.writeValue(dir.resolve("config.json").toFile(), config);
        Files.copy(sdxl().resolve("text_encoder_2/model.safetensors"), dir.resolve("model.safetensors"));
        try (Arena arena = Arena.ofConfined()) {
            ConfigException e = assertThrows(ConfigException.class, () -> CLIPTextModelWithProjection.load(dir, new NaiveBackend(), arena));
            assertEquals("projection_dim", e.field(), e.getMessage());
        }
    }

    @Test
    void aModelFoldersTextEncoder2MatchesTransformers() {
        Map<String, Tensor> io = SafeTensors.readAll(sdxl().resolve("text_encoder_2_io.safetensors"));
        NaiveBackend backend = new NaiveBackend();
        try (Arena arena = Arena.ofConfined()) {
            CLIPTextModelWithProjection model = CLIPTextModelWithProjection.load(ModelFolder.open(sdxl()), "text_encoder_2", backend, arena);
            CLIPTextOutput out = model.forward(io.get("input_ids"), 1, false);
            Reference.assertClose("text_encoder_2 (model folder) penultimate", io.get("hidden_state_penultimate"),
                    backend.download(out.hiddenState()), TOL);
            Reference.assertClose("text_encoder_2 (model folder) text_embeds", io.get("text_embeds"),
                    backend.download(model.textEmbeds(out)), TOL);
        }
    }

    @Test
    void aTransformerSizeTheWeightsDoNotHaveIsRefusedNamingIt(@TempDir Path tmp) throws Exception {
        // checked before binding (a ConfigException naming the config key, not a binding failure listing tensors),
        // from the component's folder and from the model folder alike
        Path model = tmp.resolve("sdxl");
        ReferenceModelFolder.copyDir(sdxl(), model);
        Path configFile = model.resolve("text_encoder_2/config.json");
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(configFile.toFile());
        config.put("intermediate_size", config.get("intermediate_size").asInt() * 2);
        json.writeValue(configFile.toFile(), config);
        try (Arena arena = Arena.ofConfined()) {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> CLIPTextModelWithProjection.load(model.resolve("text_encoder_2"), new NaiveBackend(), arena));
            assertEquals("intermediate_size", e.field(), e.getMessage());
            assertEquals(configFile, e.file());
            e = assertThrows(ConfigException.class,
                    () -> CLIPTextModelWithProjection.load(ModelFolder.open(model), "text_encoder_2", new NaiveBackend(), arena));
            assertEquals("intermediate_size", e.field(), e.getMessage());
            assertEquals(configFile, e.file());
        }
    }
}
