package dev.panamadiffusion.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.config.ConfigJson;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Every case of reference/tokenizer/tokenizations.json (transformers' CLIPTokenizer with ftfy), exactly. */
class CLIPTokenizerReferenceTest {
    static Path dir;
    static JsonNode cases;

    @BeforeAll
    static void load() {
        String ref = System.getProperty("pd.reference");
        assertNotNull(ref, "system property pd.reference is not set");
        dir = Path.of(ref, "tokenizer");
        assertTrue(Files.isDirectory(dir), dir + " is missing");
        cases = ConfigJson.tree(dir.resolve("tokenizations.json"));
        assertTrue(cases.isArray() && cases.size() >= 5, "expected the reference cases in " + dir);
    }

    @Test
    void bareFolderMatchesEveryReferenceCase() {
        checkAll(CLIPTokenizer.load(dir)); // vocab.json + merges.txt only: SD 1.x defaults
    }

    @Test
    void transformersFolderWithConfigsMatchesEveryReferenceCase() {
        CLIPTokenizer tok = CLIPTokenizer.load(dir.resolve("hf_clip_tokenizer"));
        assertEquals(77, tok.maxLength());
        assertEquals(49407, tok.padTokenId());
        checkAll(tok);
    }

    private static void checkAll(CLIPTokenizer tok) {
        assertEquals(49408, tok.vocabSize());
        assertEquals(49406, tok.bosTokenId());
        assertEquals(49407, tok.eosTokenId());
        for (JsonNode c : cases) {
            String prompt = c.get("prompt").asText();
            assertArrayEquals(ints(c.get("hf_input_ids")), tok.encode(prompt), "ids of '" + prompt + "'");
            assertEquals(strings(c.get("tokens")), tok.tokenize(prompt), "tokens of '" + prompt + "'");
            int[] inner = tok.tokenIds(prompt);
            int[] simple = ints(c.get("simple_tokenizer_ids")); // openai/CLIP's SimpleTokenizer: bos, ids, eos
            assertEquals(inner.length + 2, simple.length, prompt);
            for (int i = 0; i < inner.length; i++) assertEquals(simple[i + 1], inner[i], prompt);
        }
    }

    @Test
    void differsFromTheTokenizerWithoutFtfyWhereTheReferenceSaysSo() {
        // tokenizations_noftfy.json: transformers' fallback (BasicTokenizer) splits punctuation and strips accents;
        // that is not the target, so on those prompts our ids must be the ftfy ones, not these.
        CLIPTokenizer tok = CLIPTokenizer.load(dir);
        JsonNode noFtfy = ConfigJson.tree(dir.resolve("tokenizations_noftfy.json"));
        int differing = 0;
        for (int i = 0; i < noFtfy.size(); i++) {
            String prompt = noFtfy.get(i).get("prompt").asText();
            assertEquals(cases.get(i).get("prompt").asText(), prompt);
            int[] without = ints(noFtfy.get(i).get("hf_input_ids"));
            int[] with = ints(cases.get(i).get("hf_input_ids"));
            if (java.util.Arrays.equals(without, with)) continue;
            differing++;
            assertFalse(java.util.Arrays.equals(without, tok.encode(prompt)), prompt);
        }
        assertTrue(differing >= 1);
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).intValue();
        return out;
    }

    static List<String> strings(JsonNode a) {
        List<String> out = new ArrayList<>();
        a.forEach(n -> out.add(n.asText()));
        return out;
    }
}
