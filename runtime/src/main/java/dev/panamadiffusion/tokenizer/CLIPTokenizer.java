package dev.panamadiffusion.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.config.ConfigException;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.config.ConfigReader;
import dev.panamadiffusion.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The CLIP BPE tokenizer of a Stable Diffusion model's {@code tokenizer/} folder, giving the ids that diffusers'
 * pipeline gets from {@code CLIPTokenizer(prompt, padding="max_length", max_length=77, truncation=True)}.
 *
 * <p>As Hugging Face's tokenizer does, the text is first split on the special tokens (bos, eos, unk, pad: with SD 2.x
 * the pad token is {@code "!"}, so every {@code !} becomes id 0), each other piece is cleaned like ftfy
 * ({@link TextFixer}), its whitespace collapsed, lower-cased, cut by CLIP's pattern and BPE-encoded. {@link #encode}
 * adds bos and eos, truncates to {@link #maxLength()} keeping eos last, and pads with the pad token.
 */
public final class CLIPTokenizer {
    /**
     * CLIP's pre-tokenizer. The reference compiles it with {@code regex.IGNORECASE}, which changes nothing on
     * lower-cased text (its simple case folding does not match {@code 'ſ} to {@code 's}, so no UNICODE_CASE here).
     */
    private static final Pattern PRE_TOKEN = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE);
    /** The reference keeps only this many merges (CLIP's 49,152-token vocabulary less bytes and specials). */
    private static final int MAX_MERGES = 49152 - 256 - 2;
    private static final int DEFAULT_MAX_LENGTH = 77;

    private final Map<String, Integer> encoder;
    private final Bpe bpe;
    private final List<String> specials; // split on before anything else, longest first
    private final int bosId, eosId, padId, unkId;
    private final int maxLength;

    private CLIPTokenizer(Map<String, Integer> encoder, Bpe bpe, SpecialTokens st, int maxLength) {
        this.encoder = encoder;
        this.bpe = bpe;
        this.bosId = requireId(encoder, st.bos, "bos_token");
        this.eosId = requireId(encoder, st.eos, "eos_token");
        this.unkId = requireId(encoder, st.unk, "unk_token");
        this.padId = encoder.getOrDefault(st.pad, unkId);
        Set<String> sp = new LinkedHashSet<>(List.of(st.bos, st.eos, st.unk, st.pad));
        List<String> sorted = new ArrayList<>(sp);
        sorted.removeIf(String::isEmpty);
        sorted.sort((a, b) -> b.length() - a.length());
        this.specials = List.copyOf(sorted);
        this.maxLength = maxLength;
    }

    private record SpecialTokens(String bos, String eos, String unk, String pad) {}

    /**
     * Reads {@code vocab.json} and {@code merges.txt} from {@code tokenizerDir}, and the special tokens and
     * {@code model_max_length} from {@code tokenizer_config.json} and {@code special_tokens_map.json} when present
     * (defaults: bos {@code <|startoftext|>}, eos, unk and pad {@code <|endoftext|>}, 77).
     */
    public static CLIPTokenizer load(Path tokenizerDir) {
        return load(tokenizerDir, null);
    }

    /**
     * As {@link #load(Path)}, with {@code padToken} (when not null) in place of the files' pad token: a single-file
     * SD 2.x checkpoint comes without tokenizer files and pads with {@code "!"}, as SD 2.x's own tokenizer does.
     */
    public static CLIPTokenizer load(Path tokenizerDir, String padToken) {
        if (!Files.isDirectory(tokenizerDir)) throw new IllegalArgumentException(tokenizerDir + ": no such tokenizer folder");
        Map<String, Integer> encoder = readVocab(tokenizerDir.resolve("vocab.json"));
        Map<String, Integer> ranks = readMerges(tokenizerDir.resolve("merges.txt"));

        String bos = "<|startoftext|>", eos = "<|endoftext|>", unk = "<|endoftext|>", pad = "<|endoftext|>";
        int maxLength = DEFAULT_MAX_LENGTH;
        Path config = tokenizerDir.resolve("tokenizer_config.json");
        Path map = tokenizerDir.resolve("special_tokens_map.json");
        // transformers reads tokenizer_config.json, then lets special_tokens_map.json override the special tokens
        for (Path p : List.of(config, map)) {
            if (!Files.isRegularFile(p)) continue;
            JsonNode root = ConfigJson.tree(p);
            bos = tokenContent(p, root, "bos_token", bos);
            eos = tokenContent(p, root, "eos_token", eos);
            unk = tokenContent(p, root, "unk_token", unk);
            pad = tokenContent(p, root, "pad_token", pad);
        }
        if (padToken != null) pad = padToken;
        if (Files.isRegularFile(config)) maxLength = maxLength(config, ConfigJson.tree(config).get("model_max_length"));
        Map<String, List<String>> fixed = new HashMap<>();
        fixed.put("<|startoftext|>", List.of("<|startoftext|>"));
        fixed.put("<|endoftext|>", List.of("<|endoftext|>"));
        try {
            return new CLIPTokenizer(encoder, new Bpe(ranks, fixed), new SpecialTokens(bos, eos, unk, pad), maxLength);
        } catch (ConfigException e) {
            throw e.in(tokenizerDir.resolve("vocab.json"));
        }
    }

    /** Longest model_max_length taken as a limit; larger values are transformers' "no limit" sentinel (1e30). */
    public static final int MAX_LENGTH = 4096;

    /**
     * {@code model_max_length}: an integer in [2, {@link #MAX_LENGTH}], or transformers' "no limit" (1e30, anything
     * from 1e15 up), which keeps CLIP's 77; absent or null keeps 77 too.
     */
    private static int maxLength(Path config, JsonNode len) {
        if (len == null || len.isNull()) return DEFAULT_MAX_LENGTH;
        if (!len.isNumber() || Double.isNaN(len.asDouble())) {
            throw new ConfigException(config, "model_max_length", "must be an integer, not " + ConfigReader.describe(len));
        }
        double v = len.isBigInteger() ? len.bigIntegerValue().doubleValue() : len.asDouble();
        if (v >= 1e15) return DEFAULT_MAX_LENGTH;
        if (v != Math.rint(v) || v < 2 || v > MAX_LENGTH) {
            throw new ConfigException(config, "model_max_length", len + " is out of range [2, " + MAX_LENGTH
                    + "] (or 1e30 for no limit)");
        }
        return (int) v;
    }

    /** Exactly {@link #maxLength()} ids: bos, the prompt's tokens (truncated), eos, then pad tokens. */
    public int[] encode(String text) {
        int[] tokens = tokenIds(text);
        int n = Math.min(tokens.length, maxLength - 2);
        int[] ids = new int[maxLength];
        Arrays.fill(ids, padId);
        ids[0] = bosId;
        System.arraycopy(tokens, 0, ids, 1, n);
        ids[n + 1] = eosId;
        return ids;
    }

    /** {@link #encode} of each text, as a host i64 tensor [B, maxLength]. */
    public Tensor encodeBatch(List<String> texts) {
        long[] values = new long[texts.size() * maxLength];
        for (int b = 0; b < texts.size(); b++) {
            int[] ids = encode(texts.get(b));
            for (int i = 0; i < maxLength; i++) values[b * maxLength + i] = ids[i];
        }
        return Tensor.fromLongs(values, texts.size(), maxLength); // [B, L]
    }

    /** The prompt's token ids without bos, eos, padding or truncation. */
    public int[] tokenIds(String text) {
        List<String> tokens = tokenize(text);
        int[] ids = new int[tokens.size()];
        for (int i = 0; i < ids.length; i++) ids[i] = encoder.getOrDefault(tokens.get(i), unkId);
        return ids;
    }

    /** The prompt's BPE tokens as vocab.json spells them ({@code "a</w>"}, {@code "cafÃ©</w>"}), no bos or eos. */
    public List<String> tokenize(String text) {
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < text.length(); ) {
            String special = specialAt(text, i);
            if (special == null) {
                i++;
                continue;
            }
            tokenizePiece(text.substring(start, i), out);
            out.add(special);
            i += special.length();
            start = i;
        }
        tokenizePiece(text.substring(start), out);
        return out;
    }

    private String specialAt(String text, int i) {
        for (String s : specials) {
            if (text.startsWith(s, i)) return s; // longest first
        }
        return null;
    }

    private void tokenizePiece(String piece, List<String> out) {
        if (piece.isEmpty()) return;
        String clean = TextFixer.pythonLower(TextFixer.whitespaceClean(TextFixer.fixText(piece)));
        Matcher m = PRE_TOKEN.matcher(clean);
        while (m.find()) out.addAll(bpe.encode(Bpe.byteEncode(m.group())));
    }

    public int vocabSize() { return encoder.size(); }

    /** The largest id this tokenizer can give (its vocabulary's and the padding id's). */
    public int maxTokenId() {
        int max = padId;
        for (int id : encoder.values()) max = Math.max(max, id);
        return max;
    }

    /** Ids per sequence, bos and eos included (77 for Stable Diffusion). */
    public int maxLength() { return maxLength; }

    public int bosTokenId() { return bosId; }

    public int eosTokenId() { return eosId; }

    /** 49407 ({@code <|endoftext|>}) for SD 1.x, 0 ({@code "!"}) for SD 2.x. */
    public int padTokenId() { return padId; }

    // ---- files --------------------------------------------------------------------------------------------

    private static Map<String, Integer> readVocab(Path file) {
        JsonNode root = ConfigJson.tree(file);
        if (!root.isObject()) throw new ConfigException(file, null, "not a JSON object of token ids");
        Map<String, Integer> encoder = new HashMap<>(root.size() * 2);
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().canConvertToInt() || !e.getValue().isIntegralNumber() || e.getValue().intValue() < 0) {
                throw new ConfigException(file, e.getKey(), "has id " + ConfigReader.describe(e.getValue())
                        + ", not a non-negative integer");
            }
            encoder.put(e.getKey(), e.getValue().intValue());
        }
        return encoder;
    }

    /** Merge ranks as transformers reads them: the first line (the #version header) skipped, at most 48,894. */
    private static Map<String, Integer> readMerges(Path file) {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": no such merges file");
        List<String> lines;
        try {
            long size = Files.size(file);
            if (size > ConfigJson.MAX_BYTES) {
                throw new ConfigException(file, null, size + " bytes is over the " + ConfigJson.MAX_BYTES + "-byte limit");
            }
            lines = Arrays.asList(Files.readString(file, StandardCharsets.UTF_8).strip().split("\n"));
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read", e);
        }
        Map<String, Integer> ranks = new HashMap<>(MAX_MERGES * 2);
        int end = Math.min(lines.size(), MAX_MERGES + 1);
        for (int i = 1; i < end; i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) continue;
            String[] parts = line.split("\\s+");
            if (parts.length != 2) {
                throw new IllegalArgumentException(file + ": line " + (i + 1) + " is not a merge of two symbols: '" + lines.get(i) + "'");
            }
            ranks.put(parts[0] + " " + parts[1], i - 1); // a repeated merge takes its last rank, as a dict does
        }
        return ranks;
    }

    /** A special token from a config: a string, or an AddedToken object with "content"; absent keeps {@code dflt}. */
    private static String tokenContent(Path file, JsonNode root, String key, String dflt) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return dflt;
        if (n.isTextual()) return n.asText();
        if (n.isObject() && n.path("content").isTextual()) return n.get("content").asText();
        throw new ConfigException(file, key, "is neither a string nor an object with \"content\": " + ConfigReader.describe(n));
    }

    private static int requireId(Map<String, Integer> encoder, String token, String what) {
        Integer id = encoder.get(token);
        if (id == null) throw new ConfigException(null, what, "'" + token + "' is not in the vocabulary");
        return id;
    }
}
