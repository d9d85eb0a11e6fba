package dev.panamadiffusion.io;

import dev.panamadiffusion.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code model_index.json} as diffusers writes it (pipeline class, version, a [library, class] pair per component,
 * [null, null] for a component the pipeline goes without), and the index of a bare folder of components.
 */
class ModelIndexTest {
    @TempDir
    Path tmp;

    private ModelIndex read(String json) throws IOException {
        Path f = tmp.resolve("model_index.json");
        Files.writeString(f, json);
        return ModelIndex.read(f);
    }

    private ConfigException refused(String json) throws IOException {
        Path f = tmp.resolve("model_index.json");
        Files.writeString(f, json);
        return assertThrows(ConfigException.class, () -> ModelIndex.read(f), json);
    }

    @Test
    void componentsAreLibraryClassPairs() throws IOException {
        ModelIndex i = read("""
                {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.27.2",
                 "feature_extractor": ["transformers", "CLIPImageProcessor"], "safety_checker": [null, null],
                 "requires_safety_checker": false, "unet": ["diffusers", "UNet2DConditionModel"]}""");
        assertEquals("StableDiffusionPipeline", i.className());
        assertEquals("0.27.2", i.diffusersVersion());
        assertEquals(List.of("feature_extractor", "unet"), List.copyOf(i.components().keySet()),
                "[null, null] and non-pair values are no components");
        assertEquals("UNet2DConditionModel", i.components().get("unet").className());
        assertNull(read("{\"_class_name\": \"X\", \"_diffusers_version\": 27}").diffusersVersion());
        assertNull(read("{\"_class_name\": \"X\"}").diffusersVersion());
    }

    @Test
    void malformedIndexesAreRefused() throws IOException {
        assertNull(refused("[1]").field());
        assertEquals("_class_name", refused("{\"unet\": [\"diffusers\", \"UNet2DConditionModel\"]}").field());
        assertEquals("_class_name", refused("{\"_class_name\": 7}").field());
        assertEquals("unet", refused("{\"_class_name\": \"X\", \"unet\": [\"diffusers\"]}").field());
        assertEquals("unet", refused("{\"_class_name\": \"X\", \"unet\": [\"diffusers\", null]}").field());
        assertEquals("unet", refused("{\"_class_name\": \"X\", \"unet\": [null, \"UNet2DConditionModel\"]}").field());
    }

    @Test
    void bareFolderTokenizersNameTheirClass() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("model"));
        Path tok = Files.createDirectories(dir.resolve("tokenizer"));
        Files.writeString(tok.resolve("vocab.json"), "{}");
        Files.writeString(tok.resolve("merges.txt"), "#version: 0.2\n");
        Path tok2 = Files.createDirectories(dir.resolve("tokenizer_2"));
        Files.writeString(tok2.resolve("vocab.json"), "{}");
        Files.writeString(tok2.resolve("merges.txt"), "#version: 0.2\n");
        Files.writeString(tok2.resolve("tokenizer_config.json"), "{\"tokenizer_class\": \"CLIPTokenizerFast\"}");
        Path tok3 = Files.createDirectories(dir.resolve("tokenizer_3"));
        Files.writeString(tok3.resolve("vocab.json"), "{}"); // no merges.txt: no BPE tokenizer
        Files.writeString(dir.resolve("notes.txt"), "a file, not a component");
        ModelIndex i = ModelIndex.fromComponents(dir);
        assertNull(i.className());
        assertEquals(List.of("tokenizer", "tokenizer_2"), List.copyOf(i.components().keySet()));
        assertEquals("CLIPTokenizer", i.components().get("tokenizer").className());
        assertEquals("transformers", i.components().get("tokenizer").library());
        assertEquals("CLIPTokenizerFast", i.components().get("tokenizer_2").className());
    }

    @Test
    void booleanValuesArePipelineFlagsUnlessTheKeyIsDiffusersOwn() throws IOException {
        ModelIndex i = read("""
                {"_class_name": "StableDiffusionXLPipeline", "force_zeros_for_empty_prompt": true,
                 "requires_aesthetics_score": false, "_private": true, "unet": ["diffusers", "UNet2DConditionModel"]}""");
        assertEquals(java.util.Map.of("force_zeros_for_empty_prompt", true, "requires_aesthetics_score", false), i.flags());
        assertTrue(i.flag("force_zeros_for_empty_prompt", false));
        assertFalse(i.flag("requires_aesthetics_score", true));
        assertTrue(i.flag("requires_safety_checker", true), "absent: the default");
        assertFalse(i.flag("_private", false), "an underscore key is diffusers' own, not a flag");
    }
}
