package dev.panamadiffusion.tokenizer;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** ftfy.fix_text's fixes one at a time, with expectations from ftfy's rules and docstrings. */
class TextFixerTest {
    @Test
    void cleanTextIsUnchanged() {
        String s = "a photograph of an astronaut riding a horse, 8k (masterpiece:1.2) caf\u00e9 \u6771\u4eac \ud83d\udd25";
        assertEquals(s, TextFixer.fixText(s));
    }

    @Test
    void htmlReferences() {
        assertEquals("salt & pepper", TextFixer.fixText("salt &amp; pepper"));
        assertEquals("& x", TextFixer.fixText("&amp;amp; x")); // repeated until stable
        assertEquals("<b", TextFixer.fixText("&amp;lt;b"));
        assertEquals("a < b &amp;", TextFixer.fixText("a < b &amp;")); // looks like HTML: left alone
        assertEquals("P\u00c9REZ", TextFixer.fixText("P&EACUTE;REZ")); // all-caps form of a lower-case name
        assertEquals("this&not that", TextFixer.fixText("this&not that")); // no semicolon: not decoded
        assertEquals("\u00a0x", TextFixer.fixText("&nbsp;x"));
        assertEquals("\u2713", TextFixer.fixText("&check;"));
        assertEquals("AA\ufffd\u20ac&#12a;", TextFixer.fixText("&#x41;&#65;&#0;&#128;&#12a;"));
        assertEquals("x\ufffdy", TextFixer.fixText("x&#99999999999999999999;y"));
        assertEquals("xy", TextFixer.fixText("x&#1;y")); // a control character: dropped
    }

    @Test
    void htmlDecodingStopsForTheRestOfTheTextAfterALineWithATag() {
        assertEquals("&\n<b> &amp;\n&amp;", TextFixer.fixText("&amp;\n<b> &amp;\n&amp;"));
    }

    @Test
    void c1ControlsAreWindows1252() {
        assertEquals("\u2026x", TextFixer.fixText("\u0085x"));
        assertEquals("\"hi\"", TextFixer.fixText("\u0093hi\u0094")); // then uncurled
        assertEquals("\u20ac5", TextFixer.fixText("\u00805"));
    }

    @Test
    void ligaturesWidthsAndQuotes() {
        assertEquals("fluffiest", TextFixer.fixText("flu\ufb03est"));
        assertEquals("LOUD NOISES", TextFixer.fixText("\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33"));
        assertEquals("\u30ac", TextFixer.fixText("\uff76\uff9e")); // halfwidth ka + voiced mark compose under NFC
        assertEquals("don't \"quote\" 'x'", TextFixer.fixText("don\u2019t \u201cquote\u201d \u2018x\u2019"));
        assertEquals("it's", TextFixer.fixText("it\u02bcs"));
    }

    @Test
    void lineBreaksControlsEscapesSurrogates() {
        assertEquals("a\nb\nc\nd", TextFixer.fixText("a\r\nb\rc\u2028d"));
        assertEquals("red", TextFixer.fixText("\u001b[31mred\u001b[0m"));
        assertEquals("ab\tc", TextFixer.fixText("\ufeffa\u0000b\u0007\tc\u007f"));
        assertEquals("x\ufffdy", TextFixer.fixText("x\ud800y"));
        assertEquals("\ud83d\udd25", TextFixer.fixText("\ud83d\udd25"));
    }

    @Test
    void nfc() {
        assertEquals("\u00e9", TextFixer.fixText("e\u0301"));
        assertEquals("\u1e69", TextFixer.fixText("s\u0323\u0307"));
    }

    @Test
    void whitespaceCleanFollowsPythonsIsspace() {
        assertEquals("a b c", TextFixer.whitespaceClean("  a \t\n b\u00a0\u2003\u001c c \u3000"));
        assertEquals("", TextFixer.whitespaceClean(" \n\t "));
        assertEquals("a\u200bb", TextFixer.whitespaceClean("a\u200bb")); // zero-width space is not whitespace
    }

    @Test
    void lowerCaseFollowsPythonsFinalSigmaRule() {
        assertEquals("\u03bf\u03b4\u03bf\u03c2", TextFixer.pythonLower("\u039f\u0394\u039f\u03a3")); // word end: ς
        assertEquals("\u03c3", TextFixer.pythonLower("\u03a3")); // nothing cased before: σ
        assertEquals("3\u03c3", TextFixer.pythonLower("3\u03a3"));
        assertEquals("\u01c63\u03c3\u20ac", TextFixer.pythonLower("\u01c43\u03a3\u20ac")); // Java's toLowerCase says ς
        assertEquals("\u03b1\u03c2.", TextFixer.pythonLower("\u0391\u03a3.")); // '.' is case-ignorable
        assertEquals("\u03b1\u03c3.\u03b2", TextFixer.pythonLower("\u0391\u03a3.\u0392"));
        assertEquals("\u03b1\u0301\u03c2", TextFixer.pythonLower("\u0391\u0301\u03a3")); // combining mark skipped
        assertEquals("i\u0307x", TextFixer.pythonLower("\u0130x"));
        assertEquals("k", TextFixer.pythonLower("\u212a")); // Kelvin sign
    }
}
