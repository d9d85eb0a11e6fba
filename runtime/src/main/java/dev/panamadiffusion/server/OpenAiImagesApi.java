package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.Generation;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.pipeline.InvalidRequestException;
import dev.panamadiffusion.pipeline.RngKind;

import java.io.IOException;
import java.time.Duration;
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
 * OpenAI-style {@code POST /v1/images/generations}: prompt, n, size "WxH" (absent: the model's own), response_format b64_json. Unknown fields are
 * rejected as OpenAI does; {@code negative_prompt}, {@code steps}, {@code guidance_scale}, {@code seed} and
 * {@code sampler} are accepted as extensions.
 */
final class OpenAiImagesApi {
    private static final Pattern SIZE = Pattern.compile("(\\d{1,5})x(\\d{1,5})");
    private static final Set<String> FIELDS = fields("prompt", "n", "size", "response_format", "model", "quality", "style",
            "user", "negative_prompt", "steps", "guidance_scale", "seed", "sampler");
    private final DiffusionEngine engine;
    private final Duration timeout;

    OpenAiImagesApi(DiffusionEngine engine, Duration timeout) {
        this.engine = engine;
        this.timeout = timeout;
    }

    /** Request field names → this API's JSON names (for the 400s). */
    static final Map<String, String> NAMES = SdxlFields.withNames(Map.of("batchSize", "n", "width", "size", "height", "size",
            "size", "size", "guidanceScale", "guidance_scale", "negativePrompt", "negative_prompt"));

    /** {@code names} and SDXL's fields ({@link SdxlFields}). */
    static Set<String> fields(String... names) {
        Set<String> all = new java.util.HashSet<>(Set.of(names));
        all.addAll(SdxlFields.FIELDS);
        return Set.copyOf(all);
    }

    /**
     * The JSON body as a request, with this API's defaults (n 1, the model's own size, 25 steps, {@code defaultGuidance} (the model's own),
     * DPM++ 2M Karras, a random seed). Types and this API's encodings are checked here ({@link HttpError},
     * {@link InvalidRequestException}); the limits are {@link dev.panamadiffusion.pipeline.RequestLimits}' (checked by
     * the engine).
     */
    static GenerationRequest decode(JsonNode json, double defaultGuidance) {
        JsonFields f = new JsonFields(json);
        f.rejectUnknown(FIELDS);
        String prompt = f.string("prompt", null, true);
        if (prompt.isBlank()) throw HttpError.badField("prompt", "prompt must not be empty");
        int n = f.integer("n", 1);
        String format = f.string("response_format", "b64_json", false);
        if (!format.equals("b64_json")) throw HttpError.badField("response_format", "response_format must be b64_json (this server keeps no image URLs)");
        int width = 0;
        int height = 0;
        if (f.has("size")) {
            String size = f.string("size", null, false);
            Matcher m = SIZE.matcher(size);
            if (!m.matches()) throw HttpError.badField("size", "size must look like 512x512 (got '" + size + "')");
            width = Integer.parseInt(m.group(1));
            height = Integer.parseInt(m.group(2));
            if (width == 0 || height == 0) throw InvalidRequestException.of("size", "must have positive sides (got '" + size + "')");
        }
        f.string("model", "", false);
        f.string("quality", "", false);
        f.string("style", "", false);
        f.string("user", "", false);
        return new GenerationRequest(prompt, f.string("negative_prompt", "", false), f.integer("steps", 25),
                f.number("guidance_scale", defaultGuidance), f.string("sampler", "DPM++ 2M Karras", false), f.seed("seed"), width, height, n,
                0, RngKind.TORCH, SdxlFields.read(f));
    }

    void generations(HttpExchange ex, JsonNode json) throws IOException, InterruptedException {
        long deadline = Fields.deadline(timeout);
        Generation g;
        try {
            g = engine.submit(decode(json, engine.defaultGuidance()));
        } catch (InvalidRequestException e) {
            throw Fields.badRequest(e, NAMES);
        }
        answer(ex, g, deadline, timeout);
    }

    /** Waits for {@code g} (until {@code deadline}) and answers OpenAI's JSON: {@code created} and {@code data[].b64_json}. */
    static void answer(HttpExchange ex, Generation g, long deadline, Duration timeout) throws IOException, InterruptedException {
        GenerationResult result;
        try {
            result = Fields.await(ex, g, deadline, List.of(g), timeout);
        } catch (CancellationException e) {
            throw new HttpError(409, null, "generation was interrupted");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof CancellationException) throw new HttpError(409, null, "generation was interrupted");
            throw Fields.failed(e.getCause());
        }
        List<Map<String, Object>> data = new ArrayList<>();
        for (int k = 0; k < result.size(); k++) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("b64_json", Fields.base64Png(result, k));
            d.put("revised_prompt", g.request().prompt());
            data.add(d);
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("created", System.currentTimeMillis() / 1000);
        body.put("data", data);
        Exchanges.sendJson(ex, 200, body);
    }
}
