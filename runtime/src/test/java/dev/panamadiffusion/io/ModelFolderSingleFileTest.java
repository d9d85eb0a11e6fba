package dev.panamadiffusion.io;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A single-file checkpoint presented as a model folder: the index convert_from_ckpt's pipelines would have (their
 * class, components and flags, for SD 1.x/2.x, SDXL base and the refiner, inpainting or not), what it names and where
 * its tokenizers come from; and the refusals {@link ModelFolder#open} and {@link ModelFolder#openComponents} make of
 * paths that are neither a folder nor a file.
 */
class ModelFolderSingleFileTest {
    private static final Path SD1 = LdmCheckpointTest.file("sd1"), SDXL = LdmCheckpointTest.file("sdxl");
    private static final Path REFINER = LdmCheckpointRefinerTest.FILE;

    @TempDir
    Path tmp;

    private static List<String> components(ModelFolder f) { return List.copyOf(f.index().components().keySet()); }

    /** {@code file} with a 9-channel conv_in (latents, masked-image latents, mask), beside a copy of its .yaml if it has one. */
    private Path inpainting(Path file) throws IOException {
        Map<String, Tensor> all = new LinkedHashMap<>(SafeTensors.readAll(file));
        String key = LdmLayout.UNET + "input_blocks.0.0.weight";
        Tensor convIn = all.get(key);
        all.put(key, Tensor.zeros(convIn.dim(0), 9, convIn.dim(2), convIn.dim(3)));
        String stem = file.getFileName().toString().replace(".safetensors", "");
        Path f = tmp.resolve(stem + "-inpaint.safetensors");
        SafeTensors.write(f, all, Map.of());
        Path yaml = file.resolveSibling(stem + ".yaml");
        if (Files.exists(yaml)) Files.copy(yaml, tmp.resolve(stem + "-inpaint.yaml"));
        return f;
    }

    @Test
    void theIndexOfEachFamily() throws IOException {
        ModelFolder sd1 = ModelFolder.open(SD1);
        assertEquals("StableDiffusionPipeline", sd1.index().className());
        assertEquals(List.of("unet", "vae", "text_encoder", "tokenizer", "scheduler"), components(sd1));
        assertEquals(new ModelIndex.Component("transformers", "CLIPTextModel"), sd1.index().components().get("text_encoder"));
        assertEquals("PNDMScheduler", sd1.index().componentClass("scheduler"));
        assertTrue(sd1.index().flags().isEmpty());

        ModelFolder xl = ModelFolder.open(SDXL);
        assertEquals("StableDiffusionXLPipeline", xl.index().className());
        assertEquals(List.of("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler"), components(xl));
        assertEquals("CLIPTextModelWithProjection", xl.index().componentClass("text_encoder_2"));
        assertEquals("EulerDiscreteScheduler", xl.index().componentClass("scheduler"));
        assertEquals(Map.of("force_zeros_for_empty_prompt", true), xl.index().flags());

        ModelFolder refiner = ModelFolder.open(REFINER);
        assertEquals("StableDiffusionXLImg2ImgPipeline", refiner.index().className());
        assertEquals(List.of("unet", "vae", "text_encoder_2", "tokenizer_2", "scheduler"), components(refiner));
        assertEquals(Map.of("requires_aesthetics_score", true, "force_zeros_for_empty_prompt", false), refiner.index().flags());

        assertEquals("StableDiffusionInpaintPipeline", ModelFolder.open(inpainting(SD1)).index().className());
        assertEquals("StableDiffusionXLInpaintPipeline", ModelFolder.open(inpainting(SDXL)).index().className());
        ModelFolder refinerInpaint = ModelFolder.open(inpainting(REFINER));
        assertTrue(refinerInpaint.checkpoint().isInpainting());
        assertEquals("StableDiffusionXLInpaintPipeline", refinerInpaint.index().className());
        assertTrue(refinerInpaint.index().flag("requires_aesthetics_score", false));
    }

    @Test
    void whatASingleFileNamesAndWhereItsTokenizersAre() {
        ModelFolder sd1 = ModelFolder.open(SD1);
        assertEquals(SD1, sd1.dir());
        assertTrue(sd1.isSingleFile());
        assertEquals("tiny-sd1", sd1.name(), "the file's name without .safetensors");
        assertEquals(SD1.resolveSibling("tiny-sd1.safetensors#unet").toString(), sd1.describe("unet"));
        // the demo model's CLIP tokenizer for SD 1.x/2.x's tokenizer and SDXL's tokenizer_2; nothing else is a folder
        Path demoTokenizer = DemoModel.locate().resolve("tokenizer");
        assertEquals(demoTokenizer, sd1.component("tokenizer"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> sd1.component("tokenizer_2"));
        assertEquals("model file " + SD1 + " is a single-file checkpoint: it has no tokenizer_2/ folder", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> sd1.component("unet"));
        assertNull(sd1.padToken("tokenizer_2"));
        ModelFolder xl = ModelFolder.open(SDXL);
        assertEquals(demoTokenizer, xl.component("tokenizer"));
        assertEquals(demoTokenizer, xl.component("tokenizer_2"));
        assertNull(xl.padToken(), "CLIP ViT-L pads as its files say");
        assertEquals("!", xl.padToken("tokenizer_2"));
    }

    @Test
    void aDiffusersFolderNamesItsComponentFoldersAndKeepsItsTokenizersPadding() {
        Path dir = Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl");
        ModelFolder f = ModelFolder.open(dir);
        assertFalse(f.isSingleFile());
        assertEquals(dir, f.dir());
        assertEquals("sdxl", f.name());
        assertEquals(dir.resolve("unet").toString(), f.describe("unet"));
        assertNull(f.padToken(), "a folder's tokenizer files say their pad token");
        assertNull(f.padToken("tokenizer_2"));
    }

    @Test
    void aPredictionTypeIsForSingleFilesOnly() {
        Path dir = Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelFolder.open(dir, PredictionType.EPSILON));
        assertTrue(e.getMessage().startsWith("model folder " + dir + ": a prediction type is given only for a single-file checkpoint"),
                e.getMessage());
        assertEquals(PredictionType.EPSILON, ModelFolder.open(SD1, PredictionType.EPSILON).checkpoint().prediction());
    }

    @Test
    void pathsThatAreNeitherAFolderNorAFile() throws IOException {
        // a device (neither a regular file nor a directory)
        Path device = Path.of("/dev/null");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(device) && !Files.isRegularFile(device));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelFolder.open(device));
        assertEquals("model folder /dev/null is not a directory", e.getMessage());
        // openComponents takes a folder: a regular file is no folder of components
        Path file = Files.writeString(tmp.resolve("model.json"), "{}");
        e = assertThrows(IllegalArgumentException.class, () -> ModelFolder.openComponents(file));
        assertEquals("model folder " + file + " does not exist or is not a directory", e.getMessage());
    }
}
