package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.Generation;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.pipeline.RngKind;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * OpenAI-style {@code POST /v1/images/generations}: prompt, n, size "WxH", response_format b64_json. Unknown fields are
 * rejected as OpenAI does; {@code negative_prompt}, {@code steps}, {@code guidance_scale}, {@code seed} and
 * {@code sampler} are accepted as extensions.
 */
final class OpenAiImagesApi {
    private static final Pattern SIZE = Pattern.compile("(\\d{1,5})x(\\d{1,5})");
    private static final Set<String> FIELDS = Set.of("prompt", "n", "size", "response_format", "model", "quality", "style",
            "user", "negative_prompt", "steps", "guidance_scale", "seed", "sampler");
    private final DiffusionEngine engine;

    OpenAiImagesApi(DiffusionEngine engine) {
        this.engine = engine;
    }

    void generations(HttpExchange ex, JsonNode json) throws IOException, InterruptedException {
        JsonFields f = new JsonFields(json);
        f.rejectUnknown(FIELDS);
        String prompt = f.string("prompt", null, true);
        if (prompt.isBlank()) throw HttpError.badField("prompt", "prompt must not be empty");
        int n = f.integer("n", 1, 1, 1024);
        String format = f.string("response_format", "b64_json", false);
        if (!format.equals("b64_json")) throw HttpError.badField("response_format", "response_format must be b64_json (this server keeps no image URLs)");
        String size = f.string("size", "512x512", false);
        Matcher m = SIZE.matcher(size);
        if (!m.matches()) throw HttpError.badField("size", "size must look like 512x512 (got '" + size + "')");
        int width = Integer.parseInt(m.group(1));
        int height = Integer.parseInt(m.group(2));
        f.string("model", "", false);
        long seed = f.longValue("seed", -1);
        if (seed < -1) throw HttpError.badField("seed", "seed must be >= 0 or -1 (random), got " + seed);
        GenerationRequest request = new GenerationRequest(prompt, f.string("negative_prompt", "", false),
                f.integer("steps", 25, 1, 100_000), f.number("guidance_scale", 7.5, 0, 1e6), f.string("sampler", "DPM++ 2M Karras", false),
                seed, width, height, n, 0, RngKind.TORCH);
        Generation g = Fields.submit(engine, request, Map.of("batch size", "n", "width", "size", "height", "size",
                "guidance scale", "guidance_scale", "negative prompt", "negative_prompt"));
        GenerationResult result;
        try {
            result = g.result().get();
        } catch (CancellationException e) {
            throw new HttpError(409, null, "generation was interrupted");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof CancellationException) throw new HttpError(409, null, "generation was interrupted");
            throw new HttpError(500, null, "generation failed: " + e.getCause().getMessage());
        }
        List<Map<String, Object>> data = new ArrayList<>();
        for (int k = 0; k < result.size(); k++) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("b64_json", Fields.base64Png(result, k));
            d.put("revised_prompt", prompt);
            data.add(d);
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("created", System.currentTimeMillis() / 1000);
        body.put("data", data);
        Exchanges.sendJson(ex, 200, body);
    }
}
