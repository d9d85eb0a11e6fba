package dev.panamadiffusion.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Our own cases on the real CLIP vocabulary. Expected tokens are worked out from the algorithm: ftfy's fixes,
 * whitespace collapse, lower case, CLIP's pattern (letter runs, single digits, punctuation runs, the seven
 * contractions), byte-level spelling (é is "Ã©", U+1F525 is "ðŁĶ¥") and vocab.json entries; the splits of words that
 * BPE cuts into several pieces follow merges.txt's ranks (checked against CLIP's Python bpe()).
 */
class CLIPTokenizerTest {
    static final int BOS = 49406, EOS = 49407;
    static Path dir;
    static CLIPTokenizer tok;
    static JsonNode vocab;

    @BeforeAll
    static void load() {
        String ref = System.getProperty("pd.reference");
        assertNotNull(ref, "system property pd.reference is not set");
        dir = Path.of(ref, "tokenizer");
        tok = CLIPTokenizer.load(dir);
        vocab = ConfigJson.tree(dir.resolve("vocab.json"));
    }

    /** Checks tokenize() against {@code expected} and encode() against their vocab ids with bos, eos and padding. */
    static void check(String prompt, String... expected) {
        assertEquals(List.of(expected), tok.tokenize(prompt), "tokens of '" + prompt + "'");
        int[] ids = new int[77];
        Arrays.fill(ids, EOS);
        ids[0] = BOS;
        for (int i = 0; i < expected.length; i++) {
            JsonNode id = vocab.get(expected[i]);
            assertNotNull(id, expected[i] + " not in vocab");
            ids[i + 1] = id.intValue();
        }
        assertArrayEquals(ids, tok.encode(prompt), "ids of '" + prompt + "'");
    }

    @Test
    void emptyAndWhitespaceOnlyPromptsAreBosEosPadding() {
        check("");
        check("   ");
        check(" \t\n\r\u00a0\u3000 "); // tab, newline, CR, no-break space, ideographic space
        assertEquals(EOS, tok.encode("")[1]);
        assertEquals(EOS, tok.encode("")[76]);
    }

    @Test
    void wordsAreLowerCasedAndWhitespaceCollapsed() {
        check("A  Photograph\tof\n\nAN Astronaut  ", "a</w>", "photograph</w>", "of</w>", "an</w>", "astronaut</w>");
    }

    @Test
    void numbersAreSingleDigits() {
        check("1024x768", "1</w>", "0</w>", "2</w>", "4</w>", "x</w>", "7</w>", "6</w>", "8</w>");
        check("3.14", "3</w>", ".</w>", "1</w>", "4</w>");
        check("x\u00b2", "x</w>", "\u00c2\u00b2</w>"); // '²' is a number (No): bytes C2 B2 written "Â²"
    }

    @Test
    void contractionsAndApostrophes() {
        check("it's", "it</w>", "'s</w>");
        check("they're we've i'll you'd i'm", "they</w>", "'re</w>", "we</w>", "'ve</w>", "i</w>", "'ll</w>",
                "you</w>", "'d</w>", "i</w>", "'m</w>");
        check("IT'S", "it</w>", "'s</w>"); // lower-cased before the pattern
        check("rock'n'roll", "rock</w>", "'</w>", "n</w>", "'</w>", "roll</w>"); // 'n is no contraction
    }

    @Test
    void curlyQuotesAreStraightenedAsFtfyDoes() {
        check("Don\u2019t", "don</w>", "'t</w>");
        check("\u201cquoted\u201d", "\"</w>", "quoted</w>", "\"</w>");
        assertArrayEquals(tok.encode("it's"), tok.encode("it\u2019s"));
    }

    @Test
    void accentsAreKeptAsUtf8BytesAndNormalizedToNfc() {
        check("Caf\u00e9", "caf\u00c3\u00a9</w>");
        check("Cafe\u0301", "caf\u00c3\u00a9</w>"); // e + combining acute composes to é
        check("na\u00efve r\u00e9sum\u00e9", "na", "\u00c3\u00af", "ve</w>", "r\u00c3\u00a9", "sum", "\u00c3\u00a9</w>");
    }

    @Test
    void otherScriptsSplitIntoByteLevelPieces() {
        // Greek has no merges beyond single bytes in this vocabulary: one symbol per UTF-8 byte
        check("\u03a3\u03bf\u03c6\u03af\u03b1", "\u00cf", "\u0125", "\u00ce", "\u00bf", "\u00cf", "\u0128", "\u00ce",
                "\u00af", "\u00ce", "\u00b1</w>");
        check("\u6771\u4eac", "\u00e6\u013f\u00b1", "\u00e4\u00ba", "\u00ac</w>"); // 東京
    }

    @Test
    void emojiRunsAreOnePreToken() {
        check("\ud83d\udd25", "\u00f0\u0141\u0136\u00a5</w>"); // 🔥: F0 9F 94 A5
        check("\ud83d\udd25\ud83d\udd25", "\u00f0\u0141\u0136\u00a5\u00f0\u0141\u0136\u00a5</w>");
        check("a \ud83d\ude02!", "a</w>", "\u00f0\u0141\u013a\u0124", "!</w>"); // 😂! is one punctuation run
    }

    @Test
    void punctuationRunsStayTogether() {
        check("8k uhd, (masterpiece:1.2)", "8</w>", "k</w>", "u", "hd</w>", ",</w>", "(</w>", "masterpiece</w>",
                ":</w>", "1</w>", ".</w>", "2</w>", ")</w>");
        check("wow!!!", "wow</w>", "!!!</w>");
    }

    @Test
    void htmlReferencesAreDecodedUnlessTheLineHasATag() {
        check("salt &amp; pepper", "salt</w>", "&</w>", "pepper</w>");
        check("&amp;amp;", "&</w>"); // ftfy repeats its fixes until nothing changes
        check("a < b &amp; c", "a</w>", "<</w>", "b</w>", "&</w>", "amp</w>", ";</w>", "c</w>");
    }

    @Test
    void widthFormsAndLigaturesAreUnfolded() {
        check("\uff21\uff22\uff23", "abc</w>"); // fullwidth ABC
        check("\ufb01re", "fire</w>");
    }

    @Test
    void specialTokensInTheTextKeepTheirIds() {
        check("a<|endoftext|>b", "a</w>", "<|endoftext|>", "b</w>");
        check("<|startoftext|>x", "<|startoftext|>", "x</w>");
    }

    @Test
    void longPromptsAreTruncatedWithEosLast() {
        String hundred = "a ".repeat(100);
        int[] ids = tok.encode(hundred);
        assertEquals(77, ids.length);
        assertEquals(BOS, ids[0]);
        for (int i = 1; i <= 75; i++) assertEquals(320, ids[i], "position " + i); // "a</w>"
        assertEquals(EOS, ids[76]);
        assertEquals(100, tok.tokenIds(hundred).length);

        int[] exact = tok.encode("a ".repeat(75)); // fills the 75 slots: no padding, nothing cut
        assertEquals(320, exact[75]);
        assertEquals(EOS, exact[76]);
        int[] one = tok.encode("a ".repeat(76));
        assertArrayEquals(exact, one);
    }

    @Test
    void encodeBatchIsI64RowsOfEncode() {
        Tensor t = tok.encodeBatch(List.of("a photograph of an astronaut riding a horse", ""));
        assertEquals(DType.I64, t.dtype());
        assertArrayEquals(new long[] {2, 77}, t.shape());
        long[] flat = t.toLongArray();
        int[] row0 = tok.encode("a photograph of an astronaut riding a horse");
        int[] row1 = tok.encode("");
        for (int i = 0; i < 77; i++) {
            assertEquals(row0[i], flat[i]);
            assertEquals(row1[i], flat[77 + i]);
        }
    }

    @Test
    void sd2TokenizerPadsWithExclamationMarkAndSplitsOnIt(@TempDir Path tmp) throws IOException {
        // stabilityai/stable-diffusion-2's tokenizer: pad_token "!" (id 0). transformers splits the text on special
        // tokens first, so every '!' in a prompt is id 0 on its own (diffusers issue #4153: "! !! !!!" -> six 0s).
        Path sd2 = copyVocab(tmp);
        Files.writeString(sd2.resolve("special_tokens_map.json"), """
                {"bos_token": {"content": "<|startoftext|>", "lstrip": false, "normalized": true, "rstrip": false,
                 "single_word": false}, "eos_token": "<|endoftext|>", "pad_token": "!", "unk_token": "<|endoftext|>"}
                """);
        Files.writeString(sd2.resolve("tokenizer_config.json"), """
                {"model_max_length": 77, "pad_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer"}
                """);
        CLIPTokenizer t = CLIPTokenizer.load(sd2);
        assertEquals(0, t.padTokenId()); // special_tokens_map.json wins over tokenizer_config.json
        int[] ids = t.encode("! !! !!!");
        assertEquals(BOS, ids[0]);
        for (int i = 1; i <= 6; i++) assertEquals(0, ids[i]);
        assertEquals(EOS, ids[7]);
        for (int i = 8; i < 77; i++) assertEquals(0, ids[i]);
        assertEquals(List.of("wow</w>", "!", "!", "!"), t.tokenize("wow!!!"));
        int[] horse = t.encode("a horse");
        assertArrayEquals(new int[] {BOS, 320, 4558, EOS, 0, 0}, Arrays.copyOf(horse, 6));
    }

    @Test
    void modelMaxLengthComesFromTheConfig(@TempDir Path tmp) throws IOException {
        Path d = copyVocab(tmp);
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"model_max_length\": 6}");
        CLIPTokenizer t = CLIPTokenizer.load(d);
        assertEquals(6, t.maxLength());
        assertArrayEquals(new int[] {BOS, 320, 8853, 539, 550, EOS}, t.encode("a photograph of an astronaut riding a horse"));
        assertArrayEquals(new int[] {BOS, 320, EOS, EOS, EOS, EOS}, t.encode("a"));

        // transformers' "no limit" placeholder (1e30) falls back to CLIP's 77 positions
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"model_max_length\": 1000000000000000019884624838656}");
        assertEquals(77, CLIPTokenizer.load(d).maxLength());
    }

    @Test
    void missingFilesAreClearErrors(@TempDir Path tmp) throws IOException {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CLIPTokenizer.load(tmp.resolve("nope")));
        assertTrue(e.getMessage().contains("nope"), e.getMessage());
        Files.writeString(tmp.resolve("vocab.json"), "{\"a</w>\": 0}");
        e = assertThrows(IllegalArgumentException.class, () -> CLIPTokenizer.load(tmp));
        assertTrue(e.getMessage().contains("merges.txt"), e.getMessage());
        Files.writeString(tmp.resolve("merges.txt"), "#version: 0.2\na b\n");
        e = assertThrows(IllegalArgumentException.class, () -> CLIPTokenizer.load(tmp));
        assertTrue(e.getMessage().contains("<|startoftext|>") && e.getMessage().contains("vocab.json"), e.getMessage());
        Files.writeString(tmp.resolve("merges.txt"), "#version: 0.2\na b c\n");
        e = assertThrows(IllegalArgumentException.class, () -> CLIPTokenizer.load(tmp));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
    }

    @Test
    void tokensSpellTheCleanedTextBack() {
        // byte-level BPE loses nothing: the tokens, </w> removed and bytes decoded, are the pre-tokens' text
        for (String s : List.of("Grüße aus Köln!", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
                "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c", "\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67 family",
                "\u0130stanbul", "ma\u00f1ana 12:30 \u2014 50%")) {
            StringBuilder joined = new StringBuilder();
            for (String t : tok.tokenize(s)) joined.append(t.replace("</w>", ""));
            String expected = TextFixer.pythonLower(TextFixer.whitespaceClean(TextFixer.fixText(s))).replace(" ", "");
            assertEquals(expected, byteDecode(joined.toString()), s);
        }
    }

    static String byteDecode(String symbols) {
        char[] map = Bpe.bytesToUnicode();
        byte[] out = new byte[symbols.length()];
        for (int i = 0; i < symbols.length(); i++) {
            int b = -1;
            for (int j = 0; j < 256; j++) if (map[j] == symbols.charAt(i)) b = j;
            assertTrue(b >= 0, "not a byte symbol: " + symbols.charAt(i));
            out[i] = (byte) b;
        }
        return new String(out, StandardCharsets.UTF_8);
    }

    static Path copyVocab(Path tmp) throws IOException {
        Path d = Files.createDirectories(tmp.resolve("tokenizer"));
        Files.copy(dir.resolve("vocab.json"), d.resolve("vocab.json"));
        Files.copy(dir.resolve("merges.txt"), d.resolve("merges.txt"));
        return d;
    }
}
