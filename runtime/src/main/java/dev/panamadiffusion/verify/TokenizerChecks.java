package dev.panamadiffusion.verify;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.config.ConfigJson;
import dev.panamadiffusion.tokenizer.CLIPTokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code tokenizations.json}: a list of {@code {"prompt": …, "hf_input_ids": [77 ids]}} (the ids of Hugging Face's
 * CLIPTokenizer), checked exactly against {@link CLIPTokenizer#encode}. The tokenizer ({@code vocab.json},
 * {@code merges.txt}) is read from the same folder, or from its {@code tokenizer/} sub-folder.
 */
final class TokenizerChecks {
    private TokenizerChecks() {}

    static void run(ReferenceSet set, Context ctx) {
        Path file = set.tokenizations();
        JsonNode cases = ConfigJson.tree(file);
        if (!cases.isArray()) throw new IllegalArgumentException(file + ": not a JSON list of cases");
        CLIPTokenizer tokenizer = CLIPTokenizer.load(tokenizerDir(set.dir()));
        int i = 0;
        for (JsonNode c : cases) {
            String prompt = text(c, "prompt", file, i);
            JsonNode ids = c.get("hf_input_ids");
            if (ids == null || !ids.isArray()) {
                ctx.report(CheckResult.error(set.label() + "tokenizer case " + i, "no hf_input_ids list"));
                i++;
                continue;
            }
            double[] expected = new double[ids.size()];
            for (int k = 0; k < expected.length; k++) expected[k] = ids.get(k).asLong();
            int[] got = tokenizer.encode(prompt);
            double[] actual = new double[got.length];
            for (int k = 0; k < got.length; k++) actual[k] = got[k];
            ctx.report(Compare.arrays(set.label() + "tokens " + shortQuote(prompt), actual, expected, Tolerance.EXACT));
            i++;
        }
    }

    static Path tokenizerDir(Path dir) {
        for (Path p : List.of(dir, dir.resolve("tokenizer"))) {
            if (Files.isRegularFile(p.resolve("vocab.json"))) return p;
        }
        throw new IllegalArgumentException("no vocab.json beside " + ReferenceSet.TOKENIZATIONS + " in " + dir
                + " (nor in its tokenizer/ folder)");
    }

    private static String text(JsonNode c, String key, Path file, int i) {
        JsonNode v = c.get(key);
        if (v == null || !v.isTextual()) throw new IllegalArgumentException(file + ": case " + i + " has no \"" + key + "\" string");
        return v.asText();
    }

    /** {@code "a photograph of an astronaut…"}: at most 32 characters, line breaks shown as spaces. */
    static String shortQuote(String s) {
        String t = s.replace('\n', ' ').replace('\r', ' ');
        return "\"" + (t.length() > 32 ? t.substring(0, 31) + "…" : t) + "\"";
    }
}
