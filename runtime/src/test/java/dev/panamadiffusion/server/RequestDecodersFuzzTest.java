package dev.panamadiffusion.server;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.InvalidRequestException;
import dev.panamadiffusion.pipeline.RequestLimits;
import dev.panamadiffusion.pipeline.SizeRule;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Coverage-guided fuzzing of the HTTP request decoders (Jazzer): a request body, as bytes, through the strict JSON
 * reader and each API's JSON → request mapping, then the server's limits. Each stage either passes its result on or
 * refuses with what the client gets: a 400 ({@link HttpError}) or an {@link InvalidRequestException} whose problems name
 * the API's fields; anything else (an ArithmeticException, a NullPointerException, a ClassCastException, a
 * NumberFormatException, …) is a finding. A request the limits accept can run: its size, steps, images and seeds are
 * within them. A plain build runs the inputs under {@code RequestDecodersFuzzTestInputs/}; {@code JAZZER_FUZZ=1} fuzzes.
 */
class RequestDecodersFuzzTest {
    /** The demo model's shape: 64x64, sizes multiples of 16, two text encoder layers. */
    private static final RequestLimits.Model MODEL = new RequestLimits.Model(new SizeRule(4, 2), 64, 64, 2);
    private static final RequestLimits LIMITS = RequestLimits.SERVER;

    /** Arbitrary bytes as the body of {@code POST /sdapi/v1/txt2img}. */
    @DictionaryEntries({"\"prompt\"", "\"negative_prompt\"", "\"steps\"", "\"cfg_scale\"", "\"sampler_name\"", "\"sampler_index\"",
            "\"seed\"", "\"width\"", "\"height\"", "\"batch_size\"", "\"n_iter\"", "\"clip_skip\"", "\"override_settings\"",
            "\"CLIP_stop_at_last_layers\"", "\"enable_hr\"", "18446744073709551614", "18446744073709551615", "-1", "1e400",
            "2147483648", "\"Euler a\"", "null", "true", "{", "}", "[", "]", ":", ","})
    @FuzzTest(maxDuration = "2m")
    void a1111(byte[] body) {
        JsonNode json = parse(body);
        if (json == null) return;
        A1111Api.Txt2Img t;
        try {
            t = A1111Api.decode(json, MODEL);
        } catch (RuntimeException e) {
            refused(e, A1111Api.NAMES);
            return;
        }
        GenerationRequest first = t.first().seed() == RequestLimits.RANDOM_SEED ? t.first().withSeed(12345) : t.first();
        limits(first, t.iterations(), A1111Api.NAMES);
    }

    /** Arbitrary bytes as the body of {@code POST /v1/images/generations}. */
    @DictionaryEntries({"\"prompt\"", "\"n\"", "\"size\"", "\"response_format\"", "\"b64_json\"", "\"model\"", "\"quality\"",
            "\"style\"", "\"user\"", "\"negative_prompt\"", "\"steps\"", "\"guidance_scale\"", "\"seed\"", "\"sampler\"",
            "\"0x0\"", "\"512x512\"", "\"99999x99999\"", "18446744073709551615", "-1", "1e400", "null", "{", "}", ":", ","})
    @FuzzTest(maxDuration = "2m")
    void openAi(byte[] body) {
        JsonNode json = parse(body);
        if (json == null) return;
        GenerationRequest r;
        try {
            r = OpenAiImagesApi.decode(json, 7.5);
        } catch (RuntimeException e) {
            refused(e, OpenAiImagesApi.NAMES);
            return;
        }
        limits(r.seed() == RequestLimits.RANDOM_SEED ? r.withSeed(12345) : r, 1, OpenAiImagesApi.NAMES);
    }

    /** The strict reader: a JSON value, or a 400. */
    private static JsonNode parse(byte[] body) {
        try {
            return Exchanges.parseJson(body);
        } catch (HttpError e) {
            assertEquals(400, e.status);
            assertTrue(e.getMessage().startsWith("malformed JSON") || e.getMessage().startsWith("request body is empty")
                    || e.getMessage().startsWith("unreadable JSON"), e.getMessage());
            return null;
        }
    }

    /** What a refusal may be: a 400 or the request's problems, named as the API names its fields. */
    private static void refused(RuntimeException e, Map<String, String> names) {
        if (e instanceof HttpError h) {
            assertEquals(400, h.status, h.getMessage());
            assertNotNull(h.getMessage());
            return;
        }
        if (e instanceof InvalidRequestException bad) {
            HttpError h = Fields.badRequest(bad, names);
            assertEquals(400, h.status);
            assertFalse(h.field.isEmpty());
            return;
        }
        throw e;
    }

    /** The limits either refuse the request, naming its fields, or accept one that can run. */
    private static void limits(GenerationRequest r, int iterations, Map<String, String> names) {
        List<InvalidRequestException.Problem> problems = LIMITS.problems(r, iterations, MODEL);
        if (!problems.isEmpty()) {
            refused(new InvalidRequestException(problems), names);
            return;
        }
        assertTrue(r.steps() >= 1 && r.steps() <= LIMITS.maxSteps());
        assertTrue(r.batchSize() >= 1 && r.batchSize() <= LIMITS.maxBatch());
        assertTrue(iterations >= 1 && iterations <= LIMITS.maxIterations());
        long w = r.width() == 0 ? MODEL.defaultWidth() : r.width();
        long h = r.height() == 0 ? MODEL.defaultHeight() : r.height();
        assertTrue(w > 0 && h > 0 && w * h <= LIMITS.maxPixels(MODEL) && w % 16 == 0 && h % 16 == 0, w + "x" + h);
        assertTrue(Double.isFinite(r.guidanceScale()) && r.guidanceScale() >= 0);
        assertTrue(r.clipSkip() >= 0 && r.clipSkip() <= MODEL.textLayers());
        long last = r.iteration(iterations - 1).seed();
        assertTrue(Long.compareUnsigned(last, r.seed()) >= 0 && Long.compareUnsigned(last, RequestLimits.MAX_SEED) <= 0,
                "seeds of n_iter must not wrap: " + Long.toUnsignedString(last));
    }
}
