package dev.panamadiffusion.server;

import com.sun.net.httpserver.HttpExchange;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.Generation;
import dev.panamadiffusion.backend.OutOfDeviceMemoryException;
import dev.panamadiffusion.image.PngWriter;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.pipeline.InvalidRequestException;
import dev.panamadiffusion.pipeline.RequestLimits;

import java.math.BigInteger;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.Base64;
import java.util.Map;

/**
 * What both APIs share: an {@link InvalidRequestException}'s problems (fields named as in
 * {@link GenerationRequest}) turned into a 400 that names the field and words every problem as the client's API
 * names its fields, and the image and seed encodings of an answer.
 */
final class Fields {
    private Fields() {}

    /** Submits {@code request}; an invalid field is a 400 named by {@code apiNames}. */
    static Generation submit(DiffusionEngine engine, GenerationRequest request, Map<String, String> apiNames) {
        return submit(engine, request, null, apiNames);
    }

    /** {@link #submit(DiffusionEngine, GenerationRequest, Map)} as image to image from {@code init} (null: text to image). */
    static Generation submit(DiffusionEngine engine, GenerationRequest request, dev.panamadiffusion.pipeline.InitImage init,
                             Map<String, String> apiNames) {
        try {
            return engine.submit(request, init, dev.panamadiffusion.pipeline.ProgressListener.NONE);
        } catch (InvalidRequestException e) {
            throw badRequest(e, apiNames);
        }
    }

    /** A 400 for {@code e}: the first problem's field by its API name, every problem in the message. */
    static HttpError badRequest(InvalidRequestException e, Map<String, String> apiNames) {
        String first = e.problems().get(0).field();
        return HttpError.badField(apiNames.getOrDefault(first, first), e.describe(apiNames));
    }

    /**
     * {@code g}'s result, waiting until {@code deadlineNanos} ({@link System#nanoTime()}; 0 waits for ever). Past the
     * deadline, every generation of {@code all} is cancelled and the answer is a 504; when the client of {@code ex}
     * closes its connection meanwhile, every generation of {@code all} is cancelled as well.
     */
    static GenerationResult await(HttpExchange ex, Generation g, long deadlineNanos, List<Generation> all, Duration timeout)
            throws InterruptedException, ExecutionException {
        if (ex instanceof Http1Exchange h) h.onClientGone(() -> all.forEach(Generation::cancel));
        try {
            if (deadlineNanos == 0) return g.result().get();
            return g.result().get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            for (Generation other : all) other.cancel();
            throw new HttpError(504, null, "the request took longer than this server's limit of " + timeout.toSeconds()
                    + " s (serve --request-timeout) and was cancelled");
        }
    }

    /**
     * The answer to a generation that failed with {@code cause}: a 503 when the device ran out of memory (the server
     * is fine and has freed what the request took; a smaller request, or the same one when fewer run, can succeed),
     * otherwise a 500.
     */
    static HttpError failed(Throwable cause) {
        if (cause instanceof OutOfDeviceMemoryException) {
            return new HttpError(503, null, cause.getMessage() + "; a smaller size or batch, or fewer requests at once, needs less");
        }
        return new HttpError(500, null, "generation failed: " + cause.getMessage());
    }

    /** The deadline of a request that starts now under {@code timeout} (0 for none). */
    static long deadline(Duration timeout) {
        return timeout.isZero() ? 0 : System.nanoTime() + timeout.toNanos();
    }

    /** Image {@code k} of {@code result} as a base64 PNG carrying its A1111 {@code parameters} text. */
    static String base64Png(GenerationResult result, int k) {
        byte[] png = PngWriter.encode(result.images().get(k), Map.of("parameters", result.infotexts().get(k)));
        return Base64.getEncoder().encodeToString(png);
    }

    /** A seed as the JSON number it stands for (unsigned 64-bit). */
    static Object seedJson(long seed) {
        return seed >= 0 ? (Object) seed : new BigInteger(RequestLimits.seedText(seed));
    }
}
