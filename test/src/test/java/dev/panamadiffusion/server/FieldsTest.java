package dev.panamadiffusion.server;

import dev.panamadiffusion.api.Generation;
import dev.panamadiffusion.api.Progress;
import dev.panamadiffusion.backend.OutOfDeviceMemoryException;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.pipeline.InvalidRequestException;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Fields} without a model: the answers to invalid and failed generations, the request deadline and the wait
 * on it, the seed as an unsigned 64-bit JSON number, the A1111 PNG with its {@code parameters} text.
 */
class FieldsTest {
    /** A generation whose result is {@code result}; counts its cancellations. */
    private static final class FakeGeneration implements Generation {
        final CompletableFuture<GenerationResult> result = new CompletableFuture<>();
        final AtomicInteger cancels = new AtomicInteger();
        @Override public long id() { return 1; }
        @Override public GenerationRequest request() { return GenerationRequest.of("a red fox"); }
        @Override public CompletableFuture<GenerationResult> result() { return result; }
        @Override public Progress progress() { return null; }
        @Override public void cancel() {
            cancels.incrementAndGet();
            result.cancel(false); // as the engine does: the future ends with a CancellationException
        }
    }

    private static GenerationResult oneImage(Rgb8Image image, String infotext) {
        return new GenerationResult(List.of(image), List.of(7L), List.of(infotext), List.of(), 0.0);
    }

    @Test
    void outOfDeviceMemoryIsA503AndAnyOtherFailureA500() {
        HttpError oom = Fields.failed(new OutOfDeviceMemoryException("out of device memory", 10, 1, 20));
        assertEquals(503, oom.status, "the server is fine: the client may retry smaller or later");
        assertNull(oom.field);
        assertEquals("out of device memory; a smaller size or batch, or fewer requests at once, needs less", oom.getMessage());
        HttpError other = Fields.failed(new IllegalStateException("boom"));
        assertEquals(500, other.status);
        assertNull(other.field);
        assertEquals("generation failed: boom", other.getMessage());
    }

    @Test
    void noTimeoutIsNoDeadlineAndATimeoutEndsThatLongFromNow() {
        assertEquals(0, Fields.deadline(Duration.ZERO), "0: wait for ever");
        long before = System.nanoTime();
        long d = Fields.deadline(Duration.ofSeconds(5));
        long after = System.nanoTime();
        assertTrue(d - before >= 5_000_000_000L && d - after <= 5_000_000_000L, "now + 5 s, got " + (d - before) + " ns after");
    }

    @Test
    void noDeadlineWaitsForTheResult() throws Exception {
        FakeGeneration g = new FakeGeneration();
        GenerationResult r = oneImage(new Rgb8Image(1, 1, new byte[3]), "x");
        CompletableFuture.delayedExecutor(300, java.util.concurrent.TimeUnit.MILLISECONDS).execute(() -> g.result.complete(r));
        assertSame(r, Fields.await(new ServerPartsTest.FakeExchange("POST", "/x", new byte[0]), g, 0, List.of(g), Duration.ZERO));
        assertEquals(0, g.cancels.get());
    }

    @Test
    void aResultBeforeTheDeadlineIsAnswered() throws Exception {
        FakeGeneration g = new FakeGeneration();
        GenerationResult r = oneImage(new Rgb8Image(1, 1, new byte[3]), "x");
        CompletableFuture.delayedExecutor(200, java.util.concurrent.TimeUnit.MILLISECONDS).execute(() -> g.result.complete(r));
        Duration timeout = Duration.ofSeconds(30);
        assertSame(r, Fields.await(new ServerPartsTest.FakeExchange("POST", "/x", new byte[0]), g, Fields.deadline(timeout),
                List.of(g), timeout));
        assertEquals(0, g.cancels.get());
    }

    @Test
    void pastTheDeadlineEveryGenerationIsCancelledAndTheAnswerIsA504() {
        FakeGeneration g = new FakeGeneration(), other = new FakeGeneration();
        Duration timeout = Duration.ofSeconds(3);
        long deadline = System.nanoTime() + 100_000_000L;
        HttpError e = assertThrows(HttpError.class, () -> Fields.await(new ServerPartsTest.FakeExchange("POST", "/x", new byte[0]),
                g, deadline, List.of(g, other), timeout));
        assertTrue(System.nanoTime() - deadline >= 0, "it waited until the deadline");
        assertEquals(504, e.status);
        assertEquals("the request took longer than this server's limit of 3 s (serve --request-timeout) and was cancelled",
                e.getMessage());
        assertEquals(1, g.cancels.get());
        assertEquals(1, other.cancels.get(), "the batch's other generations too");
    }

    @Test
    void theFirstProblemNamesTheFieldAsTheApiCallsIt() {
        InvalidRequestException e = new InvalidRequestException(List.of(
                new InvalidRequestException.Problem("cfgScale", "must be positive"),
                new InvalidRequestException.Problem("steps", "must be at least 1")));
        HttpError a = Fields.badRequest(e, Map.of("cfgScale", "cfg_scale", "steps", "steps"));
        assertEquals(400, a.status);
        assertEquals("cfg_scale", a.field);
        assertTrue(a.getMessage().contains("cfg_scale") && a.getMessage().contains("steps"), a.getMessage());
        HttpError unnamed = Fields.badRequest(InvalidRequestException.of("sampler", "unknown"), Map.of());
        assertEquals("sampler", unnamed.field, "a field without an API name keeps its own");
    }

    @Test
    void seedsAreUnsigned64BitNumbers() throws Exception {
        assertEquals("123", Exchanges.JSON.writeValueAsString(Fields.seedJson(123)));
        assertEquals(String.valueOf(Long.MAX_VALUE), Exchanges.JSON.writeValueAsString(Fields.seedJson(Long.MAX_VALUE)));
        // 2^64 - 2: A1111 and diffusers take seeds up to 2^64 - 1, which a Java long holds as a negative number
        assertEquals("18446744073709551614", Exchanges.JSON.writeValueAsString(Fields.seedJson(-2)));
        assertEquals(BigInteger.ONE.shiftLeft(63), Fields.seedJson(Long.MIN_VALUE));
    }

    @Test
    void imagesAreBase64PngsCarryingTheirParameters() throws Exception {
        byte[] rgb = {(byte) 255, 0, 0, 0, (byte) 128, (byte) 255};
        Rgb8Image first = new Rgb8Image(2, 1, rgb), second = new Rgb8Image(1, 1, new byte[] {1, 2, 3});
        GenerationResult r = new GenerationResult(List.of(first, second), List.of(1L, 2L),
                List.of("a cat\nSteps: 20, Seed: 1", "a dog\nSteps: 20, Seed: 2"), List.of(), 0.0);
        byte[] png = Base64.getDecoder().decode(Fields.base64Png(r, 1));
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(1, img.getWidth());
        assertEquals(0x010203, img.getRGB(0, 0) & 0xffffff, "image 1, not image 0");
        String latin1 = new String(png, StandardCharsets.ISO_8859_1);
        assertTrue(latin1.contains("tEXtparameters\0a dog\nSteps: 20, Seed: 2"), "A1111's parameters text of image 1");
        png = Base64.getDecoder().decode(Fields.base64Png(r, 0));
        img = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(0xff0000, img.getRGB(0, 0) & 0xffffff);
        assertEquals(0x0080ff, img.getRGB(1, 0) & 0xffffff);
    }

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    @Test
    void openAiAnswerIsCreatedSecondsAndOnePngPerImage() throws Exception {
        FakeGeneration g = new FakeGeneration();
        Rgb8Image a = new Rgb8Image(1, 1, new byte[] {9, 9, 9}), b = new Rgb8Image(1, 1, new byte[] {(byte) 200, 0, 0});
        g.result.complete(new GenerationResult(List.of(a, b), List.of(1L, 2L), List.of("p1", "p2"), List.of(), 0.0));
        ServerPartsTest.FakeExchange ex = new ServerPartsTest.FakeExchange("POST", "/v1/images/generations", new byte[0]);
        long before = System.currentTimeMillis() / 1000;
        OpenAiImagesApi.answer(ex, g, 0, Duration.ZERO);
        long after = System.currentTimeMillis() / 1000;
        assertEquals(200, ex.status);
        com.fasterxml.jackson.databind.JsonNode body = JSON.readTree(ex.responseText());
        long created = body.get("created").asLong();
        assertTrue(created >= before && created <= after, "OpenAI's created is a Unix time in seconds, got " + created);
        assertEquals(2, body.get("data").size());
        for (int k = 0; k < 2; k++) {
            com.fasterxml.jackson.databind.JsonNode d = body.get("data").get(k);
            assertEquals("a red fox", d.get("revised_prompt").asText());
            BufferedImage img = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(d.get("b64_json").asText())));
            assertEquals(k == 0 ? 0x090909 : 0xc80000, img.getRGB(0, 0) & 0xffffff, "image " + k + " in order");
        }
    }

    /**
     * A1111's n_iter iterations: their results in order; one that fails, or is interrupted, cancels every other (the
     * failure answered as a 500 or 503, the interruption as null for A1111's interrupted answer).
     */
    @Test
    void a1111IterationsThatFailOrAreInterruptedCancelTheOthers() throws Exception {
        ServerPartsTest.FakeExchange ex = new ServerPartsTest.FakeExchange("POST", "/sdapi/v1/txt2img", new byte[0]);
        List<FakeGeneration> done = List.of(new FakeGeneration(), new FakeGeneration());
        GenerationResult a = oneImage(new Rgb8Image(1, 1, new byte[3]), "a"), b = oneImage(new Rgb8Image(1, 1, new byte[3]), "b");
        done.get(0).result.complete(a);
        done.get(1).result.complete(b);
        assertEquals(List.of(a, b), A1111Api.results(ex, List.copyOf(done), 0, Duration.ZERO));
        assertEquals(0, done.get(0).cancels.get() + done.get(1).cancels.get());

        for (Throwable cause : new Throwable[] {new IllegalStateException("boom"),
                new OutOfDeviceMemoryException("out of device memory", 10, 1, 20), null}) {
            List<FakeGeneration> three = List.of(new FakeGeneration(), new FakeGeneration(), new FakeGeneration());
            three.get(0).result.complete(a);
            if (cause == null) three.get(1).result.cancel(false); // interrupted
            else three.get(1).result.completeExceptionally(cause);
            List<Generation> all = List.copyOf(three);
            if (cause == null) {
                assertNull(A1111Api.results(ex, all, 0, Duration.ZERO));
            } else {
                HttpError e = assertThrows(HttpError.class, () -> A1111Api.results(ex, all, 0, Duration.ZERO));
                assertEquals(cause instanceof OutOfDeviceMemoryException ? 503 : 500, e.status);
            }
            assertEquals(1, three.get(2).cancels.get(), "the iteration after it is cancelled (" + cause + ")");
            assertTrue(three.get(2).result.isCancelled());
        }
    }

    @Test
    void openAiAnswerToAnInterruptedOrFailedGeneration() throws Exception {
        FakeGeneration cancelled = new FakeGeneration();
        cancelled.result.cancel(false);
        HttpError e = assertThrows(HttpError.class, () -> OpenAiImagesApi.answer(
                new ServerPartsTest.FakeExchange("POST", "/x", new byte[0]), cancelled, 0, Duration.ZERO));
        assertEquals(409, e.status);
        assertEquals("generation was interrupted", e.getMessage());
        FakeGeneration dropped = new FakeGeneration();
        // a future downstream of a cancelled one: get() throws ExecutionException caused by the CancellationException
        dropped.result.completeExceptionally(new java.util.concurrent.CompletionException(
                new java.util.concurrent.CancellationException("dropped")));
        e = assertThrows(HttpError.class, () -> OpenAiImagesApi.answer(
                new ServerPartsTest.FakeExchange("POST", "/x", new byte[0]), dropped, 0, Duration.ZERO));
        assertEquals(409, e.status, "cancelled by the engine: the same 409");
        FakeGeneration oom = new FakeGeneration();
        oom.result.completeExceptionally(new OutOfDeviceMemoryException("out of device memory", 10, 1, 20));
        e = assertThrows(HttpError.class, () -> OpenAiImagesApi.answer(
                new ServerPartsTest.FakeExchange("POST", "/x", new byte[0]), oom, 0, Duration.ZERO));
        assertEquals(503, e.status);
        FakeGeneration failed = new FakeGeneration();
        failed.result.completeExceptionally(new IllegalStateException("boom"));
        e = assertThrows(HttpError.class, () -> OpenAiImagesApi.answer(
                new ServerPartsTest.FakeExchange("POST", "/x", new byte[0]), failed, 0, Duration.ZERO));
        assertEquals(500, e.status);
        assertEquals("generation failed: boom", e.getMessage());
    }

    @Test
    void aClientThatClosesItsConnectionCancelsEveryGenerationItWaitsFor() throws Exception {
        FakeGeneration g = new FakeGeneration(), other = new FakeGeneration();
        java.util.concurrent.CountDownLatch waiting = new java.util.concurrent.CountDownLatch(1);
        CompletableFuture<Throwable> ended = new CompletableFuture<>();
        Http1Server server = Http1Wire.server(Duration.ofSeconds(5), Duration.ofSeconds(5));
        server.createContext("/gen", ex -> {
            waiting.countDown();
            try {
                Fields.await(ex, g, 0, List.of(g, other), Duration.ZERO);
                ended.complete(null);
            } catch (Throwable t) {
                ended.complete(t);
            }
        });
        server.start();
        try {
            try (java.net.Socket s = new java.net.Socket("127.0.0.1", server.getAddress().getPort())) {
                s.getOutputStream().write(Http1Wire.bytes("GET /gen HTTP/1.1\r\nHost: x\r\n\r\n"));
                s.getOutputStream().flush();
                assertTrue(waiting.await(10, java.util.concurrent.TimeUnit.SECONDS), "the handler never ran");
            }
            Throwable t = ended.get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertTrue(t instanceof java.util.concurrent.CancellationException, "the wait ends cancelled, got " + t);
            assertEquals(1, g.cancels.get());
            assertEquals(1, other.cancels.get(), "the batch's other generations too");
        } finally {
            server.stop(0);
        }
    }
}
