package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.io.DemoModel;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static dev.panamadiffusion.server.ImageServerTest.assertBad;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server's hardening on the demo model (64x64, CPU): its own default size, one limit per field, unsigned seeds,
 * strict JSON with JSON errors, cancellation inside a UNet step, and the request deadline.
 */
class ServerHardeningTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(3);
    private static DiffusionEngine engine;
    private static ImageServer server;
    private static ImageServer deadlineServer; // the same engine, with a request deadline
    private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeAll
    static void start() throws Exception {
        engine = DiffusionEngine.open(EngineOptions.defaults(DemoModel.locate()).withBackend("cpu").withQueueCapacity(4));
        server = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 16);
        deadlineServer = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 16, TIMEOUT);
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
        if (deadlineServer != null) deadlineServer.close();
        if (engine != null) engine.close();
    }

    static HttpResponse<String> post(String path, String body) throws Exception {
        return post(server, path, body);
    }

    static HttpResponse<String> post(ImageServer server, String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path)).timeout(Duration.ofMinutes(2))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void requestsWithoutASizeGetTheModelsOwn() throws Exception {
        HttpResponse<String> r = post("/sdapi/v1/txt2img", "{\"prompt\": \"a red circle\", \"steps\": 1, \"seed\": 1}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode info = JSON.readTree(JSON.readTree(r.body()).get("info").asText());
        assertEquals(64, info.get("width").asInt());
        assertEquals(64, info.get("height").asInt());
        r = post("/v1/images/generations", "{\"prompt\": \"a red circle\", \"steps\": 1, \"seed\": 1}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(64, ImageServerTest.png(JSON.readTree(r.body()).get("data").get(0).get("b64_json").asText()).getWidth());
    }

    @Test
    void oneLimitPerFieldAndSizesThatCannotBe() throws Exception {
        HttpResponse<String> r = post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 1001}");
        assertBad(r, 400, "steps", "steps must be between 1 and 150, got 1001");
        assertFalse(r.body().contains("1000"), r.body());
        assertBad(post("/v1/images/generations", "{\"prompt\": \"x\", \"size\": \"0x0\"}"), 400, "size", "positive");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"width\": 0}"), 400, "width", "positive");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"width\": 1024, \"height\": 1024}"), 400, "width",
                "at most 65536 (16 times its own 64x64)");
        assertBad(post("/v1/images/generations", "{\"prompt\": \"x\", \"size\": \"99999x99999\"}"), 400, "size", "at most 2048");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"n_iter\": 17}"), 400, "n_iter", "n_iter must be between 1 and 16");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"clip_skip\": 4}"), 400, "clip_skip", "between 1 (the last layer) and 3");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 10000000000}"), 400, "steps", "out of range");
    }

    @Test
    void seedsAreUnsigned64Bit() throws Exception {
        HttpResponse<String> r = post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 1, \"seed\": 18446744073709551614}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode info = JSON.readTree(JSON.readTree(r.body()).get("info").asText());
        assertEquals("18446744073709551614", info.get("seed").asText());
        assertTrue(info.get("infotexts").get(0).asText().contains("Seed: 18446744073709551614,"), info.toString());
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"seed\": 18446744073709551615}"), 400, "seed", "-1 (random)");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"seed\": -2}"), 400, "seed", "-1 (random)");
        // the last of n_iter's seeds (seed + i * batch_size) would pass the largest: refused, never wrapped
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"seed\": 18446744073709551613, \"n_iter\": 2, \"batch_size\": 2}"),
                400, "seed", "too large for 2 iterations");
    }

    @Test
    void trailingDataAndDuplicateKeysAre400Json() throws Exception {
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 1} {\"steps\": 2}"), 400, null,
                "malformed JSON: data after the end of the JSON value");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 1}garbage"), 400, null, "malformed JSON");
        assertBad(post("/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 1, \"steps\": 2}"), 400, null, "Duplicate field");
        // what the JDK's parser does not answer itself comes back as JSON even for a raw client
        String raw = rawRequest("POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{} []");
        assertTrue(raw.startsWith("HTTP/1.1 400"), raw);
        assertTrue(raw.toLowerCase(java.util.Locale.ROOT).contains("content-type: application/json"), raw);
        assertTrue(raw.contains("{\"error\":{\"message\":\"malformed JSON"), raw);
    }

    /** An interrupt stops a request in the middle of a UNet step: within about a second at the largest size. */
    @Test
    void interruptStopsALargeRequestWithinASecond() throws Exception {
        CompletableFuture<HttpResponse<String>> f = http.sendAsync(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + server.port() + "/sdapi/v1/txt2img")).timeout(Duration.ofMinutes(2))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"x\", \"steps\": 150, \"width\": 256, \"height\": 256,"
                        + " \"batch_size\": 4}")).build(), HttpResponse.BodyHandlers.ofString());
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (engine.running().isEmpty()) {
            if (f.isDone()) throw new AssertionError("answered before it ran: " + f.get().body());
            assertTrue(System.nanoTime() < deadline, "the request never started");
            Thread.sleep(5);
        }
        Thread.sleep(200); // inside the first UNet step
        long t0 = System.nanoTime();
        assertEquals(200, post("/sdapi/v1/interrupt", "").statusCode());
        HttpResponse<String> r = f.get();
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(JSON.readTree(r.body()).get("info").asText().contains("interrupted"), r.body());
        assertTrue(seconds < 1.5, "answered " + seconds + " s after the interrupt");
    }

    @Test
    void aRequestPastTheDeadlineIsCancelledWith504() throws Exception {
        long t0 = System.nanoTime();
        HttpResponse<String> r = post(deadlineServer, "/v1/images/generations", "{\"prompt\": \"x\", \"steps\": 150, \"size\": \"256x256\", \"n\": 8}");
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertBad(r, 504, null, "longer than this server's limit of 3 s");
        assertTrue(seconds < TIMEOUT.toSeconds() + 2, seconds + " s");
        long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!engine.running().isEmpty()) { // and the engine dropped it
            assertTrue(System.nanoTime() < until, "the generation still runs");
            Thread.sleep(10);
        }
    }

    static String rawRequest(String request) throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(30_000);
            OutputStream out = s.getOutputStream();
            out.write(request.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }
}
