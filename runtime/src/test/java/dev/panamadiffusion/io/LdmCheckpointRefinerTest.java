package dev.panamadiffusion.io;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

import static dev.panamadiffusion.io.LdmCheckpointTest.assertRefused;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SDXL refiner single files (reference/sdxl-refiner/single-file, tools/refgen/gen_sdxl_refiner.py): OpenCLIP
 * ViT-bigG alone under {@code conditioner.embedders.0.model.} becomes text_encoder_2, the added embedding takes 5 time
 * ids, the .yaml beside the file gives the heads, and what is neither base's layout nor the refiner's is refused.
 */
class LdmCheckpointRefinerTest {
    static final Path FILE = Path.of(System.getProperty("pd.home", "..")).resolve(
            "reference/sdxl-refiner/single-file/tiny-sdxl-refiner.safetensors");
    static final Path YAML = FILE.resolveSibling("tiny-sdxl-refiner.yaml");

    @Test
    void readsTheRefinersLayout() {
        LdmCheckpoint c = LdmCheckpoint.open(FILE, null);
        assertTrue(c.isSdxl() && c.isSdxlRefiner());
        assertEquals("SDXL refiner", c.family());
        assertEquals(LdmCheckpoint.SDXL_REFINER_COMPONENTS, c.components());
        assertEquals(72, c.config("unet").get("projection_class_embeddings_input_dim").asInt());
        assertEquals(8, c.config("unet").get("addition_time_embed_dim").asInt());
        assertEquals(2, c.config("unet").get("attention_head_dim").get(0).asInt());      // 32 channels / num_head_channels 16
        assertEquals("[\"DownBlock2D\",\"CrossAttnDownBlock2D\",\"DownBlock2D\"]", c.config("unet").get("down_block_types").toString());
        assertEquals(32, c.config("text_encoder_2").get("projection_dim").asInt());
        assertEquals(3, c.config("text_encoder_2").get("num_hidden_layers").asInt());
        assertEquals(0.13025, c.config("vae").get("scaling_factor").asDouble());
        assertThrows(IllegalArgumentException.class, () -> c.config("text_encoder"));
        assertTrue(c.ignored().containsKey(LdmLayout.REFINER_OPEN_CLIP + "logit_scale"), c.ignored().toString());
        assertTrue(c.keyMap().entries().stream().noneMatch(e -> e.component().equals("text_encoder")));
        ModelFolder f = ModelFolder.open(FILE);
        assertFalse(f.has("text_encoder"));
        assertThrows(IllegalArgumentException.class, () -> f.component("tokenizer"));
        assertTrue(Files.isDirectory(f.component("tokenizer_2")));
        assertEquals("!", f.padToken("tokenizer_2"));
    }

    @Test
    void refusesWhatIsNeitherLayout(@TempDir Path tmp) throws IOException {
        String p = LdmLayout.REFINER_OPEN_CLIP;
        assertRefused(edited(tmp, "both", a -> a.put(LdmLayout.SDXL_OPEN_CLIP + "ln_final.bias", Tensor.zeros(64)), true),
                "has an SDXL refiner's text encoder (" + p + "*) and a second embedder");
        assertRefused(edited(tmp, "six", a -> a.put(LdmLayout.UNET + "label_emb.0.0.weight", Tensor.zeros(128, 80)), true),
                "takes 80 inputs, which is not 5 time ids");
        // without the .yaml the heads are SDXL's one per 64 channels, which 32 channels cannot give
        assertRefused(edited(tmp, "no-yaml", a -> { }, false), "UNet width 32 is not a multiple of 64 channels per attention head");
    }

    /** {@link #FILE} with {@code edit} applied, written (with its .yaml when {@code yaml}) into {@code tmp} as {@code name}. */
    private static Path edited(Path tmp, String name, Consumer<Map<String, Tensor>> edit, boolean yaml) throws IOException {
        Map<String, Tensor> all = new LinkedHashMap<>(SafeTensors.readAll(FILE));
        edit.accept(all);
        Path f = tmp.resolve(name + ".safetensors");
        SafeTensors.write(f, all, Map.of());
        if (yaml) Files.copy(YAML, tmp.resolve(name + ".yaml"));
        return f;
    }
}
