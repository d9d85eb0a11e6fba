package dev.panamadiffusion.pipeline;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AUTOMATIC1111's "parameters" text, as its {@code create_infotext} writes it into a PNG's tEXt chunk:
 * <pre>
 * a photograph of an astronaut riding a horse
 * Negative prompt: blurry
 * Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: stable-diffusion-v1-5
 * </pre>
 * The negative prompt line is left out when it is empty; a value holding a comma, colon or newline is written as a JSON
 * string (A1111's {@code quote}); keys whose value is null are left out; the whole text is stripped of surrounding
 * whitespace.
 */
public final class Infotext {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Infotext() {}

    /**
     * The text for image {@code batchPos} (0-based) of a generation. {@code sampler} is the A1111 name of the sampler
     * that ran, {@code seed} the resolved seed, {@code width} and {@code height} the resolved size.
     */
    public static String format(GenerationRequest request, String sampler, long seed, int width, int height,
                                String modelName, int batchPos) {
        return format(request, sampler, seed, width, height, modelName, batchPos, null);
    }

    /** {@link #format(GenerationRequest, String, long, int, int, String, int)} with image to image's {@code Denoising strength} (null: none). */
    public static String format(GenerationRequest request, String sampler, long seed, int width, int height,
                                String modelName, int batchPos, Double denoisingStrength) {
        Map<String, Object> params = new LinkedHashMap<>();
        params.put("Steps", request.steps());
        params.put("Sampler", sampler);
        params.put("CFG scale", request.guidanceScale());
        params.put("Seed", RequestLimits.seedText(seed)); // unsigned 64-bit
        params.put("Size", width + "x" + height);
        params.put("Model", modelName);
        params.put("Denoising strength", denoisingStrength);
        // A1111 counts the last layer as clip skip 1 and writes the key only from 2 on.
        params.put("Clip skip", request.clipSkip() > 0 ? request.clipSkip() + 1 : null);
        params.put("RNG", request.rng() == RngKind.TORCH ? "CPU" : "Java");
        // One noise draw for the whole batch: an image is reproduced by its batch size and position (with per-image
        // seeds, by its own seed alone; A1111 writes both fields then too).
        params.put("Batch size", request.batchSize() > 1 ? request.batchSize() : null);
        params.put("Batch pos", request.batchSize() > 1 ? batchPos : null);
        return format(request.prompt(), request.negativePrompt(), params);
    }

    /** {@code prompt}, the negative prompt line when {@code negativePrompt} is not empty, then {@code k: v, …}. */
    public static String format(String prompt, String negativePrompt, Map<String, ?> params) {
        StringBuilder p = new StringBuilder();
        for (Map.Entry<String, ?> e : params.entrySet()) {
            if (e.getValue() == null) continue;
            if (!p.isEmpty()) p.append(", ");
            String v = value(e.getValue());
            p.append(e.getKey().equals(v) ? v : e.getKey() + ": " + quote(v));
        }
        String negative = negativePrompt == null || negativePrompt.isEmpty() ? "" : "\nNegative prompt: " + negativePrompt;
        return ((prompt == null ? "" : prompt) + negative + "\n" + p).strip();
    }

    /** A1111's {@code quote}: the text itself, or a JSON string when it holds a comma, newline or colon. */
    public static String quote(String text) {
        if (text.indexOf(',') < 0 && text.indexOf('\n') < 0 && text.indexOf(':') < 0) return text;
        try {
            return JSON.writeValueAsString(text);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e); // a String always serialises
        }
    }

    /** Python's {@code str()} of the value for the types the infotext holds: floats always show a fraction digit. */
    static String value(Object v) {
        if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (d == Math.rint(d) && Math.abs(d) < 1e16) return Long.toString((long) d) + ".0";
            return Double.toString(d);
        }
        return String.valueOf(v);
    }
}
