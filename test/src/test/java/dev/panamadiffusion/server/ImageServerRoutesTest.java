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
        BufferedImage img = new BufferedImage(2, 2, BufferedImage.TYPE_INT_ARGB); // all transparent: everything is edited
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(img, "png", png);
        Map<String, Object> form = new LinkedHashMap<>();
        form.put("image", png.toByteArray());
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
        assertEquals(busy, countReaching(429, busy), "each refusal counted as a 429");
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
        BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_INT_ARGB); // all transparent: everything is edited
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(img, "png", png);
        Map<String, Object> form = new LinkedHashMap<>();
        form.put("image", png.toByteArray());
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
}
