package dev.panamadiffusion.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** ModelFolder on a bare folder of component folders (no model_index.json), as the reference data and verify use it. */
class ModelFolderComponentsTest {
    static Path tiny() {
        String ref = System.getProperty("pd.reference");
        assertNotNull(ref, "system property pd.reference is not set");
        return Path.of(ref, "tiny");
    }

    @Test
    void tinyReferenceIsABareComponentFolder() {
        Path tiny = tiny();
        assertFalse(Files.exists(tiny.resolve("model_index.json")));
        IllegalArgumentException strict = assertThrows(IllegalArgumentException.class, () -> ModelFolder.open(tiny));
        assertTrue(strict.getMessage().contains("no model_index.json"), strict.getMessage());

        ModelFolder f = ModelFolder.openComponents(tiny);
        assertNull(f.index().className());
        assertEquals("0.27.2", f.index().diffusersVersion());
        assertEquals("UNet2DConditionModel", f.index().componentClass("unet"));
        assertEquals("AutoencoderKL", f.index().componentClass("vae"));
        assertEquals("CLIPTextModel", f.index().componentClass("text_encoder"));
        assertEquals("transformers", f.index().components().get("text_encoder").library());
        assertEquals("DDIMScheduler", f.index().componentClass("scheduler_ddim"));
        assertEquals("EulerAncestralDiscreteScheduler", f.index().componentClass("scheduler_euler_a"));
        assertEquals("DPMSolverMultistepScheduler", f.index().componentClass("scheduler_dpmpp2m_karras"));
        assertEquals(10, f.index().components().size()); // 3 models + 7 schedulers

        assertEquals(tiny.resolve("unet"), f.component("unet"));
        assertEquals(tiny.resolve("unet/config.json"), f.configFile("unet"));
        assertEquals(tiny.resolve("text_encoder/config.json"), f.configFile("text_encoder"));
        assertEquals(tiny.resolve("scheduler_ddim/scheduler_config.json"), f.configFile("scheduler_ddim"));
        assertEquals(List.of(tiny.resolve("vae/diffusion_pytorch_model.safetensors")), ModelFiles.weightFiles(f.component("vae")));
        assertFalse(f.has("tokenizer"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> f.component("tokenizer"));
        assertTrue(e.getMessage().contains(tiny.toString()) && e.getMessage().contains("tokenizer/"), e.getMessage());
    }

    @Test
    void aFolderWithAnIndexIsReadAsUsual(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("model_index.json"),
                "{\"_class_name\": \"StableDiffusionPipeline\", \"scheduler\": [\"diffusers\", \"PNDMScheduler\"]}");
        Files.createDirectories(dir.resolve("scheduler"));
        Files.writeString(dir.resolve("scheduler/scheduler_config.json"), "{\"_class_name\": \"DDIMScheduler\"}");
        ModelFolder f = ModelFolder.openComponents(dir);
        assertEquals("StableDiffusionPipeline", f.index().className());
        assertEquals("PNDMScheduler", f.index().componentClass("scheduler")); // model_index.json wins
        assertEquals(dir.resolve("scheduler/scheduler_config.json"), f.configFile("scheduler"));
    }

    @Test
    void componentsFoundFromTheirOwnFiles(@TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("unet"));
        Files.writeString(dir.resolve("unet/config.json"), "{\"_class_name\": \"UNet2DConditionModel\"}");
        Files.createDirectories(dir.resolve("tokenizer"));
        Files.writeString(dir.resolve("tokenizer/vocab.json"), "{}");
        Files.writeString(dir.resolve("tokenizer/merges.txt"), "#version: 0.2\n");
        Files.createDirectories(dir.resolve("samples")); // no config: not a component
        Files.createDirectories(dir.resolve("scheduler"));
        Files.writeString(dir.resolve("scheduler/scheduler_config.json"), "{\"_class_name\": \"PNDMScheduler\"}");
        ModelFolder f = ModelFolder.openComponents(dir);
        assertEquals(List.of("scheduler", "tokenizer", "unet"), List.copyOf(f.index().components().keySet()));
        assertEquals("CLIPTokenizer", f.index().componentClass("tokenizer"));
        assertEquals(dir.resolve("scheduler/scheduler_config.json"), f.configFile("scheduler"));
        assertTrue(f.has("samples")); // a folder, though not a component
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> f.configFile("samples"));
        assertTrue(e.getMessage().contains("samples") && e.getMessage().contains("config.json"), e.getMessage());
    }

    @Test
    void clearErrors(@TempDir Path dir) throws IOException {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelFolder.openComponents(dir.resolve("nope")));
        assertTrue(e.getMessage().contains("nope"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ModelFolder.openComponents(dir));
        assertTrue(e.getMessage().contains(dir.toString()) && e.getMessage().contains("neither model_index.json nor component folders"),
                e.getMessage());
        Files.createDirectories(dir.resolve("vae"));
        Files.writeString(dir.resolve("vae/config.json"), "{not json");
        e = assertThrows(IllegalArgumentException.class, () -> ModelFolder.openComponents(dir));
        assertTrue(e.getMessage().contains("vae") && e.getMessage().contains("config.json"), e.getMessage());
    }
}
