package dev.panamadiffusion.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelFolderTest {
    private static final String SD15_INDEX = """
            {
              "_class_name": "StableDiffusionPipeline",
              "_diffusers_version": "0.6.0",
              "feature_extractor": ["transformers", "CLIPImageProcessor"],
              "requires_safety_checker": true,
              "safety_checker": [null, null],
              "scheduler": ["diffusers", "PNDMScheduler"],
              "text_encoder": ["transformers", "CLIPTextModel"],
              "tokenizer": ["transformers", "CLIPTokenizer"],
              "unet": ["diffusers", "UNet2DConditionModel"],
              "vae": ["diffusers", "AutoencoderKL"]
            }""";

    @Test
    void readsIndexAndResolvesComponents(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("model_index.json"), SD15_INDEX);
        Files.createDirectories(dir.resolve("unet"));
        Files.writeString(dir.resolve("unet/config.json"), "{}");
        Files.createDirectories(dir.resolve("scheduler"));
        Files.writeString(dir.resolve("scheduler/scheduler_config.json"), "{}");
        ModelFolder f = ModelFolder.open(dir);
        assertEquals("StableDiffusionPipeline", f.index().className());
        assertEquals("0.6.0", f.index().diffusersVersion());
        assertEquals("PNDMScheduler", f.index().componentClass("scheduler"));
        assertNull(f.index().componentClass("safety_checker"));
        assertFalse(f.index().components().containsKey("requires_safety_checker"));
        assertEquals(dir.resolve("unet/config.json"), f.configFile("unet"));
        assertEquals(dir.resolve("scheduler/scheduler_config.json"), f.configFile("scheduler"));
        assertTrue(f.has("unet"));
        assertFalse(f.has("vae"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> f.component("vae"));
        assertTrue(e.getMessage().contains("has no vae/ folder (model_index.json lists it)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> f.configFile("vae"));
        assertEquals(dir.getFileName().toString(), f.name());
    }

    @Test
    void clearErrorsForMissingOrBrokenFolders(@TempDir Path dir) throws IOException {
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> ModelFolder.open(dir.resolve("nope")));
        assertTrue(missing.getMessage().contains("does not exist") && missing.getMessage().contains("nope"));
        IllegalArgumentException noIndex = assertThrows(IllegalArgumentException.class, () -> ModelFolder.open(dir));
        assertTrue(noIndex.getMessage().contains("no model_index.json"), noIndex.getMessage());
        Files.writeString(dir.resolve("model_index.json"), "{\"unet\": [\"diffusers\"]}");
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> ModelFolder.open(dir));
        assertTrue(bad.getMessage().contains("_class_name"), bad.getMessage());
        Files.writeString(dir.resolve("model_index.json"), "{\"_class_name\": \"X\", \"unet\": [\"diffusers\"]}");
        bad = assertThrows(IllegalArgumentException.class, () -> ModelFolder.open(dir));
        assertTrue(bad.getMessage().contains("model_index.json: unet: not a [library, class] pair"), bad.getMessage());
    }
}
