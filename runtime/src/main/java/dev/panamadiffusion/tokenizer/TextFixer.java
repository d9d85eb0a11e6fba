package dev.panamadiffusion.tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The text clean-up CLIP's tokenizer applies before BPE: {@code ftfy.fix_text} with its default configuration
 * (ftfy 6.x), then {@code whitespace_clean}.
 *
 * <p>Each fix is ftfy's, in ftfy's order, repeated until the text stops changing: HTML character references
 * (unless the line so far contained a {@code <}), C1 controls read as Windows-1252, Latin ligatures, halfwidth and
 * fullwidth forms, curly quotes made straight, line breaks, surrogates, terminal escapes, control characters, NFC.
 * ftfy's mojibake repair ({@code fix_encoding}, a heuristic that re-decodes text that looks like UTF-8 read as
 * Latin-1) is not done: it leaves well-formed text unchanged, and prompts are well-formed text.
 */
final class TextFixer {
    /** ftfy cuts lines longer than this into independent segments. */
    private static final int MAX_DECODE_LENGTH = 1_000_000;
    private static final Pattern HTML_ENTITY = Pattern.compile("&#?[0-9A-Za-z]{1,24};");
    private static final Pattern DECIMAL_REF = Pattern.compile("&#([0-9]+);");
    private static final Pattern HEX_REF = Pattern.compile("&#[xX]([0-9a-fA-F]+);");
    private static final Pattern ANSI_ESCAPE = Pattern.compile("\u001b\\[((?:\\d|;)*)([a-zA-Z])");
    private static final Map<String, String> HTML_ENTITIES = loadEntities();
    /** Windows-1252 for bytes 0x80-0x9F; its five holes decode to the same C1 code point ("sloppy" codec). */
    private static final String CP1252_C1 =
            "\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f"
            + "\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178";
    private static final String[] WIDTH_MAP = buildWidthMap();

    private TextFixer() {}

    /** {@code ftfy.fix_text(text)} for well-formed text: fixes each line on its own, as ftfy does. */
    static String fixText(String text) {
        StringBuilder out = new StringBuilder(text.length());
        boolean unescapeHtml = true; // ftfy's "auto": stays off for the rest of the text once a segment had '<'
        int pos = 0;
        while (pos < text.length()) {
            int end = text.indexOf('\n', pos) + 1;
            if (end == 0) end = text.length();
            if (end - pos > MAX_DECODE_LENGTH) end = pos + MAX_DECODE_LENGTH;
            String segment = text.substring(pos, end);
            if (segment.indexOf('<') >= 0) unescapeHtml = false;
            out.append(fixSegment(segment, unescapeHtml));
            pos = end;
        }
        return out.toString();
    }

    private static String fixSegment(String text, boolean unescapeHtml) {
        while (true) {
            String orig = text;
            if (unescapeHtml) text = unescapeHtml(text);
            text = fixC1Controls(text);
            text = fixLatinLigatures(text);
            text = fixCharacterWidth(text);
            text = uncurlQuotes(text);
            text = fixLineBreaks(text);
            text = fixSurrogates(text);
            text = removeTerminalEscapes(text);
            text = removeControlChars(text);
            text = Normalizer.normalize(text, Normalizer.Form.NFC);
            if (text.equals(orig)) return text;
        }
    }

    /** CLIP's {@code whitespace_clean}: runs of (Python) whitespace become one space, then the ends are trimmed. */
    static String whitespaceClean(String text) {
        StringBuilder out = new StringBuilder(text.length());
        boolean pendingSpace = false;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            if (isPythonSpace(cp)) {
                pendingSpace = true;
                continue;
            }
            if (pendingSpace && !out.isEmpty()) out.append(' ');
            pendingSpace = false;
            out.appendCodePoint(cp);
        }
        return out.toString();
    }

    /** Python's {@code str.isspace()}, which its {@code re} module's {@code \s} follows. */
    static boolean isPythonSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f
                || cp == 0x3000;
    }

    /**
     * Python's {@code str.lower()}: full lower-case mapping, and capital sigma becomes final sigma only after a cased
     * letter (case-ignorables skipped) and not before one. Java's {@code toLowerCase} decides final sigma by word
     * boundaries instead, which differs in strings like "3Σ".
     */
    static String pythonLower(String text) {
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            if (cp == 0x03a3) out.append(isFinalSigma(text, i) ? '\u03c2' : '\u03c3');
            else if (cp == 0x0130) out.append("i\u0307"); // the one unconditional multi-character lower case
            else out.appendCodePoint(Character.toLowerCase(cp));
            i += Character.charCount(cp);
        }
        return out.toString();
    }

    private static boolean isFinalSigma(String text, int at) {
        int j = at;
        int before = -1;
        while (j > 0) {
            int c = text.codePointBefore(j);
            j -= Character.charCount(c);
            if (!isCaseIgnorable(c)) {
                before = c;
                break;
            }
        }
        if (before < 0 || !isCased(before)) return false;
        for (j = at + 1; j < text.length(); ) {
            int c = text.codePointAt(j);
            j += Character.charCount(c);
            if (!isCaseIgnorable(c)) return !isCased(c);
        }
        return true;
    }

    private static boolean isCased(int cp) {
        return Character.isLowerCase(cp) || Character.isUpperCase(cp) || Character.isTitleCase(cp);
    }

    /** Unicode Case_Ignorable: Mn, Me, Cf, Lm, Sk, and Word_Break MidLetter, MidNumLet or Single_Quote. */
    private static boolean isCaseIgnorable(int cp) {
        int type = Character.getType(cp);
        if (type == Character.NON_SPACING_MARK || type == Character.ENCLOSING_MARK || type == Character.FORMAT
                || type == Character.MODIFIER_LETTER || type == Character.MODIFIER_SYMBOL) {
            return true;
        }
        return switch (cp) {
            case 0x27, 0x2e, 0x3a, 0xb7, 0x387, 0x55f, 0x5f4, 0x2018, 0x2019, 0x2024, 0x2027, 0xfe13, 0xfe52, 0xfe55,
                 0xff07, 0xff0e, 0xff1a -> true;
            default -> false;
        };
    }

    // ---- ftfy's fixes, in its order ----------------------------------------------------------------------

    /** Named references that end in ';' (and all-caps forms of lower-case ones), and numeric references. */
    static String unescapeHtml(String text) {
        if (text.indexOf('&') < 0) return text;
        Matcher m = HTML_ENTITY.matcher(text);
        StringBuilder sb = new StringBuilder(text.length());
        while (m.find()) m.appendReplacement(sb, Matcher.quoteReplacement(unescapeOne(m.group())));
        m.appendTail(sb);
        return sb.toString();
    }

    private static String unescapeOne(String ref) {
        String named = HTML_ENTITIES.get(ref.substring(1, ref.length() - 1));
        if (named != null) return named;
        if (!ref.startsWith("&#")) return ref;
        // ftfy keeps a numeric reference unless html.unescape consumes all of it, semicolon included
        Matcher dec = DECIMAL_REF.matcher(ref);
        Matcher hex = HEX_REF.matcher(ref);
        BigInteger num;
        if (dec.matches()) num = new BigInteger(dec.group(1));
        else if (hex.matches()) num = new BigInteger(hex.group(1), 16);
        else return ref;
        return numericCharRef(num);
    }

    /** Python's {@code html.unescape} for {@code &#num;}: HTML5's replacements for invalid references. */
    private static String numericCharRef(BigInteger big) {
        if (big.bitLength() > 31) return "\ufffd";
        int num = big.intValue();
        if (num == 0) return "\ufffd";
        if (num == 0x0d) return "\r";
        if (num >= 0x80 && num <= 0x9f) return String.valueOf(CP1252_C1.charAt(num - 0x80));
        if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return "\ufffd";
        if ((num >= 0x01 && num <= 0x08) || num == 0x0b || (num >= 0x0e && num <= 0x1f) || num == 0x7f
                || (num >= 0xfdd0 && num <= 0xfdef) || (num & 0xfffe) == 0xfffe) {
            return "";
        }
        return Character.toString(num);
    }

    /** C1 control characters read as the Windows-1252 characters they most likely were. */
    static String fixC1Controls(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c >= 0x80 && c <= 0x9f) {
                if (sb == null) sb = new StringBuilder(text).delete(i, text.length());
                sb.append(CP1252_C1.charAt(c - 0x80));
            } else if (sb != null) {
                sb.append(c);
            }
        }
        return sb == null ? text : sb.toString();
    }

    static String fixLatinLigatures(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            String r = switch (c) {
                case '\u0132' -> "IJ";
                case '\u0133' -> "ij";
                case '\u0149' -> "\u02bcn";
                case '\u01f1' -> "DZ";
                case '\u01f2' -> "Dz";
                case '\u01f3' -> "dz";
                case '\u01c4' -> "D\u017d";
                case '\u01c5' -> "D\u017e";
                case '\u01c6' -> "d\u017e";
                case '\u01c7' -> "LJ";
                case '\u01c8' -> "Lj";
                case '\u01c9' -> "lj";
                case '\u01ca' -> "NJ";
                case '\u01cb' -> "Nj";
                case '\u01cc' -> "nj";
                case '\ufb00' -> "ff";
                case '\ufb01' -> "fi";
                case '\ufb02' -> "fl";
                case '\ufb03' -> "ffi";
                case '\ufb04' -> "ffl";
                case '\ufb05' -> "\u017ft";
                case '\ufb06' -> "st";
                default -> null;
            };
            if (r != null && sb == null) sb = new StringBuilder(text).delete(i, text.length());
            if (sb != null) {
                if (r != null) sb.append(r);
                else sb.append(c);
            }
        }
        return sb == null ? text : sb.toString();
    }

    /** Halfwidth and fullwidth forms (U+FF01-U+FFEF) to their NFKC forms; the ideographic space to a space. */
    static String fixCharacterWidth(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            String r = c == '\u3000' ? " " : c >= 0xff01 && c <= 0xffef ? WIDTH_MAP[c - 0xff01] : null;
            if (r != null && sb == null) sb = new StringBuilder(text).delete(i, text.length());
            if (sb != null) {
                if (r != null) sb.append(r);
                else sb.append(c);
            }
        }
        return sb == null ? text : sb.toString();
    }

    static String uncurlQuotes(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            char r = c == '\u02bc' || (c >= '\u2018' && c <= '\u201b') ? '\''
                    : c >= '\u201c' && c <= '\u201f' ? '"' : c;
            if (r != c && sb == null) sb = new StringBuilder(text).delete(i, text.length());
            if (sb != null) sb.append(r);
        }
        return sb == null ? text : sb.toString();
    }

    static String fixLineBreaks(String text) {
        return text.replace("\r\n", "\n").replace('\r', '\n').replace('\u2028', '\n').replace('\u2029', '\n')
                .replace('\u0085', '\n');
    }

    /** Lone surrogates become U+FFFD (Java strings already pair the valid ones). */
    static String fixSurrogates(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean pair = Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1));
            if (pair) {
                if (sb != null) sb.append(c).append(text.charAt(i + 1));
                i++;
                continue;
            }
            boolean lone = Character.isSurrogate(c);
            if (lone && sb == null) sb = new StringBuilder(text).delete(i, text.length());
            if (sb != null) sb.append(lone ? '\ufffd' : c);
        }
        return sb == null ? text : sb.toString();
    }

    static String removeTerminalEscapes(String text) {
        return text.indexOf('\u001b') < 0 ? text : ANSI_ESCAPE.matcher(text).replaceAll("");
    }

    /** ftfy's unwanted controls: C0 except tab, LF, FF, CR; DEL; U+206A-206F; BOM; U+FFF9-FFFC. */
    static String removeControlChars(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean drop = (c <= 0x08) || c == 0x0b || (c >= 0x0e && c <= 0x1f) || c == 0x7f
                    || (c >= 0x206a && c <= 0x206f) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffc);
            if (drop && sb == null) sb = new StringBuilder(text).delete(i, text.length());
            if (sb != null && !drop) sb.append(c);
        }
        return sb == null ? text : sb.toString();
    }

    // ---- tables ------------------------------------------------------------------------------------------

    private static String[] buildWidthMap() {
        String[] map = new String[0xffef - 0xff01 + 1];
        for (int c = 0xff01; c <= 0xffef; c++) {
            String s = String.valueOf((char) c);
            String alt = Normalizer.normalize(s, Normalizer.Form.NFKC);
            if (!alt.equals(s)) map[c - 0xff01] = alt;
        }
        return map;
    }

    private static Map<String, String> loadEntities() {
        String resource = "html_entities.tsv";
        Map<String, String> map = new HashMap<>(4096);
        try (InputStream in = TextFixer.class.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("missing resource " + resource + " next to " + TextFixer.class.getName());
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isEmpty() || line.startsWith("#")) continue;
                int tab = line.indexOf('\t');
                StringBuilder value = new StringBuilder();
                for (String hex : line.substring(tab + 1).split(" ")) value.appendCodePoint(Integer.parseInt(hex, 16));
                map.put(line.substring(0, tab), value.toString());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resource, e);
        }
        return map;
    }
}
