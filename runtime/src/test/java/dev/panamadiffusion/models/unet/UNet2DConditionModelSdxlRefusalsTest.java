package dev.panamadiffusion.models.unet;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The tiny SDXL UNet (reference/sdxl/unet, addition_embed_type "text_time"): forwardProjected refuses to run without
 * its added conditioning; loading a model folder checks the config against the weights; and a time embedding without
 * cond_proj refuses a condition.
 */
class UNet2DConditionModelSdxlRefusalsTest {
    private static Path sdxl() {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl");
        assertTrue(Files.isDirectory(p), "missing " + p);
        return p;
    }

    @Test
    void textTimeNeedsItsAddedEmbeddingInForwardProjectedToo() {
        NaiveBackend backend = new NaiveBackend();
        try (Arena arena = Arena.ofConfined()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(sdxl().resolve("unet"), backend, arena);
            int d = unet.config().crossAttentionDim()[0];
            Tensor sample = Tensor.zeros(1, 4, 8, 8), context = Tensor.zeros(1, 7, d);
            Tensor tp = unet.timeProjection(new double[] {10});
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> unet.forwardProjected(sample, tp, context));
            assertEquals("UNet: addition_embed_type \"text_time\" needs text_embeds and time_ids (SDXL)", e.getMessage());
            // the added conditioning must be [B, projection_class_embeddings_input_dim]
            e = assertThrows(IllegalArgumentException.class, () -> unet.addedEmbedding(Tensor.zeros(1, 79)));
            assertTrue(e.getMessage().startsWith("UNet added conditioning must be [B, 80], got "), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> unet.addedEmbedding(Tensor.zeros(80)));
            assertTrue(e.getMessage().startsWith("UNet added conditioning must be [B, 80], got "), e.getMessage());
        }
    }

    @Test
    void loadingFromAModelFolderChecksTheConfigAgainstTheWeights(@TempDir Path dir) throws Exception {
        Path unet = Files.createDirectories(dir.resolve("unet"));
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(sdxl().resolve("unet/config.json").toFile());
        config.put("projection_class_embeddings_input_dim", 88); // 6 × 8 + 40: the weights' add_embedding takes 80
        json.writeValue(unet.resolve("config.json").toFile(), config);
        try (var files = Files.list(sdxl().resolve("unet"))) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (f.getFileName().toString().endsWith(".safetensors")) Files.copy(f, unet.resolve(f.getFileName()));
            }
        }
        Files.copy(sdxl().resolve("model_index.json"), dir.resolve("model_index.json"));
        ModelFolder folder = ModelFolder.open(dir);
        try (Arena arena = Arena.ofConfined()) {
            ConfigException e = assertThrows(ConfigException.class, () -> UNet2DConditionModel.load(folder, "unet", new NaiveBackend(), arena));
            assertEquals("projection_class_embeddings_input_dim", e.field(), e.getMessage());
        }
    }

    @Test
    void aTimeEmbeddingWithoutCondProjRefusesACondition() {
        NaiveBackend backend = new NaiveBackend();
        Map<String, Tensor> w = new LinkedHashMap<>();
        w.put("linear_1.weight", Tensor.zeros(16, 8));
        w.put("linear_1.bias", Tensor.zeros(16));
        w.put("linear_2.weight", Tensor.zeros(16, 16));
        w.put("linear_2.bias", Tensor.zeros(16));
        TimestepEmbedding plain = new TimestepEmbedding(Weights.of(w, backend, "time embedding"), 8, 16);
        assertFalse(plain.hasCondProj());
        assertEquals("this time embedding has no cond_proj (time_cond_proj_dim)",
                assertThrows(IllegalStateException.class, () -> plain.condition(Tensor.zeros(1, 8), Tensor.zeros(1, 4))).getMessage());
        w.put("cond_proj.weight", Tensor.zeros(8, 4));
        assertTrue(new TimestepEmbedding(Weights.of(w, backend, "time embedding"), 8, 16, 4).hasCondProj());
    }
}
