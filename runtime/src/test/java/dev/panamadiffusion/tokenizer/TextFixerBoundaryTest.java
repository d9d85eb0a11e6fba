package dev.panamadiffusion.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The edges of every character range {@link TextFixer} tests: each range's first and last member and the character on
 * either side of it, against the rule it implements (Python's {@code str.isspace}, {@code html.unescape}'s HTML5
 * replacement table, ftfy's control, width and quote sets).
 */
class TextFixerBoundaryTest {
    /** Every code point Python 3's {@code str.isspace()} is true for. */
    private static final Set<Integer> PYTHON_SPACES = Set.of(0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
            0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
            0x2028, 0x2029, 0x202f, 0x205f, 0x3000);

    @Test
    void isPythonSpaceIsExactlyPythonsSet() {
        for (int cp = 0; cp <= 0x10ffff; cp++) {
            assertEquals(PYTHON_SPACES.contains(cp), TextFixer.isPythonSpace(cp), Integer.toHexString(cp));
        }
    }

    private static String ref(int n) { return TextFixer.unescapeHtml("&#" + n + ";"); }

    @Test
    void numericReferencesAtTheEdgesOfHtml5sTable() {
        assertEquals("\ufffd", ref(0));
        assertEquals("", ref(1));
        assertEquals("", ref(8));
        assertEquals("\t", ref(9));
        assertEquals("\n", ref(0x0a));
        assertEquals("", ref(0x0b));
        assertEquals("\f", ref(0x0c));
        assertEquals("\r", ref(0x0d));
        assertEquals("", ref(0x0e));
        assertEquals("", ref(0x1f));
        assertEquals(" ", ref(0x20));
        assertEquals("~", ref(0x7e));
        assertEquals("", ref(0x7f));
        assertEquals("\u20ac", ref(0x80));
        assertEquals("\u0081", ref(0x81)); // a hole in Windows-1252: the C1 control itself
        assertEquals("\u0178", ref(0x9f));
        assertEquals("\u00a0", ref(0xa0));
        assertEquals("\ud7ff", ref(0xd7ff));
        assertEquals("\ufffd", ref(0xd800));
        assertEquals("\ufffd", ref(0xdfff));
        assertEquals("\ue000", ref(0xe000));
        assertEquals("\ufdcf", ref(0xfdcf));
        assertEquals("", ref(0xfdd0));
        assertEquals("", ref(0xfdef));
        assertEquals("\ufdf0", ref(0xfdf0));
        assertEquals("\ufffd", ref(0xfffd)); // the replacement character itself, decoded
        assertEquals("", ref(0xfffe));
        assertEquals("", ref(0xffff));
        assertEquals(Character.toString(0x10000), ref(0x10000));
        assertEquals("", ref(0x1fffe));
        assertEquals(Character.toString(0x10fffd), ref(0x10fffd));
        assertEquals("", ref(0x10ffff)); // the last code point is a noncharacter: dropped, not U+FFFD
        assertEquals("\ufffd", ref(0x110000));
        assertEquals("\ufffd", TextFixer.unescapeHtml("&#4294967361;")); // 2^32 + 65: not 'A' by truncation
        assertEquals("\ufffd", TextFixer.unescapeHtml("&#x100000041;"));
        assertEquals("A", TextFixer.unescapeHtml("&#X41;"));
        assertEquals("&#;", TextFixer.unescapeHtml("&#;"));
        assertEquals("&#x;", TextFixer.unescapeHtml("&#x;"));
        assertEquals("&bogus;", TextFixer.unescapeHtml("&bogus;"));
    }

    @Test
    void linesLongerThanAMillionCharactersAreCutIntoSegments() {
        // ftfy.fix_text fixes at most max_decode_length (10**6) characters at a time: a reference cut in two stays
        String cut = "x".repeat(999_998) + "&amp;";
        assertEquals(cut, TextFixer.fixText(cut));
        String whole = "x".repeat(999_995) + "&amp;";
        assertEquals("x".repeat(999_995) + "&", TextFixer.fixText(whole));
        // the second line is a segment of its own, measured from its start
        String twoLines = "y".repeat(600_000) + "\n" + "x".repeat(600_000) + "&amp;";
        assertEquals("y".repeat(600_000) + "\n" + "x".repeat(600_000) + "&", TextFixer.fixText(twoLines));
    }

    @Test
    void c1ControlsExactlyU0080ToU009f() {
        assertEquals("\u007f\u20ac\u0178\u00a0", TextFixer.fixC1Controls("\u007f\u0080\u009f\u00a0"));
        assertEquals("ab\u2122c", TextFixer.fixC1Controls("ab\u0099c"));
    }

    @Test
    void widthFormsExactlyUff01ToUffef() {
        assertEquals("\uff00!~", TextFixer.fixCharacterWidth("\uff00\uff01\uff5e"));
        assertEquals("\uff00!", TextFixer.fixCharacterWidth("\uff00\uff01"));
        assertEquals("\u25cb\ufff0", TextFixer.fixCharacterWidth("\uffee\ufff0")); // halfwidth white circle
        assertEquals("a ", TextFixer.fixCharacterWidth("a\u3000"));
        assertEquals("\u2fff\u3001", TextFixer.fixCharacterWidth("\u2fff\u3001"));
    }

    @Test
    void curlyQuotesExactlyU2018ToU201f() {
        assertEquals("\u2017''''\"\"\"\"\u2020'", TextFixer.uncurlQuotes("\u2017\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u2020\u02bc"));
        assertEquals("\u02bb\u02bd", TextFixer.uncurlQuotes("\u02bb\u02bd"));
    }

    @Test
    void controlCharactersExactlyFtfysSet() {
        StringBuilder in = new StringBuilder(), kept = new StringBuilder();
        for (int c = 0; c <= 0xffff; c++) {
            if (Character.isSurrogate((char) c)) continue;
            in.append((char) c);
            boolean drop = c <= 0x08 || c == 0x0b || (c >= 0x0e && c <= 0x1f) || c == 0x7f || (c >= 0x206a && c <= 0x206f)
                    || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffc);
            if (!drop) kept.append((char) c);
        }
        assertEquals(kept.toString(), TextFixer.removeControlChars(in.toString()));
        // the same set, spelled out at its edges
        assertEquals("\t\n\f\r \u007e\u0080\u2069\u2070\ufefe\uff00\ufff8\ufffd",
                TextFixer.removeControlChars("\u0000\u0008\t\n\u000b\f\r\u000e\u001f \u007e\u007f\u0080\u2069\u206a\u206f\u2070"
                        + "\ufefe\ufeff\uff00\ufff8\ufff9\ufffc\ufffd"));
    }

    @Test
    void surrogates() {
        assertEquals("a\ufffd", TextFixer.fixSurrogates("a\ud83d")); // high surrogate at the very end
        assertEquals("\ufffd\ufffd", TextFixer.fixSurrogates("\udd25\ud83d"));
        assertEquals("\ufffdx\ud83d\udd25", TextFixer.fixSurrogates("\udd25x\ud83d\udd25")); // pair after a fix is kept
        assertEquals("\ud83d\udd25\ufffd", TextFixer.fixSurrogates("\ud83d\udd25\udd25"));
    }

    @Test
    void terminalEscapes() {
        assertEquals("ab", TextFixer.removeTerminalEscapes("a\u001b[1;31mb"));
        assertEquals("a\u001bb", TextFixer.removeTerminalEscapes("a\u001bb"));
    }

    @Test
    void ligaturesAfterOtherText() {
        assertEquals("xIJij\u02bcnDZDzdzD\u017dD\u017ed\u017eLJLjljNJNjnjfffiflffiffl\u017ftst!",
                TextFixer.fixLatinLigatures("x\u0132\u0133\u0149\u01f1\u01f2\u01f3\u01c4\u01c5\u01c6\u01c7\u01c8\u01c9\u01ca\u01cb\u01cc"
                        + "\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06!"));
    }

    @Test
    void finalSigmaEdges() {
        assertEquals("\u03c3", TextFixer.pythonLower("\u03a3"));
        assertEquals("a\u03c2", TextFixer.pythonLower("A\u03a3")); // at the very end, after a cased letter
        assertEquals("a\u03c3b", TextFixer.pythonLower("A\u03a3B"));
        assertEquals("a\u03c3\u0301b", TextFixer.pythonLower("A\u03a3\u0301B")); // mark skipped after, then cased
        assertEquals("a\u03c2\u0301 ", TextFixer.pythonLower("A\u03a3\u0301 "));
        assertEquals("a'\u03c2", TextFixer.pythonLower("A'\u03a3")); // apostrophe (Single_Quote) skipped before
        assertEquals("\u02b0\u03c3", TextFixer.pythonLower("\u02b0\u03a3")); // modifier letter alone before: not cased
        assertEquals("\ud801\udc28\u03c2", TextFixer.pythonLower("\ud801\udc00\u03a3")); // supplementary cased letter before
        assertEquals("a\u03c3\ud801\udc28", TextFixer.pythonLower("A\u03a3\ud801\udc00")); // and after
        assertEquals("\u01c6\u03c2", TextFixer.pythonLower("\u01c5\u03a3")); // titlecase Dž is cased
        assertEquals("a\u00ad\u03c2", TextFixer.pythonLower("A\u00ad\u03a3")); // soft hyphen (Cf) skipped
        assertEquals("a\u20dd\u03c2", TextFixer.pythonLower("A\u20dd\u03a3")); // enclosing mark (Me) skipped
        assertEquals("a^\u03c2", TextFixer.pythonLower("A^\u03a3")); // modifier symbol (Sk) skipped
        assertEquals("a:\u03c2", TextFixer.pythonLower("A:\u03a3"));
        assertEquals("a-\u03c3", TextFixer.pythonLower("A-\u03a3"));
    }
}
