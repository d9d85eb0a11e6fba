package dev.panamadiffusion.verify;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;


/**
 * Assembles a complete, runnable diffusers model folder from a reference set's tiny components
 * ({@code <reference>/tiny/{text_encoder,unet,vae,scheduler_*}}, laid out as in docs/VERIFY.md) with one of three
 * tokenizers and a {@code model_index.json}: what the end-to-end tests, the engine and server tests and the server load
 * test run on. {@code pdiff} never needs it for real models.
 */
public final class ReferenceModelFolder {
    private static final ObjectMapper JSON = new ObjectMapper().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS.mappedFeature());

    public enum Tokenizer {
        /** A generated 1,000-id byte-level BPE (512 byte symbols, 486 merges, the two specials at 998 and 999). */
        TINY_BPE,
        /** The real CLIP vocabulary with ids folded as the reference data did ({@code t % 997 + 1}, specials 998/999). */
        FOLDED_CLIP,
        /** The real CLIP vocabulary (49,408 ids): too large for the tiny text encoder. */
        REAL_CLIP
    }

    private ReferenceModelFolder() {}

    /** A model folder in {@code dest} whose scheduler is {@code scheduler_<scheduler>/} of the reference. */
    public static Path assemble(Path reference, Path dest, String scheduler, Tokenizer tokenizer) throws IOException {
        Path tiny = reference.resolve("tiny");
        Files.createDirectories(dest);
        for (String c : List.of("text_encoder", "unet", "vae")) copyDir(tiny.resolve(c), dest.resolve(c));
        Path sched = dest.resolve("scheduler");
        Files.createDirectories(sched);
        Path config = tiny.resolve("scheduler_" + scheduler).resolve("scheduler_config.json");
        Files.copy(config, sched.resolve("scheduler_config.json"));
        String schedulerClass = JSON.readTree(config.toFile()).get("_class_name").asText();
        Map<String, Object> index = new LinkedHashMap<>();
        index.put("_class_name", "StableDiffusionPipeline");
        index.put("_diffusers_version", "0.27.2");
        index.put("scheduler", List.of("diffusers", schedulerClass));
        index.put("text_encoder", List.of("transformers", "CLIPTextModel"));
        index.put("tokenizer", List.of("transformers", "CLIPTokenizer"));
        index.put("unet", List.of("diffusers", "UNet2DConditionModel"));
        index.put("vae", List.of("diffusers", "AutoencoderKL"));
        JSON.writerWithDefaultPrettyPrinter().writeValue(dest.resolve("model_index.json").toFile(), index);
        Path tok = dest.resolve("tokenizer");
        Files.createDirectories(tok);
        switch (tokenizer) {
            case TINY_BPE -> writeTinyBpe(tok);
            case FOLDED_CLIP -> writeFoldedClip(reference, tok);
            case REAL_CLIP -> {
                Files.copy(reference.resolve("tokenizer/vocab.json"), tok.resolve("vocab.json"));
                Files.copy(reference.resolve("tokenizer/merges.txt"), tok.resolve("merges.txt"));
            }
        }
        return dest;
    }

    /** GPT-2/CLIP's byte-to-unicode table: printable bytes map to themselves, the rest to 256 + n, in byte order. */
    static List<String> byteSymbols() {
        List<Integer> bytes = new ArrayList<>();
        for (int b = '!'; b <= '~'; b++) bytes.add(b);
        for (int b = 0xA1; b <= 0xAC; b++) bytes.add(b);
        for (int b = 0xAE; b <= 0xFF; b++) bytes.add(b);
        List<Integer> chars = new ArrayList<>(bytes);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if (!bytes.contains(b)) {
                bytes.add(b);
                chars.add(256 + n++);
            }
        }
        List<String> out = new ArrayList<>();
        for (int c : chars) out.add(new String(Character.toChars(c)));
        return out;
    }

    /**
     * A valid CLIP BPE of exactly 1,000 ids: the 256 byte symbols, the same with {@code </w>}, merges
     * {@code x y</w>} of two lower-case letters in order up to id 997, {@code <|startoftext|>} 998, {@code <|endoftext|>} 999.
     */
    static void writeTinyBpe(Path dir) throws IOException {
        List<String> base = byteSymbols();
        List<String> vocab = new ArrayList<>(base);
        for (String s : base) vocab.add(s + "</w>");
        List<String> merges = new ArrayList<>();
        outer:
        for (char a = 'a'; a <= 'z'; a++) {
            for (char b = 'a'; b <= 'z'; b++) {
                if (vocab.size() == 998) break outer;
                merges.add(a + " " + b + "</w>");
                vocab.add("" + a + b + "</w>");
            }
        }
        vocab.add("<|startoftext|>");
        vocab.add("<|endoftext|>");
        ObjectNode v = JSON.createObjectNode();
        for (int i = 0; i < vocab.size(); i++) v.put(vocab.get(i), i);
        JSON.writeValue(dir.resolve("vocab.json").toFile(), v);
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\n" + String.join("\n", merges) + "\n", StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("special_tokens_map.json"), """
                {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
                 "unk_token": "<|endoftext|>"}""");
    }

    /** The real CLIP BPE with every id folded into the tiny text encoder's 1,000 ids exactly as the reference did. */
    static void writeFoldedClip(Path reference, Path dir) throws IOException {
        JsonNode real = JSON.readTree(reference.resolve("tokenizer/vocab.json").toFile());
        ObjectNode folded = JSON.createObjectNode();
        for (Iterator<Map.Entry<String, JsonNode>> it = real.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            int id = e.getValue().asInt();
            folded.put(e.getKey(), id == 49406 ? 998 : id == 49407 ? 999 : id % 997 + 1);
        }
        JSON.writeValue(dir.resolve("vocab.json").toFile(), folded);
        Files.copy(reference.resolve("tokenizer/merges.txt"), dir.resolve("merges.txt"));
    }

    public static void copyDir(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : files.toList()) {
                if (Files.isDirectory(f)) copyDir(f, to.resolve(f.getFileName().toString()));
                else Files.copy(f, to.resolve(f.getFileName().toString()));
            }
        }
    }

    /** Deletes {@code dir} and everything under it (no-op when absent). */
    public static void deleteTree(Path dir) throws IOException {
        if (dir == null || !Files.exists(dir)) return;
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
