package dev.panamadiffusion.pipeline;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.models.TinyFolderFixture;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PipelineLoader's consistency checks on model folders that diffusers would load but this runtime must refuse (a
 * refiner flag on an SD 1.x folder, a tokenizer with ids past the text encoder's embeddings), and the limits it reads
 * from the configs alone (default size = sample_size × the VAE factor, clip-skip bound from num_hidden_layers).
 */
class PipelineLoaderChecksTest extends TinyFolderFixture {
    private Path copyOf(String set) throws IOException {
        Path src = SdxlPipelineTest.referenceModel(set);
        Path dest = tmp.resolve(set);
        ReferenceModelFolder.copyDir(src, dest);
        return dest;
    }

    /** Adds a token with {@code id} to {@code vocab.json} of the tokenizer folder {@code tok}. */
    private static void addToken(Path tok, String token, int id) throws IOException {
        Path vocab = tok.resolve("vocab.json");
        ObjectNode v = (ObjectNode) JSON.readTree(vocab.toFile());
        assertFalse(v.has(token));
        v.put(token, id);
        JSON.writeValue(vocab.toFile(), v);
    }

    @Test
    void aRefinerFlagWithoutASecondTextEncoderIsRefused() throws IOException {
        Path m = tiny();
        Path index = m.resolve("model_index.json");
        ObjectNode root = (ObjectNode) JSON.readTree(index.toFile());
        root.put("requires_aesthetics_score", true);
        JSON.writeValue(index.toFile(), root);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StableDiffusionPipeline.load(m, backend).close());
        assertTrue(e.getMessage().contains("sets requires_aesthetics_score (an SDXL refiner) but lists no text_encoder_2"), e.getMessage());
    }

    @Test
    void aTokenizerIdOnePastTheEmbeddingsIsRefused() throws IOException {
        Path m = tiny();
        // the tiny text encoder has vocab_size 1000 (ids 0..999): id 1000 has no embedding row
        addToken(m.resolve("tokenizer"), "zzzz</w>", 1000);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StableDiffusionPipeline.load(m, backend).close());
        assertTrue(e.getMessage().contains("the tokenizer gives token ids up to 1000 but the text encoder has embeddings for 1000 ids"),
                e.getMessage());
    }

    @Test
    void sdxlSecondTokenizerIdPastTheEmbeddingsIsRefused() throws IOException {
        Path m = copyOf("sdxl");
        addToken(m.resolve("tokenizer_2"), "zzzz</w>", 1000);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StableDiffusionPipeline.load(m, backend).close());
        assertTrue(e.getMessage().contains("the tokenizer gives token ids up to 1000 but the text encoder has embeddings for 1000 ids"),
                e.getMessage());
    }

    @Test
    void modelLimitsOfAnSd1Folder() throws IOException {
        RequestLimits.Model limits = PipelineLoader.modelLimits(ModelFolder.open(tiny()));
        // unet sample_size 8 × 2 (the tiny VAE has two blocks: 2^(2 − 1))
        assertEquals(16, limits.defaultWidth());
        assertEquals(16, limits.defaultHeight());
        assertEquals(2, limits.textLayers(), "the tiny text encoder's num_hidden_layers");
        assertFalse(limits.sdxl());
        assertFalse(limits.refiner());
    }

    @Test
    void modelLimitsOfSdxlBaseAndRefiner() {
        // both text encoders have 3 layers; SDXL takes hidden_states[-(k + 2)], so clip skip goes up to 3 − 1
        RequestLimits.Model base = PipelineLoader.modelLimits(ModelFolder.open(SdxlPipelineTest.referenceModel("sdxl")));
        assertEquals(2, base.textLayers());
        assertTrue(base.sdxl());
        assertFalse(base.refiner());
        // the refiner has text_encoder_2 alone (text_encoder null in its index): its bound comes from that encoder
        RequestLimits.Model refiner = PipelineLoader.modelLimits(ModelFolder.open(SdxlPipelineTest.referenceModel("sdxl-refiner")));
        assertEquals(2, refiner.textLayers());
        assertTrue(refiner.sdxl());
        assertTrue(refiner.refiner());
    }
}
