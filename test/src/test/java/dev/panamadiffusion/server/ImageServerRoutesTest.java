package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.testing.TinyModel;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ImageServer}'s routes over the tiny model with the smallest queue: a request problem that reaches the route
 * itself (a 400 naming the field, in both APIs' error shapes), a full queue (429 with Retry-After, RFC 9110 10.2.3),
 * and what {@code /metrics} counts for each.
 */
class ImageServerRoutesTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private static Path dir;
    private static DiffusionEngine engine;
    private static ImageServer server;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("pd-routes");
        Path model = TinyModel.assemble(dir.resolve("tiny-sd"), "euler", TinyModel.Tokenizer.TINY_BPE);
        engine = DiffusionEngine.open(EngineOptions.defaults(model).withBackend("cpu").withMaxBatch(1).withQueueCapacity(1));
        server = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 16);
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) server.close();
        if (engine != null) engine.close();
        TinyModel.deleteTree(dir);
    }

    private static URI uri(String path) { return URI.create("http://127.0.0.1:" + server.port() + path); }

    private static long count(String metrics, int code) {
        String key = "pd_http_responses_total{code=\"" + code + "\"} ";
        for (String line : metrics.split("\n")) if (line.startsWith(key)) return Long.parseLong(line.substring(key.length()));
        return 0;
    }

    /** {@code /metrics}' count of {@code code} once it reaches {@code want} (a route counts just after it answered), or 5 s. */
    private static long countReaching(int code, long want) throws Exception {
        long until = System.nanoTime() + 5_000_000_000L, n;
        while ((n = count(metrics(), code)) < want && System.nanoTime() < until) Thread.sleep(20);
        return n;
    }

    private static String metrics() throws Exception {
        return http.send(HttpRequest.newBuilder(uri("/metrics")).GET().build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    @Test
    void anInvalidEditSizeIsA400NamingSize() throws Exception {
        Map<String, Object> form = new LinkedHashMap<>();
        form.put("image", png(2, 2, BufferedImage.TYPE_INT_ARGB)); // all transparent: everything is edited
        form.put("prompt", "a cat");
        form.put("size", "0x2");
        long before = count(metrics(), 400);
        HttpResponse<String> r = ServerInpaintTest.edits(server.port(), form);
        assertEquals(400, r.statusCode(), r.body());
        assertEquals("application/json", r.headers().firstValue("Content-Type").orElse(null));
        assertTrue(r.headers().firstValue("Retry-After").isEmpty(), "retrying the same request cannot help: no Retry-After");
        JsonNode body = JSON.readTree(r.body());
        assertEquals("size", body.get("error").get("field").asText());
        String message = body.get("error").get("message").asText();
        assertTrue(message.endsWith("must have positive sides (got '0x2')"), message);
        assertEquals(message, body.get("detail").asText(), "A1111 clients print detail");
        assertEquals(before + 1, countReaching(400, before + 1));
    }

    @Test
    void aFullQueueIs429WithRetryAfter() throws Exception {
        // one running and one queued fill this engine: the rest are refused at once
        long before = count(metrics(), 429);
        List<CompletableFuture<HttpResponse<String>>> fs = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            fs.add(http.sendAsync(HttpRequest.newBuilder(uri("/sdapi/v1/txt2img")).timeout(Duration.ofMinutes(3))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"flood\", \"steps\": 15, \"width\": 16, \"height\": 16}")).build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
        int busy = 0;
        List<HttpResponse<String>> answered = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> f : fs) {
            HttpResponse<String> r = f.get();
            if (r.statusCode() == 429) {
                busy++;
                String retry = r.headers().firstValue("Retry-After").orElse(null);
                assertTrue(retry != null && Integer.parseInt(retry) >= 1, "429 with Retry-After delay-seconds, got " + retry);
                JsonNode body = JSON.readTree(r.body());
                assertFalse(body.get("error").has("field"), "no field is at fault: " + r.body());
                assertEquals(body.get("error").get("message").asText(), body.get("detail").asText());
                assertFalse(body.get("detail").asText().isEmpty());
            } else {
                answered.add(r);
            }
        }
        assertTrue(busy > 0, "no request was refused");
        for (HttpResponse<String> r : answered) assertEquals(200, r.statusCode(), r.body());
        assertEquals(before + busy, countReaching(429, before + busy), "each refusal counted as a 429");
    }

    @Test
    void submitNamesAnInvalidFieldAsTheApiDoesAndRunsAValidRequest() throws Exception {
        var invalid = dev.panamadiffusion.pipeline.GenerationRequest.of("x").withSteps(0);
        HttpError e = org.junit.jupiter.api.Assertions.assertThrows(HttpError.class,
                () -> Fields.submit(engine, invalid, A1111Api.NAMES));
        assertEquals(400, e.status);
        assertEquals("steps", e.field);
        var g = Fields.submit(engine, dev.panamadiffusion.pipeline.GenerationRequest.of("x").withSteps(1).withSize(8, 8).withSeed(3),
                A1111Api.NAMES);
        var result = g.result().get(2, java.util.concurrent.TimeUnit.MINUTES);
        assertEquals(1, result.size());
        assertEquals(3L, result.seeds().get(0));
        assertEquals(8, result.images().get(0).width());
    }

    @Test
    void anEditAnswersOpenAisJsonWithOnePngPerImage() throws Exception {
        Map<String, Object> form = new LinkedHashMap<>();
        form.put("image", png(8, 8, BufferedImage.TYPE_INT_ARGB)); // all transparent: everything is edited
        form.put("prompt", "a cat");
        form.put("steps", "1");
        form.put("n", "2");
        HttpResponse<String> r = ServerInpaintTest.edits(server.port(), form);
        assertEquals(200, r.statusCode(), r.body());
        JsonNode data = JSON.readTree(r.body()).get("data");
        assertEquals(2, data.size());
        for (JsonNode d : data) {
            BufferedImage out = ImageIO.read(new java.io.ByteArrayInputStream(java.util.Base64.getDecoder().decode(d.get("b64_json").asText())));
            assertEquals(8, out.getWidth(), "the image's size");
            assertEquals("a cat", d.get("revised_prompt").asText());
        }
    }

    @Test
    void refusalsThatWaitingCannotCureCarryNoRetryAfter() throws Exception {
        HttpResponse<String> missing = http.send(HttpRequest.newBuilder(uri("/nothing")).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(404, missing.statusCode());
        assertTrue(missing.headers().firstValue("Retry-After").isEmpty(), missing.headers().map().toString());
        HttpResponse<String> bad = http.send(HttpRequest.newBuilder(uri("/v1/images/generations"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": 3}")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(400, bad.statusCode());
        assertEquals("prompt", JSON.readTree(bad.body()).get("error").get("field").asText());
        assertTrue(bad.headers().firstValue("Retry-After").isEmpty(), bad.headers().map().toString());
    }

    private static HttpResponse<String> get(String path) throws Exception { return get(server.port(), path); }

    private static HttpResponse<String> post(String path, String body) throws Exception { return post(server.port(), path, body); }

    private static JsonNode error(HttpResponse<String> r, int status, String field) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode e = JSON.readTree(r.body()).get("error");
        if (field != null) assertEquals(field, e.get("field").asText(), r.body());
        return e;
    }

    /** Waits until the engine neither runs nor queues anything; false after {@code seconds}. */
    private static boolean idleWithin(double seconds) throws InterruptedException {
        long until = System.nanoTime() + (long) (seconds * 1e9);
        while (!engine.running().isEmpty() || engine.queued() > 0) {
            if (System.nanoTime() > until) return false;
            Thread.sleep(5);
        }
        return true;
    }

    private static void awaitRunning() throws InterruptedException {
        long until = System.nanoTime() + 60_000_000_000L;
        while (engine.running().isEmpty()) {
            assertTrue(System.nanoTime() < until, "the request never started");
            Thread.sleep(5);
        }
    }

    private static String pngBase64(int w, int h) throws Exception {
        return java.util.Base64.getEncoder().encodeToString(png(w, h, BufferedImage.TYPE_INT_RGB));
    }

    /** A w x h PNG of a blank image of {@code type} (ARGB: all transparent). */
    private static byte[] png(int w, int h, int type) throws Exception {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(new BufferedImage(w, h, type), "png", png);
        return png.toByteArray();
    }

    /**
     * Each endpoint reaches its own handler, on a server this test starts itself (the routes are registered as a server
     * starts, so a server shared by the class would register them outside every test).
     */
    @Test
    void everyEndpointIsRoutedToItsHandler() throws Exception {
        try (ImageServer own = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 16)) {
            int port = own.port();
            assertTrue(JSON.readTree(get(port, "/sdapi/v1/progress").body()).has("eta_relative"));
            List<String> samplers = new ArrayList<>();
            JSON.readTree(get(port, "/sdapi/v1/samplers").body()).forEach(n -> samplers.add(n.get("name").asText()));
            assertTrue(samplers.contains("Euler a"), samplers.toString());
            assertEquals("tiny-sd", JSON.readTree(get(port, "/sdapi/v1/sd-models").body()).get(0).get("model_name").asText());
            assertEquals("tiny-sd", JSON.readTree(get(port, "/sdapi/v1/options").body()).get("sd_model_checkpoint").asText());
            HttpResponse<String> interrupt = post(port, "/sdapi/v1/interrupt", "");
            assertEquals(200, interrupt.statusCode());
            assertEquals("{}", interrupt.body());
            error(post(port, "/sdapi/v1/img2img", "{}"), 400, "init_images");
            error(post(port, "/sdapi/v1/txt2img", "{\"steps\": 0}"), 400, "steps");
            error(post(port, "/v1/images/generations", "{\"prompt\": 3}"), 400, "prompt");
            error(postMultipart(port, "/v1/images/edits"), 400, "image");
            assertTrue(get(port, "/health").statusCode() == 200, "health");
            assertTrue(get(port, "/metrics").body().contains("pd_http_responses_total"), "metrics");
            assertEquals("no such endpoint: /nothing", error(get(port, "/nothing"), 404, null).get("message").asText());
            assertEquals("no such endpoint: /sdapi/v1/progress/x", error(get(port, "/sdapi/v1/progress/x"), 404, null)
                    .get("message").asText(), "a route is its exact path, not a prefix");
            // the generation endpoints take POST only (RFC 9110 15.5.6: 405 for a method the resource does not support)
            for (String path : new String[] {"/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/v1/images/generations", "/v1/images/edits"}) {
                assertEquals("use POST for " + path, error(get(port, path), 405, null).get("message").asText());
            }
        }
    }

    private static HttpResponse<String> get(int port, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofMinutes(2))
                .GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> post(int port, String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofMinutes(2))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A multipart form with only a prompt: an edit without its image. */
    private static HttpResponse<String> postMultipart(int port, String path) throws Exception {
        String body = "--b\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\n--b--\r\n";
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofMinutes(2))
                .header("Content-Type", "multipart/form-data; boundary=b").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /**
     * A handler's failures reach the client in both APIs' error shape and are counted: out of device memory is a 503
     * that says what would need less, anything unexpected a 500 naming the exception (handlers registered on a server of
     * this test's own, since no real route fails this way on the CPU backend).
     */
    @Test
    void aHandlersFailuresAreAnsweredAndCounted() throws Exception {
        try (ImageServer own = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 16)) {
            own.route("/fail/oom", ex -> {
                throw new dev.panamadiffusion.backend.OutOfDeviceMemoryException("cuMemAlloc of 2 GiB failed", 2L << 30, 1L << 30, 8L << 30);
            });
            own.route("/fail/bug", ex -> {
                throw new IllegalStateException("a bug");
            });
            int port = own.port();
            JsonNode oom = error(get(port, "/fail/oom"), 503, null);
            assertEquals("cuMemAlloc of 2 GiB failed; a smaller size or batch, or fewer requests at once, needs less",
                    oom.get("message").asText());
            assertFalse(oom.has("field"));
            JsonNode bug = error(get(port, "/fail/bug"), 500, null);
            assertEquals("IllegalStateException: a bug", bug.get("message").asText());
            String metrics = get(port, "/metrics").body();
            assertEquals(1, count(metrics, 503), metrics);
            assertEquals(1, count(metrics, 500), metrics);
        }
    }

    @Test
    void answersOfTheHttpLayerAreCounted() throws Exception {
        long before = count(metrics(), 400);
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", server.port())) {
            s.getOutputStream().write("NONSENSE\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
            String status = new String(s.getInputStream().readNBytes(12), java.nio.charset.StandardCharsets.ISO_8859_1);
            assertEquals("HTTP/1.1 400", status, "a malformed request line is the layer's 400 (RFC 9112 3)");
        }
        assertEquals(before + 1, countReaching(400, before + 1));
    }

    @Test
    void img2imgChecksItsImagesAndFieldsBeforeRunning() throws Exception {
        String img = pngBase64(16, 16);
        String base = "\"prompt\": \"x\", \"steps\": 2, \"seed\": 1";
        assertEquals("init_images holds 2 images; one is supported", error(post("/sdapi/v1/img2img",
                "{" + base + ", \"init_images\": [\"" + img + "\", \"" + img + "\"]}"), 400, "init_images").get("message").asText());
        assertTrue(error(post("/sdapi/v1/img2img", "{" + base + ", \"init_images\": [\"!!\"]}"), 400, "init_images")
                .get("message").asText().startsWith("init_images[0] is not base64: "));
        String notPicture = java.util.Base64.getEncoder().encodeToString("hello".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        String m = error(post("/sdapi/v1/img2img", "{" + base + ", \"init_images\": [\"" + notPicture + "\"]}"), 400, "init_images")
                .get("message").asText();
        assertTrue(m.startsWith("init_images[0] ") && !m.contains("base64"), m);
        String one = "{" + base + ", \"init_images\": [\"" + img + "\"]";
        assertTrue(error(post("/sdapi/v1/img2img", one + ", \"mask\": \"!!\"}"), 400, "mask").get("message").asText()
                .startsWith("mask is not base64: "));
        error(post("/sdapi/v1/img2img", one + ", \"mask\": \"" + img + "\", \"inpainting_mask_invert\": 2}"), 400, "inpainting_mask_invert");
        error(post("/sdapi/v1/img2img", one + ", \"inpainting_mask_invert\": \"yes\"}"), 400, "inpainting_mask_invert");
        error(post("/sdapi/v1/img2img", one + ", \"n_iter\": 0}"), 400, "n_iter");
        assertEquals("init_images is 16x16 but the request is 24x16 (image to image does not resize)",
                error(post("/sdapi/v1/img2img", one + ", \"width\": 24, \"height\": 16}"), 400, "init_images").get("message").asText());
        // without a mask A1111 ignores the inpainting options, whatever they hold
        HttpResponse<String> ok = post("/sdapi/v1/img2img", one + ", \"mask_blur\": \"soft\", \"inpainting_fill\": \"x\"}");
        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals(1, JSON.readTree(ok.body()).get("images").size());
    }

    @Test
    void aRefusedIterationCancelsTheOnesAlreadySubmitted() throws Exception {
        try {
            // n_iter 3 on an engine that takes one running and one queued: the third is refused, the first two dropped
            HttpResponse<String> r = post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 150, \"width\": 64, \"height\": 64, \"n_iter\": 3}");
            assertEquals(429, r.statusCode(), r.body());
            assertTrue(idleWithin(5), "the submitted iterations still run");
        } finally {
            engine.cancelAll();
            idleWithin(30);
        }
    }

    @Test
    void closeReleasesThePortAndShutdownLetsRequestsFinishWithinTheGrace() throws Exception {
        ImageServer other = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 16);
        int port = other.port();
        var answer = http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/sdapi/v1/txt2img"))
                .timeout(Duration.ofMinutes(2)).POST(HttpRequest.BodyPublishers.ofString(
                        "{\"prompt\": \"x\", \"steps\": 6, \"width\": 16, \"height\": 16}")).build(), HttpResponse.BodyHandlers.ofString());
        awaitRunning();
        other.shutdown(Duration.ofSeconds(60));
        HttpResponse<String> r = answer.get();
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(1, JSON.readTree(r.body()).get("images").size(), "finished within the grace, not interrupted: " + r.body());
        // the grace's deadline is dropped once every exchange is done: later work on the engine is not cancelled
        ImageServer idle = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 16);
        idle.shutdown(Duration.ofMillis(50));
        var g = engine.submit(dev.panamadiffusion.pipeline.GenerationRequest.of("x").withSteps(30).withSize(32, 32).withSeed(1));
        assertEquals(1, g.result().get(2, java.util.concurrent.TimeUnit.MINUTES).size(), "not cancelled by the grace of a stopped server");
        ImageServer closed = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 16);
        int closedPort = closed.port();
        closed.close();
        org.junit.jupiter.api.Assertions.assertThrows(java.net.ConnectException.class,
                () -> new java.net.Socket("127.0.0.1", closedPort).close(), "the port is closed");
    }
}
