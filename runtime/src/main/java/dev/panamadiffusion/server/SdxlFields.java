package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.pipeline.SdxlOptions;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Stable Diffusion XL's own request fields in both APIs, under diffusers' argument names ({@link SdxlOptions}):
 * {@code prompt_2} and {@code negative_prompt_2} (strings), {@code original_size}, {@code target_size},
 * {@code negative_original_size}, {@code negative_target_size} as {@code [height, width]} and
 * {@code crops_coords_top_left}, {@code negative_crops_coords_top_left} as {@code [top, left]}: diffusers' tuple order,
 * as JSON arrays of two integers or as the text {@code "h,w"} (how a multipart form sends them); and the SDXL
 * refiner's {@code aesthetic_score} and {@code negative_aesthetic_score} (numbers). They are checked by
 * {@link dev.panamadiffusion.pipeline.RequestLimits}, which refuses them on a model that is not SDXL.
 */
final class SdxlFields {
    /** The fields, diffusers' names ({@code denoising_start}/{@code _end} are the CLI's alone). */
    static final List<String> FIELDS = SdxlOptions.ARGUMENTS.stream().filter(a -> !a.startsWith("denoising_")).toList();
    /** Request field names ({@code prompt2}, …) → these API names, for the 400s. */
    static final Map<String, String> NAMES = SdxlOptions.names(a -> a);
    private static final Pattern PAIR = Pattern.compile("\\s*\\[?\\s*(-?\\d{1,6})\\s*,\\s*(-?\\d{1,6})\\s*]?\\s*");

    private SdxlFields() {}

    /** {@code base} with these names added. */
    static Map<String, String> withNames(Map<String, String> base) {
        Map<String, String> all = new HashMap<>(base);
        all.putAll(NAMES);
        return Map.copyOf(all);
    }

    /** The SDXL options {@code f} gives ({@link SdxlOptions#NONE} for none); a malformed one is a 400 naming it. */
    static SdxlOptions read(JsonFields f) {
        SdxlOptions o = new SdxlOptions(f.string("prompt_2", null, false), f.string("negative_prompt_2", null, false),
                size(f, "original_size"), crop(f, "crops_coords_top_left"), size(f, "target_size"),
                size(f, "negative_original_size"), crop(f, "negative_crops_coords_top_left"), size(f, "negative_target_size"))
                .withAestheticScores(score(f, "aesthetic_score"), score(f, "negative_aesthetic_score"));
        return o.given().isEmpty() ? SdxlOptions.NONE : o;
    }

    private static Double score(JsonFields f, String field) {
        return f.has(field) ? f.number(field, 0) : null;
    }

    private static SdxlOptions.Size size(JsonFields f, String field) {
        int[] v = pair(f, field, "[height, width]");
        return v == null ? null : new SdxlOptions.Size(v[1], v[0]);
    }

    private static SdxlOptions.Crop crop(JsonFields f, String field) {
        int[] v = pair(f, field, "[top, left]");
        return v == null ? null : new SdxlOptions.Crop(v[0], v[1]);
    }

    /** Two integers from a JSON array or an {@code "a,b"} text; null when absent. */
    private static int[] pair(JsonFields f, String field, String form) {
        JsonNode n = f.node(field);
        if (n == null) return null;
        if (n.isArray() && n.size() == 2 && n.get(0).canConvertToInt() && n.get(0).isIntegralNumber()
                && n.get(1).isIntegralNumber() && n.get(1).canConvertToInt()) {
            return new int[] {n.get(0).asInt(), n.get(1).asInt()};
        }
        if (n.isTextual()) {
            Matcher m = PAIR.matcher(n.asText());
            if (m.matches()) return new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))};
        }
        throw HttpError.badField(field, field + " must be " + form + " (diffusers' order), two integers, got " + n);
    }
}
