package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.clip.CLIPTextModel;
import dev.panamadiffusion.tokenizer.CLIPTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link ClipConditioning}'s {@link PromptConditioning} contract on the demo model (a 2-layer CLIP text encoder with
 * CLIP's 49408 ids): the clip skip limit, the LoRA target, and a token id at the vocabulary's end refused.
 */
class ClipConditioningContractTest {
    static final Path DEMO = Path.of(System.getProperty("pd.home", "..")).resolve("models/pdiff-demo");
    static CpuBackend backend;
    static CLIPTokenizer tokenizer;

    @BeforeAll
    static void start() {
        backend = new CpuBackend(1);
        tokenizer = CLIPTokenizer.load(DEMO.resolve("tokenizer"));
    }

    @AfterAll
    static void close() { backend.close(); }

    @Test
    void clipSkipAndLoraTarget() {
        CLIPTextModel encoder = CLIPTextModel.load(DEMO.resolve("text_encoder"), backend, Arena.ofAuto());
        ClipConditioning c = new ClipConditioning(backend, tokenizer, encoder, DEMO.resolve("tokenizer"));
        assertEquals(2, c.maxClipSkip(), "num_hidden_layers 2 in the demo text encoder's config.json");
        assertSame(encoder, c.loraTextEncoder(), "lora_te_ keys patch the one text encoder");
        assertNull(c.loraTextEncoder2(), "one text encoder");
    }

    @Test
    void tokenIdsMustBeBelowTheVocabularySize() {
        Path dir = Path.of("some/tokenizer");
        int[] ids = ClipConditioning.tokenIds(tokenizer, 49408, "a cat", "prompt", dir);
        assertEquals(49406, ids[0], "<|startoftext|>");
        int eot = 49407; // <|endoftext|>, also the padding: the largest id in every row
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClipConditioning.tokenIds(tokenizer, eot, "a cat", "prompt", dir));
        assertEquals("the prompt has token id 49407, outside the text encoder's vocabulary of 49407 ids: " + dir
                + " does not belong to this text encoder", e.getMessage());
    }
}
