package dev.panamadiffusion.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * CLIP's byte-level BPE: a pre-token's UTF-8 bytes are mapped to printable characters ({@code bytes_to_unicode}),
 * the last one gets the {@code </w>} word-end mark, then the lowest-ranked adjacent pair is merged everywhere,
 * left to right, until no pair has a rank. Results are cached per pre-token. Thread-safe.
 */
final class Bpe {
    static final String WORD_END = "</w>";
    private static final int CACHE_LIMIT = 100_000;
    /** Byte value to the character that stands for it in vocab.json and merges.txt. */
    private static final char[] BYTE_TO_CHAR = bytesToUnicode();

    /** Merge rank by "first second" (symbols never contain a space: byte 0x20 is written 'Ġ'). */
    private final Map<String, Integer> ranks;
    private final Map<String, List<String>> cache = new ConcurrentHashMap<>();
    private final Map<String, List<String>> fixed;

    /** {@code ranks}: merge priority by "first second"; {@code fixed}: pre-tokens kept whole (the special tokens). */
    Bpe(Map<String, Integer> ranks, Map<String, List<String>> fixed) {
        this.ranks = ranks;
        this.fixed = Map.copyOf(fixed);
    }

    /** GPT-2/CLIP {@code bytes_to_unicode}: printable Latin-1 bytes stand for themselves, the rest map to 256+n. */
    static char[] bytesToUnicode() {
        char[] map = new char[256];
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) printable[b] = true;
        for (int b = 0xa1; b <= 0xac; b++) printable[b] = true;
        for (int b = 0xae; b <= 0xff; b++) printable[b] = true;
        int n = 0;
        for (int b = 0; b < 256; b++) map[b] = printable[b] ? (char) b : (char) (256 + n++);
        return map;
    }

    /** The byte-level form of {@code text}: one character per UTF-8 byte. */
    static String byteEncode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) out[i] = BYTE_TO_CHAR[bytes[i] & 0xff];
        return new String(out);
    }

    /** The BPE symbols of one byte-encoded pre-token; the last carries {@code </w>}. */
    List<String> encode(String token) {
        List<String> f = fixed.get(token);
        if (f != null) return f;
        List<String> cached = cache.get(token);
        if (cached != null) return cached;
        List<String> word = merge(token);
        if (cache.size() >= CACHE_LIMIT) cache.clear();
        cache.put(token, word);
        return word;
    }

    private List<String> merge(String token) {
        List<String> word = new ArrayList<>(token.length());
        for (int i = 0; i < token.length() - 1; i++) word.add(String.valueOf(token.charAt(i)));
        word.add(token.charAt(token.length() - 1) + WORD_END);
        while (word.size() > 1) {
            int best = Integer.MAX_VALUE;
            String first = null, second = null;
            for (int i = 0; i + 1 < word.size(); i++) {
                Integer r = ranks.get(word.get(i) + " " + word.get(i + 1));
                if (r != null && r < best) {
                    best = r;
                    first = word.get(i);
                    second = word.get(i + 1);
                }
            }
            if (first == null) break;
            List<String> next = new ArrayList<>(word.size());
            for (int i = 0; i < word.size(); i++) {
                if (i + 1 < word.size() && word.get(i).equals(first) && word.get(i + 1).equals(second)) {
                    next.add(first + second);
                    i++;
                } else {
                    next.add(word.get(i));
                }
            }
            word = next;
        }
        return List.copyOf(word);
    }
}
