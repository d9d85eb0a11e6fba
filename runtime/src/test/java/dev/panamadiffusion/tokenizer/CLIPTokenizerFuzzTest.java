package dev.panamadiffusion.tokenizer;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.code_intelligence.jazzer.mutation.annotation.NotNull;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Coverage-guided fuzzing of the CLIP tokenizer on arbitrary Unicode (Jazzer), with the real CLIP vocabulary: every
 * text encodes to exactly 77 ids, bos first, each id in the vocabulary, and every BPE token is in vocab.json or is
 * counted as unknown. A plain build runs the committed inputs under {@code CLIPTokenizerFuzzTestInputs/};
 * {@code JAZZER_FUZZ=1} fuzzes.
 */
class CLIPTokenizerFuzzTest {
    private static final CLIPTokenizer TOKENIZER = CLIPTokenizer.load(
            Path.of(System.getProperty("pd.reference", "../../shared/reference"), "tokenizer"));

    @FuzzTest(maxDuration = "2m")
    void encode(@NotNull String text) {
        int[] ids = TOKENIZER.encode(text);
        assertEquals(TOKENIZER.maxLength(), ids.length);
        assertEquals(TOKENIZER.bosTokenId(), ids[0]);
        boolean eos = false;
        for (int id : ids) {
            assertTrue(id >= 0 && id < TOKENIZER.vocabSize(), "id " + id);
            eos |= id == TOKENIZER.eosTokenId();
        }
        assertTrue(eos, "eos is always kept");
        List<String> tokens = TOKENIZER.tokenize(text);
        assertEquals(tokens.size(), TOKENIZER.tokenIds(text).length);
    }
}
