package dev.panamadiffusion.server;

import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.Generation;
import dev.panamadiffusion.image.PngWriter;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.pipeline.InvalidRequestException;
import java.util.Base64;
import java.util.Map;

/**
 * Submits a request, answering an invalid field with a 400 that names the field as the client's API calls it. The
 * engine words each problem as "{@code <field> ...}" with the pipeline's field names ("steps", "guidance scale",
 * "batch size", ...); {@code apiNames} maps those to the API's ("cfg_scale", "n", ...).
 */
final class Fields {
    private static final String[] ENGINE_FIELDS = {"prompt", "negative prompt", "steps", "guidance scale", "sampler", "seed",
            "width", "height", "batch size", "clip skip"};

    private Fields() {}

    static Generation submit(DiffusionEngine engine, GenerationRequest request, Map<String, String> apiNames) {
        try {
            return engine.submit(request);
        } catch (InvalidRequestException e) {
            String first = e.problems().get(0);
            throw HttpError.badField(apiName(first, apiNames), e.getMessage());
        }
    }

    /** The API name of the field a problem message starts with. */
    static String apiName(String problem, Map<String, String> apiNames) {
        String best = null;
        for (String f : ENGINE_FIELDS) {
            if (problem.startsWith(f + " ") && (best == null || f.length() > best.length())) best = f;
        }
        if (best == null) return null;
        return apiNames.getOrDefault(best, best.replace(' ', '_'));
    }

    /** Image {@code k} of {@code result} as a base64 PNG carrying its A1111 {@code parameters} text. */
    static String base64Png(GenerationResult result, int k) {
        byte[] png = PngWriter.encode(result.images().get(k), Map.of("parameters", result.infotexts().get(k)));
        return Base64.getEncoder().encodeToString(png);
    }
}
