package dev.panamadiffusion.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The scalars {@link LdmYaml} reads, by YAML's rules for the subset LDM configs use: a comment starts at a {@code #}
 * at the line's start or after a blank, outside quotes; quotes around a value go; a key less or equally indented
 * closes the mappings it was nested in; sequences and document markers carry no scalars it reads.
 */
class LdmYamlTest {
    private static LdmYaml parse(String... lines) { return LdmYaml.parse(Path.of("v2-inference-v.yaml"), List.of(lines)); }

    @Test
    void commentsStartAtAHashAfterABlankOutsideQuotes() {
        LdmYaml y = parse("# a whole-line comment: not: a key",
                "a: 1 # trailing",
                "b: x#y",
                "c: 'a # b'",
                "d: \"say # no\"",
                "e: \"it's\" # quoted apostrophe",
                "f: 'say \"#\"' # mixed",
                "#g: 7",
                "h: v #w",
                "k: v# w");
        assertEquals("1", y.get("a"));
        assertEquals("x#y", y.get("b"), "a # inside a word is text");
        assertEquals("a # b", y.get("c"));
        assertEquals("say # no", y.get("d"));
        assertEquals("it's", y.get("e"));
        assertEquals("say \"#\"", y.get("f"));
        assertNull(y.get("#g"));
        assertNull(y.get("g"));
        assertNull(y.get("# a whole-line comment"));
        assertEquals("v", y.get("h"), "the blank before the # makes it a comment, whatever follows");
        assertEquals("v# w", y.get("k"), "a # right after text is text, whatever follows");
    }

    @Test
    void aColonAtTheStartOfALineIsAnEmptyKey() {
        // YAML's ": value" is a mapping entry with an empty key, not a line without a key
        LdmYaml y = parse(": top", "a:", "  : nested");
        assertEquals("top", y.get(""));
        assertEquals("nested", y.get("a."));
    }

    @Test
    void quotesAroundAValueAreRemovedOnlyInPairs() {
        LdmYaml y = parse("a: \"v\"", "b: 'v'", "c: \"v'", "d: '", "e: \"\"", "f: v\"", "g: \"v");
        assertEquals("v", y.get("a"));
        assertEquals("v", y.get("b"));
        assertEquals("\"v'", y.get("c"));
        assertEquals("'", y.get("d"), "one quote is no pair");
        assertEquals("", y.get("e"));
        assertEquals("v\"", y.get("f"));
        assertEquals("\"v", y.get("g"));
    }

    @Test
    void indentationNestsAndEqualIndentationCloses() {
        LdmYaml y = parse("---",
                "model:",
                "  params:",
                "    scale_factor: 0.18215",
                "    unet_config:",
                "      target: ldm.UNetModel",
                "  - list item: 3",
                "    channel_mult:",
                "    - 1",
                "    - 2",
                "    context_dim: 1024",
                "  top: 5",
                "other: 6",
                "no colon here",
                "",
                "   ");
        assertEquals("0.18215", y.get("model.params.scale_factor"));
        assertEquals("ldm.UNetModel", y.get("model.params.unet_config.target"));
        // channel_mult's value is the sequence below it, so context_dim (as indented) is its sibling
        assertEquals("1024", y.get("model.params.context_dim"));
        assertNull(y.get("model.params.channel_mult.context_dim"));
        assertEquals("5", y.get("model.top"));
        assertEquals("6", y.get("other"));
        assertNull(y.get("model.params.unet_config.context_dim"));
        assertNull(y.get("model.params.list item"));
        assertNull(y.get("no colon here"));
    }

    @Test
    void integersArePositive() {
        LdmYaml y = parse("one: 1", "zero: 0", "neg: -3", "word: four", "big: 4294967296");
        assertEquals(1, y.integer("one"));
        assertNull(y.integer("absent"));
        for (String bad : List.of("zero", "neg", "word", "big")) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> y.integer(bad), bad);
            assertTrue(e.getMessage().contains(bad + ": '") && e.getMessage().contains("v2-inference-v.yaml"), e.getMessage());
        }
    }

    @Test
    void theConfigBesideACheckpointSharesItsName(@TempDir Path tmp) throws IOException {
        Path ckpt = tmp.resolve("model.v2.safetensors");
        assertNull(LdmYaml.besides(ckpt));
        Files.writeString(tmp.resolve("model.v2.yml"), "k: yml\n");
        assertEquals("yml", LdmYaml.besides(ckpt).get("k"));
        Files.writeString(tmp.resolve("model.v2.yaml"), "k: yaml\n");
        assertEquals("yaml", LdmYaml.besides(ckpt).get("k"), ".yaml is looked for first");
        assertEquals(tmp.resolve("model.v2.yaml"), LdmYaml.besides(ckpt).file());
        // a name whose only dot starts it has no extension to replace
        Files.writeString(tmp.resolve(".hidden.yaml"), "k: hidden\n");
        assertEquals("hidden", LdmYaml.besides(tmp.resolve(".hidden")).get("k"));
        assertNull(LdmYaml.besides(tmp.resolve("model.safetensors")));
    }

    @Test
    void oversizedConfigsAreRefused(@TempDir Path tmp) throws IOException {
        Path big = tmp.resolve("big.yaml");
        try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(LdmYaml.MAX_BYTES + 1); // sparse: nothing is written
        }
        CheckpointException e = assertThrows(CheckpointException.class, () -> LdmYaml.read(big));
        assertTrue(e.getMessage().contains("bytes"), e.getMessage());
        Path edge = tmp.resolve("edge.yaml");
        Files.writeString(edge, "k: v\n" + " ".repeat((int) LdmYaml.MAX_BYTES - 5));
        assertEquals("v", LdmYaml.read(edge).get("k"), "exactly the limit is read");
    }
}
