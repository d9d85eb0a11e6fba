package dev.panamadiffusion.tokenizer;

import dev.panamadiffusion.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * How the tokenizer folder's files are read, on tiny hand-made vocabularies, against transformers'
 * {@code CLIPTokenizer}: merges.txt's first line is its header and only the first 49,152 - 256 - 2 merges count, a
 * merge's rank is its line (a repeated merge keeps its last), BPE merges the lowest-ranked pair everywhere, left to
 * right; tokens missing from vocab.json are the unk token; the added tokens split the text, longest match first;
 * {@code model_max_length} in [2, 4096] or transformers' "no limit".
 */
class CLIPTokenizerFilesTest {
    static final int BOS = 10, EOS = 11;
    static final String VOCAB = """
            {"<|startoftext|>": 10, "<|endoftext|>": 11, "a": 1, "b": 2, "a</w>": 3, "b</w>": 4, "ab": 5,
             "ab</w>": 6, "ba</w>": 7, "aa": 8, "<s>": 12, "</s>": 13, "<|endoftext|>!!": 14, "x</w>": 15, "!": 0}""";

    static Path folder(Path tmp, String merges) throws IOException {
        Path d = Files.createDirectories(tmp.resolve("tokenizer"));
        Files.writeString(d.resolve("vocab.json"), VOCAB);
        Files.writeString(d.resolve("merges.txt"), merges);
        return d;
    }

    static CLIPTokenizer load(Path tmp, String merges) throws IOException {
        return CLIPTokenizer.load(folder(tmp, merges));
    }

    @Test
    void firstLineOfMergesIsTheHeaderWhateverItSays(@TempDir Path tmp) throws IOException {
        // transformers reads merges.txt's lines [1:]: a file without "#version" loses its first merge
        assertEquals(List.of("a", "b</w>"), load(tmp, "a b</w>\n").tokenize("ab"));
        assertEquals(List.of("ab</w>"), load(tmp.resolve("2"), "#version: 0.2\na b</w>\n").tokenize("ab"));
    }

    @Test
    void lowestRankedPairMergesFirst(@TempDir Path tmp) throws IOException {
        // "aba" is a, b, a</w>: whichever of "a b" and "b a</w>" comes first in merges.txt wins
        assertEquals(List.of("a", "ba</w>"), load(tmp.resolve("1"), "#v\nb a</w>\na b\n").tokenize("aba"));
        assertEquals(List.of("ab", "a</w>"), load(tmp.resolve("2"), "#v\na b\nb a</w>\n").tokenize("aba"));
        // a repeated merge takes the rank of its last line, as dict(zip(merges, range(len(merges)))) does
        assertEquals(List.of("a", "ba</w>"), load(tmp.resolve("3"), "#v\na b\nb a</w>\na b\n").tokenize("aba"));
        // blank lines are skipped but keep their place in the ranks
        assertEquals(List.of("a", "ba</w>"), load(tmp.resolve("4"), "#v\nb a</w>\n\n  \na b\n").tokenize("aba"));
    }

    @Test
    void pairMergesEverywhereLeftToRightWithoutOverlap(@TempDir Path tmp) throws IOException {
        CLIPTokenizer t = load(tmp, "#v\na a\n");
        // a, a, a, a</w>: "a a" merges at 0, then 2 would overlap "a a</w>" (another pair): aa, a, a</w>
        assertEquals(List.of("aa", "a", "a</w>"), t.tokenize("aaaa"));
        assertEquals(List.of("aa", "aa", "a", "a</w>"), t.tokenize("aaaaaa"));
        // merges repeat until no pair has a rank: ab, then ab + ab</w> is not a merge
        CLIPTokenizer u = load(tmp.resolve("2"), "#v\na b\na b</w>\n");
        assertEquals(List.of("ab", "ab</w>"), u.tokenize("abab"));
        assertEquals(List.of("a</w>"), u.tokenize("a"), "a one-byte word is its symbol with </w>");
        // the same word twice: the second comes from the cache and must equal the first
        assertEquals(u.tokenize("abab b"), u.tokenize("abab b"));
        assertEquals(List.of("ab", "ab</w>", "b</w>"), u.tokenize("abab b"));
    }

    @Test
    void onlyTheFirst48894MergesCount(@TempDir Path tmp) throws IOException {
        // CLIPTokenizer: bpe_merges = merges[1 : 49152 - 256 - 2 + 1]
        StringBuilder filler = new StringBuilder("#version: 0.2\n");
        for (int i = 0; i < 48893; i++) filler.append('x').append(i).append(" y").append(i).append('\n');
        String kept = filler + "a b</w>\n";                 // merge number 48,894: the last one read
        String dropped = filler + "q q\na b</w>\n";          // merge number 48,895: ignored
        assertEquals(List.of("ab</w>"), load(tmp.resolve("1"), kept).tokenize("ab"));
        assertEquals(List.of("a", "b</w>"), load(tmp.resolve("2"), dropped).tokenize("ab"));
    }

    @Test
    void tokensMissingFromTheVocabularyAreUnk(@TempDir Path tmp) throws IOException {
        CLIPTokenizer t = load(tmp, "#v\n");
        // without merges "zz" is z, z</w>: neither is in vocab.json, so both are the unk token
        assertArrayEquals(new int[] {3, EOS, EOS, 4}, t.tokenIds("a zz b"));
        assertEquals(15, t.maxTokenId());
        assertEquals(15, t.vocabSize());
    }

    @Test
    void specialTokensComeFromTheConfigs(@TempDir Path tmp) throws IOException {
        Path d = folder(tmp, "#v\n");
        Files.writeString(d.resolve("tokenizer_config.json"), """
                {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "unk_token": null,
                 "pad_token": "<pad>"}""");
        CLIPTokenizer t = CLIPTokenizer.load(d);
        assertEquals(12, t.bosTokenId());
        assertEquals(13, t.eosTokenId());
        assertEquals(EOS, t.padTokenId(), "a pad token missing from the vocabulary is the unk token (default <|endoftext|>)");
        assertArrayEquals(new int[] {12, 3, 13, EOS, EOS}, java.util.Arrays.copyOf(t.encode("a"), 5));
        // <|startoftext|> is no added token here: CLIP's pattern and BPE cache still keep it whole
        assertEquals(List.of("x</w>", "<|startoftext|>"), t.tokenize("x<|startoftext|>"));

        // a single-file SD 2.x checkpoint comes without tokenizer files: the caller names its pad token
        assertEquals(0, CLIPTokenizer.load(d, "!").padTokenId());
        assertEquals(EOS, CLIPTokenizer.load(d, null).padTokenId());

        Files.writeString(d.resolve("tokenizer_config.json"), "{\"bos_token\": 7}");
        ConfigException e = assertThrows(ConfigException.class, () -> CLIPTokenizer.load(d));
        assertEquals("bos_token", e.field());
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"eos_token\": {\"content\": 7}}");
        assertEquals("eos_token", assertThrows(ConfigException.class, () -> CLIPTokenizer.load(d)).field());
        Files.writeString(d.resolve("tokenizer_config.json"), "{\"unk_token\": \"<nope>\"}");
        assertEquals("unk_token", assertThrows(ConfigException.class, () -> CLIPTokenizer.load(d)).field());
    }

    @Test
    void addedTokensSplitTheTextLongestMatchFirst(@TempDir Path tmp) throws IOException {
        Path d = folder(tmp, "#v\n");
        Files.writeString(d.resolve("special_tokens_map.json"), "{\"pad_token\": \"<|endoftext|>!!\"}");
        CLIPTokenizer t = CLIPTokenizer.load(d);
        assertEquals(14, t.padTokenId());
        assertEquals(List.of("a</w>", "<|endoftext|>!!", "b</w>", "<|endoftext|>", "x</w>"),
                t.tokenize("a<|endoftext|>!!b<|endoftext|>x"));
        Files.writeString(d.resolve("special_tokens_map.json"), "{\"pad_token\": \"\"}");
        assertEquals(List.of("a</w>", "b</w>"), CLIPTokenizer.load(d).tokenize("a b"), "an empty token splits nothing");
    }

    @Test
    void modelMaxLengthRange(@TempDir Path tmp) throws IOException {
        Path d = folder(tmp, "#v\n");
        Path config = d.resolve("tokenizer_config.json");
        Files.writeString(config, "{\"model_max_length\": 2}");
        assertArrayEquals(new int[] {BOS, EOS}, CLIPTokenizer.load(d).encode("a b"));
        Files.writeString(config, "{\"model_max_length\": 4096}");
        assertEquals(4096, CLIPTokenizer.load(d).maxLength());
        Files.writeString(config, "{\"model_max_length\": 1e15}");
        assertEquals(77, CLIPTokenizer.load(d).maxLength(), "1e15 and up: transformers' no-limit sentinel");
        Files.writeString(config, "{\"model_max_length\": null}");
        assertEquals(77, CLIPTokenizer.load(d).maxLength());
        for (String bad : List.of("1", "4097", "6.5", "999999999999999", "\"77\"", "true", "NaN")) {
            Files.writeString(config, "{\"model_max_length\": " + bad + "}");
            ConfigException e = assertThrows(ConfigException.class, () -> CLIPTokenizer.load(d), bad);
            assertEquals("model_max_length", e.field(), bad);
            // a non-number (NaN included: the reader accepts it as a JSON number) is not an integer at all
            boolean number = !bad.startsWith("\"") && !bad.equals("true") && !bad.equals("NaN");
            assertEquals(!number, e.getMessage().contains("must be an integer"), e.getMessage());
            assertEquals(number, e.getMessage().contains("is out of range [2, 4096]"), e.getMessage());
        }
    }

    @Test
    void missingOrOversizedFilesAreRefused(@TempDir Path tmp) throws IOException {
        Path d = folder(tmp, "#v\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CLIPTokenizer.load(d.resolve("vocab.json")));
        assertTrue(e.getMessage().contains("no such tokenizer folder"), e.getMessage());
        try (var f = new java.io.RandomAccessFile(d.resolve("merges.txt").toFile(), "rw")) {
            f.setLength(dev.panamadiffusion.config.ConfigJson.MAX_BYTES + 1); // sparse: nothing is written
        }
        e = assertThrows(ConfigException.class, () -> CLIPTokenizer.load(d));
        assertTrue(e.getMessage().contains("limit"), e.getMessage());
    }

    @Test
    void aMergesFileOfExactlyTheByteLimitIsRead(@TempDir Path tmp) throws IOException {
        Path d = folder(tmp, "#v\na b</w>\n");
        long limit = dev.panamadiffusion.config.ConfigJson.MAX_BYTES;
        try (var f = java.nio.channels.FileChannel.open(d.resolve("merges.txt"), java.nio.file.StandardOpenOption.APPEND)) {
            java.nio.ByteBuffer spaces = java.nio.ByteBuffer.allocate(1 << 20);
            java.util.Arrays.fill(spaces.array(), (byte) ' ');
            while (f.size() < limit) {
                spaces.clear().limit((int) Math.min(spaces.capacity(), limit - f.size()));
                f.write(spaces);
            }
        }
        assertEquals(limit, Files.size(d.resolve("merges.txt")));
        assertEquals(List.of("ab</w>"), CLIPTokenizer.load(d).tokenize("ab"), "the limit itself is allowed; trailing blanks are stripped");
    }

    @Test
    void vocabularyIdsAreNonNegativeIntegers(@TempDir Path tmp) throws IOException {
        Path d = folder(tmp, "#v\n");
        for (String bad : List.of("-1", "1.5", "\"1\"", "4294967296")) {
            Files.writeString(d.resolve("vocab.json"), "{\"<|startoftext|>\": 0, \"<|endoftext|>\": " + bad + "}");
            ConfigException e = assertThrows(ConfigException.class, () -> CLIPTokenizer.load(d), bad);
            assertEquals("<|endoftext|>", e.field(), bad);
        }
        Files.writeString(d.resolve("vocab.json"), "[1, 2]");
        ConfigException e = assertThrows(ConfigException.class, () -> CLIPTokenizer.load(d));
        assertTrue(e.getMessage().contains("not a JSON object of token ids"), e.getMessage());
        Files.writeString(d.resolve("vocab.json"), "{\"<|startoftext|>\": 0, \"<|endoftext|>\": 0}");
        assertEquals(0, CLIPTokenizer.load(d).eosTokenId(), "id 0 is a valid id");
    }
}
