package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.testing.TinyModel;
import java.io.ByteArrayInputStream;
import java.awt.image.BufferedImage;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The HTTP server on a loopback port, driven by the JDK's HTTP client, over the tiny reference model on the CPU. */
class ImageServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Path dir;
    private static DiffusionEngine engine;
    private static ImageServer server;
    private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("pd-server");
        Path model = TinyModel.assemble(dir.resolve("tiny-sd"), "euler_a", TinyModel.Tokenizer.TINY_BPE);
        engine = DiffusionEngine.open(EngineOptions.defaults(model).withBackend("cpu").withMaxBatch(8).withQueueCapacity(4));
        server = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 4096);
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) server.close();
        if (engine != null) engine.close();
        TinyModel.deleteTree(dir);
    }

    static HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofMinutes(2)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(30)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    static URI uri(String path) { return URI.create("http://127.0.0.1:" + server.port() + path); }

    static BufferedImage png(String b64) throws Exception {
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(b64)));
        assertNotNull(img, "not a PNG");
        return img;
    }

    @Test
    void a1111Txt2img() throws Exception {
        HttpResponse<String> r = post("/sdapi/v1/txt2img", """
                {"prompt": "a horse", "negative_prompt": "blurry", "steps": 3, "cfg_scale": 7.5,
                 "sampler_name": "Euler a", "seed": 42, "width": 32, "height": 16, "batch_size": 2}""");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = JSON.readTree(r.body());
        assertEquals(2, body.get("images").size());
        BufferedImage img = png(body.get("images").get(0).asText());
        assertEquals(32, img.getWidth());
        assertEquals(16, img.getHeight());
        JsonNode info = JSON.readTree(body.get("info").asText());
        assertEquals(42, info.get("seed").asLong());
        assertEquals("a horse", info.get("prompt").asText());
        assertTrue(info.get("infotexts").get(0).asText().contains("Steps: 3, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 32x16"),
                info.toString());
        // same request, same pixels (seeded); another seed, other pixels
        HttpResponse<String> again = post("/sdapi/v1/txt2img", """
                {"prompt": "a horse", "negative_prompt": "blurry", "steps": 3, "cfg_scale": 7.5,
                 "sampler_name": "Euler a", "seed": 42, "width": 32, "height": 16, "batch_size": 2}""");
        assertEquals(body.get("images"), JSON.readTree(again.body()).get("images"));
    }

    @Test
    void openAiGenerations() throws Exception {
        HttpResponse<String> r = post("/v1/images/generations", """
                {"prompt": "a cat", "n": 2, "size": "16x16", "response_format": "b64_json", "steps": 2}""");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode data = JSON.readTree(r.body()).get("data");
        assertEquals(2, data.size());
        assertEquals(16, png(data.get(1).get("b64_json").asText()).getWidth());
    }

    @Test
    void concurrentRequestsAllSucceedAndShareBatches() throws Exception {
        List<CompletableFuture<HttpResponse<String>>> fs = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            String body = "{\"prompt\": \"client " + i + "\", \"steps\": 4, \"seed\": " + i + ", \"width\": 16, \"height\": 16}";
            fs.add(http.sendAsync(HttpRequest.newBuilder(uri("/sdapi/v1/txt2img")).timeout(Duration.ofMinutes(2))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()));
        }
        for (CompletableFuture<HttpResponse<String>> f : fs) {
            HttpResponse<String> r = f.get();
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(1, JSON.readTree(r.body()).get("images").size());
        }
        String metrics = get("/metrics").body();
        assertTrue(metrics.contains("pd_unet_batch_rows_bucket"), metrics);
        assertTrue(metrics.contains("pd_queue_depth 0"), metrics);
    }

    @Test
    void interruptCancelsTheRunningRequest() throws Exception {
        CompletableFuture<HttpResponse<String>> f = http.sendAsync(HttpRequest.newBuilder(uri("/sdapi/v1/txt2img"))
                .timeout(Duration.ofMinutes(2)).POST(HttpRequest.BodyPublishers.ofString(
                        "{\"prompt\": \"slow\", \"steps\": 150, \"width\": 64, \"height\": 64}")).build(), HttpResponse.BodyHandlers.ofString());
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (JSON.readTree(get("/sdapi/v1/progress").body()).get("state").get("sampling_step").asInt() == 0) {
            assertTrue(System.nanoTime() < deadline, "the request never started");
            Thread.sleep(20);
        }
        assertEquals(200, post("/sdapi/v1/interrupt", "").statusCode());
        HttpResponse<String> r = f.get();
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = JSON.readTree(r.body());
        assertEquals(0, body.get("images").size());
        assertTrue(body.get("info").asText().contains("interrupted"));
    }

    @Test
    void badRequestsNameTheField() throws Exception {
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": "), 400, null, "malformed JSON");
        assertBad(post("/sdapi/v1/txt2img", "[1, 2]"), 400, null, "JSON object");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"width\": 100}"), 400, "width", "multiple of");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"width\": 4096}"), 400, "width", "at most");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 0}"), 400, "steps", "between");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": \"ten\"}"), 400, "steps", "integer");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"sampler_name\": \"Heun++\"}"), 400, "sampler_name", "Heun++");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"cfg_scale\": -1}"), 400, "cfg_scale", "between");
        assertBad(post("/v1/images/generations", "{\"prompt\": \"x\", \"size\": \"big\"}"), 400, "size", "512x512");
        assertBad(post("/v1/images/generations", "{\"prompt\": \"x\", \"n\": 0}"), 400, "n", "between");
        assertBad(post("/v1/images/generations", "{\"prompt\": \"x\", \"colour\": 1}"), 400, "colour", "not a known field");
        assertBad(post("/v1/images/generations", "{\"n\": 1}"), 400, "prompt", "required");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"" + "x".repeat(5000) + "\"}"), 413, null, "larger than");
        assertBad(get("/sdapi/v1/txt2img"), 405, null, "POST");
        assertBad(get("/nothing/here"), 404, null, "no such endpoint");
        // the server is still fine
        assertEquals(200, get("/health").statusCode());
    }

    @Test
    void fullQueueAnswers429WithRetryAfter() throws Exception {
        // queue capacity 4 plus what the engine admits: flood it with slow requests and expect some 429s
        List<CompletableFuture<HttpResponse<String>>> fs = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            fs.add(http.sendAsync(HttpRequest.newBuilder(uri("/sdapi/v1/txt2img")).timeout(Duration.ofMinutes(3))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"flood\", \"steps\": 10, \"width\": 16, \"height\": 16}")).build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
        int busy = 0;
        List<HttpResponse<String>> done = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> f : fs) {
            HttpResponse<String> r = f.get();
            if (r.statusCode() == 429) {
                busy++;
                String retry = r.headers().firstValue("Retry-After").orElse(null);
                assertNotNull(retry, "429 without Retry-After");
                assertTrue(Integer.parseInt(retry) >= 1);
            } else {
                done.add(r);
            }
        }
        assertTrue(busy > 0, "no request was refused");
        for (HttpResponse<String> r : done) assertEquals(200, r.statusCode(), r.body());
        String metrics = get("/metrics").body();
        assertTrue(metrics.contains("pd_requests_rejected_total " + busy), metrics);
    }

    @Test
    void a1111DiscoveryEndpoints() throws Exception {
        JsonNode samplers = JSON.readTree(get("/sdapi/v1/samplers").body());
        List<String> names = new ArrayList<>();
        samplers.forEach(n -> names.add(n.get("name").asText()));
        assertTrue(names.containsAll(List.of("Euler a", "DPM++ 2M Karras", "DDIM", "PNDM", "LMS")), names.toString());
        assertEquals("tiny-sd", JSON.readTree(get("/sdapi/v1/sd-models").body()).get(0).get("model_name").asText());
        assertEquals("tiny-sd", JSON.readTree(get("/sdapi/v1/options").body()).get("sd_model_checkpoint").asText());
    }

    @Test
    void healthAndMetrics() throws Exception {
        JsonNode health = JSON.readTree(get("/health").body());
        assertEquals("ok", health.get("status").asText());
        assertEquals("cpu", health.get("backend").asText());
        HttpResponse<String> m = get("/metrics");
        assertTrue(m.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
        for (String name : List.of("pd_queue_depth", "pd_image_steps_per_second", "pd_request_seconds_bucket", "pd_unet_step_seconds_count")) {
            assertTrue(m.body().contains(name), name);
        }
    }

    static void assertBad(HttpResponse<String> r, int status, String field, String text) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode err = JSON.readTree(r.body()).get("error");
        if (field != null) assertEquals(field, err.get("field").asText(), r.body());
        assertTrue(err.get("message").asText().contains(text), r.body());
    }
}
