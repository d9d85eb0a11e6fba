package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.api.Generation;
import dev.panamadiffusion.image.PngWriter;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.InvalidRequestException;
import dev.panamadiffusion.pipeline.RngKind;
import dev.panamadiffusion.schedulers.Schedulers;
import dev.panamadiffusion.server.ServerPartsTest.FakeExchange;
import dev.panamadiffusion.testing.Png;
import dev.panamadiffusion.testing.TinyModel;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server's answers field by field, on the tiny reference model at its smallest sizes: A1111's {@code info}
 * and {@code parameters}, the discovery endpoints, {@code /progress} idle and during a generation, the OpenAI answer,
 * how each API decodes its JSON into a request, and the HTTP front's error bodies, status counts and routes. The
 * handlers run on an in-memory exchange ({@link FakeExchange}) where no socket is needed, so each case takes
 * milliseconds.
 */
class ServerAnswersTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Path dir;
    private static DiffusionEngine engine;
    private static A1111Api a1111;
    private static OpenAiImagesApi openai;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("pd-answers");
        Path model = TinyModel.assemble(dir.resolve("tiny-sd"), "euler", TinyModel.Tokenizer.TINY_BPE);
        engine = DiffusionEngine.open(EngineOptions.defaults(model).withBackend("cpu").withMaxBatch(8).withQueueCapacity(16));
        a1111 = new A1111Api(engine, Duration.ZERO);
        openai = new OpenAiImagesApi(engine, Duration.ZERO);
    }

    @AfterAll
    static void stop() throws Exception {
        if (engine != null) engine.close();
        TinyModel.deleteTree(dir);
    }

    private static FakeExchange exchange(String method, String path) {
        return new FakeExchange(method, path, new byte[0]);
    }

    private static JsonNode answer(FakeExchange ex, int status) throws Exception {
        assertEquals(status, ex.status, ex.responseText());
        assertEquals("application/json", ex.responseHeaders.getFirst("Content-Type"));
        assertTrue(ex.closed);
        return JSON.readTree(ex.responseText());
    }

    private static JsonNode txt2img(String body) throws Exception {
        FakeExchange ex = exchange("POST", "/sdapi/v1/txt2img");
        a1111.txt2img(ex, JSON.readTree(body));
        return answer(ex, 200);
    }

    private static List<Long> longs(JsonNode array) {
        List<Long> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asLong()));
        return out;
    }

    @Test
    void a1111InfoAndParametersCarryEveryField() throws Exception {
        String request = """
                {"prompt": "a cube", "negative_prompt": "dark", "steps": 1, "cfg_scale": 3.5, "sampler_name": "DDIM",
                 "seed": 7, "width": 16, "height": 32, "batch_size": 2, "n_iter": 2, "clip_skip": 2, "enable_hr": false}""";
        String before = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMddHHmmss"));
        JsonNode body = txt2img(request);
        String after = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMddHHmmss"));
        assertEquals(JSON.readTree(request), body.get("parameters"), "the request as sent");
        JsonNode info = JSON.readTree(body.get("info").asText());
        assertEquals("a cube", info.get("prompt").asText());
        assertEquals(JSON.readTree("[\"a cube\", \"a cube\", \"a cube\", \"a cube\"]"), info.get("all_prompts"));
        assertEquals("dark", info.get("negative_prompt").asText());
        assertEquals(JSON.readTree("[\"dark\", \"dark\", \"dark\", \"dark\"]"), info.get("all_negative_prompts"));
        assertEquals(7, info.get("seed").asLong());
        assertEquals(List.of(7L, 8L, 9L, 10L), longs(info.get("all_seeds")),
                "A1111's all_seeds: n_iter numbers seed + i * batch_size, a batch's images + j, each from its own seed");
        assertEquals(-1, info.get("subseed").asInt());
        assertEquals(List.of(-1L, -1L, -1L, -1L), longs(info.get("all_subseeds")));
        assertEquals(0, info.get("subseed_strength").asInt());
        assertEquals(16, info.get("width").asInt());
        assertEquals(32, info.get("height").asInt());
        assertEquals("DDIM", info.get("sampler_name").asText());
        assertEquals(3.5, info.get("cfg_scale").asDouble());
        assertEquals(1, info.get("steps").asInt());
        assertEquals(2, info.get("batch_size").asInt());
        assertEquals(2, info.get("clip_skip").asInt());
        assertFalse(info.has("denoising_strength"), "txt2img has no strength");
        assertEquals("tiny-sd", info.get("sd_model_name").asText());
        String stamp = info.get("job_timestamp").asText();
        assertTrue(stamp.compareTo(before) >= 0 && stamp.compareTo(after) <= 0, stamp + " not in " + before + ".." + after);
        JsonNode images = body.get("images");
        assertEquals(4, images.size());
        assertEquals(4, info.get("infotexts").size());
        for (int k = 0; k < 4; k++) {
            byte[] png = Base64.getDecoder().decode(images.get(k).asText());
            String infotext = info.get("infotexts").get(k).asText();
            assertEquals(infotext, Png.textChunks(png).get("parameters"), "image " + k + " carries its infotext");
            assertTrue(infotext.startsWith("a cube\nNegative prompt: dark\nSteps: 1, Sampler: DDIM, CFG scale: 3.5, Seed: "
                    + (7 + k) + ", Size: 16x32"), infotext);
            assertTrue(infotext.contains("Clip skip: 2"), infotext);
            assertEquals(16 * 32 * 3, Png.rgb(png).length);
        }
    }

    @Test
    void a1111RandomSeedsAreDrawnOnceAndNumberedOn() throws Exception {
        JsonNode info = JSON.readTree(txt2img("{\"prompt\": \"x\", \"steps\": 1, \"width\": 16, \"height\": 16, \"batch_size\": 2,"
                + " \"seed\": -1}").get("info").asText());
        long seed = info.get("seed").asLong();
        assertTrue(seed >= 0 && seed < (1L << 32), "A1111 draws 32-bit seeds: " + seed);
        assertEquals(List.of(seed, seed + 1), longs(info.get("all_seeds")));
        assertEquals(1, info.get("clip_skip").asInt(), "A1111's default: the last layer");
        assertEquals("Euler", info.get("sampler_name").asText());
        assertEquals(7.0, info.get("cfg_scale").asDouble());
    }

    @Test
    void a1111DecodeDefaultsAndEncodings() throws Exception {
        var model = engine.modelLimits();
        A1111Api.Txt2Img d = A1111Api.decode(JSON.readTree("{}"), model);
        assertEquals(new GenerationRequest("", "", 20, 7.0, "Euler", -1, 0, 0, 1, 0, RngKind.TORCH).withSeedPerImage(true), d.first(),
                "A1111: image j of a batch from seed + j");
        assertEquals(1, d.iterations());
        assertEquals("Euler", d.sampler());
        assertEquals(1, d.clipSkip());
        d = A1111Api.decode(JSON.readTree("{\"sampler_index\": \"DDIM\", \"n_iter\": 3, \"clip_skip\": 3, \"width\": 8}"), model);
        assertEquals("DDIM", d.sampler());
        assertEquals(3, d.iterations());
        assertEquals(3, d.clipSkip());
        assertEquals(2, d.first().clipSkip(), "A1111's 3 is two layers before the last");
        assertEquals(8, d.first().width());
        assertEquals(0, d.first().height());
        // override_settings.CLIP_stop_at_last_layers wins over clip_skip; without it clip_skip stands
        assertEquals(2, A1111Api.decode(JSON.readTree("{\"clip_skip\": 3, \"override_settings\": {\"CLIP_stop_at_last_layers\": 2}}"),
                model).clipSkip());
        assertEquals(3, A1111Api.decode(JSON.readTree("{\"clip_skip\": 3, \"override_settings\": {}}"), model).clipSkip());
        assertEquals(1, A1111Api.decode(JSON.readTree("{\"clip_skip\": 1}"), model).clipSkip());
        HttpError e = assertThrows(HttpError.class, () -> A1111Api.decode(JSON.readTree("{\"override_settings\": 2}"), model));
        assertEquals("override_settings", e.field);
        assertEquals("override_settings must be an object", e.getMessage());
        e = assertThrows(HttpError.class, () -> A1111Api.decode(JSON.readTree(
                "{\"override_settings\": {\"CLIP_stop_at_last_layers\": 0}}"), model));
        assertEquals("override_settings.CLIP_stop_at_last_layers", e.field);
        assertEquals("override_settings.CLIP_stop_at_last_layers must be between 1 (the last layer) and 3 (the text encoder has 2"
                + " layers), got 0", e.getMessage());
        e = assertThrows(HttpError.class, () -> A1111Api.decode(JSON.readTree("{\"clip_skip\": 0}"), model));
        assertEquals("clip_skip", e.field);
        e = assertThrows(HttpError.class, () -> A1111Api.decode(JSON.readTree("{\"clip_skip\": 4}"), model));
        assertEquals("clip_skip", e.field);
        e = assertThrows(HttpError.class, () -> A1111Api.decode(JSON.readTree("{\"enable_hr\": true}"), model));
        assertEquals("enable_hr", e.field);
        assertEquals(400, e.status);
        InvalidRequestException side = assertThrows(InvalidRequestException.class,
                () -> A1111Api.decode(JSON.readTree("{\"height\": -8}"), model));
        assertEquals("height", side.problems().get(0).field());
        assertTrue(side.describe(Map.of()).contains("must be positive, got -8"), side.describe(Map.of()));
        side = assertThrows(InvalidRequestException.class, () -> A1111Api.decode(JSON.readTree("{\"width\": 0}"), model));
        assertEquals("width", side.problems().get(0).field());
    }

    @Test
    void openAiDecodeDefaultsAndEncodings() throws Exception {
        assertEquals(new GenerationRequest("a cat", "", 25, 7.5, "DPM++ 2M Karras", -1, 0, 0, 1, 0, RngKind.TORCH),
                OpenAiImagesApi.decode(JSON.readTree("{\"prompt\": \"a cat\"}"), 7.5));
        // no guidance_scale: the model's own default (5 for SDXL), passed in by the server from the engine
        assertEquals(5.0, OpenAiImagesApi.decode(JSON.readTree("{\"prompt\": \"a cat\"}"), 5.0).guidanceScale());
        assertEquals(new GenerationRequest("a cat", "ugly", 3, 2.5, "DDIM", 9, 32, 16, 2, 0, RngKind.TORCH),
                OpenAiImagesApi.decode(JSON.readTree("""
                        {"prompt": "a cat", "negative_prompt": "ugly", "steps": 3, "guidance_scale": 2.5, "sampler": "DDIM",
                         "seed": 9, "size": "32x16", "n": 2, "model": "m", "quality": "hd", "style": "vivid", "user": "u",
                         "response_format": "b64_json"}"""), 5.0));
        for (String size : new String[] {"0x16", "16x0"}) {
            InvalidRequestException e = assertThrows(InvalidRequestException.class,
                    () -> OpenAiImagesApi.decode(JSON.readTree("{\"prompt\": \"x\", \"size\": \"" + size + "\"}"), 7.5));
            assertEquals("size", e.problems().get(0).field());
        }
        assertOpenAiBad("response_format", "response_format must be b64_json (this server keeps no image URLs)",
                "{\"prompt\": \"x\", \"response_format\": \"url\"}");
        assertOpenAiBad("prompt", "prompt must not be empty", "{\"prompt\": \"  \"}");
        assertOpenAiBad("size", "size must look like 512x512 (got '16x')", "{\"prompt\": \"x\", \"size\": \"16x\"}");
        for (String field : new String[] {"model", "quality", "style", "user"}) {
            assertOpenAiBad(field, field + " must be a string", "{\"prompt\": \"x\", \"" + field + "\": 1}");
        }
    }

    private static void assertOpenAiBad(String field, String message, String json) {
        HttpError e = assertThrows(HttpError.class, () -> OpenAiImagesApi.decode(JSON.readTree(json), 7.5), json);
        assertEquals(400, e.status);
        assertEquals(field, e.field);
        assertEquals(message, e.getMessage());
    }

    @Test
    void openAiAnswerHasItsPromptAndTime() throws Exception {
        FakeExchange ex = exchange("POST", "/v1/images/generations");
        long before = System.currentTimeMillis() / 1000;
        openai.generations(ex, JSON.readTree("{\"prompt\": \"a dog\", \"n\": 2, \"size\": \"16x16\", \"steps\": 1, \"seed\": 3}"));
        long after = System.currentTimeMillis() / 1000;
        JsonNode body = answer(ex, 200);
        long created = body.get("created").asLong();
        assertTrue(created >= before && created <= after, created + " not in " + before + ".." + after);
        assertEquals(2, body.get("data").size());
        for (JsonNode d : body.get("data")) {
            assertEquals("a dog", d.get("revised_prompt").asText());
            byte[] png = Base64.getDecoder().decode(d.get("b64_json").asText());
            assertTrue(Png.textChunks(png).get("parameters").startsWith("a dog\n"), Png.textChunks(png).toString());
        }
        // an invalid field is named as this API names it
        HttpError e = assertThrows(HttpError.class, () -> openai.generations(exchange("POST", "/v1/images/generations"),
                JSON.readTree("{\"prompt\": \"x\", \"guidance_scale\": -3}")));
        assertEquals("guidance_scale", e.field);
        assertTrue(e.getMessage().startsWith("guidance_scale "), e.getMessage());
    }

    @Test
    void progressWhenIdle() throws Exception {
        FakeExchange ex = exchange("GET", "/sdapi/v1/progress");
        a1111.progress(ex);
        assertEquals(JSON.readTree("""
                {"progress": 0.0, "eta_relative": 0.0, "state": {"skipped": false, "interrupted": false, "job": "",
                 "job_count": 0, "job_no": 0, "sampling_step": 0, "sampling_steps": 0}, "current_image": null, "textinfo": null}"""),
                answer(ex, 200));
        assertEquals(405, assertThrows(HttpError.class, () -> a1111.progress(exchange("POST", "/sdapi/v1/progress"))).status);
    }

    @Test
    void progressOfARunningGenerationThenInterrupt() throws Exception {
        Generation g = engine.submit(new GenerationRequest("slow", "", 150, 7.0, "Euler", 1, 64, 64, 1, 0, RngKind.TORCH));
        try {
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (engine.running().isEmpty() || g.progress().stepsDone() < 1) {
                assertTrue(System.nanoTime() < deadline, "the generation never started");
                Thread.sleep(5);
            }
            FakeExchange ex = exchange("GET", "/sdapi/v1/progress");
            a1111.progress(ex);
            JsonNode p = answer(ex, 200);
            JsonNode state = p.get("state");
            assertEquals("job(" + g.id() + ")", state.get("job").asText());
            assertTrue(state.get("job_count").asInt() >= 1, state.toString());
            // a second request of another size cannot join the running batch: it waits, and job_count counts it
            Generation queued = engine.submit(new GenerationRequest("waits", "", 150, 7.0, "Euler", 1, 32, 32, 1, 0, RngKind.TORCH));
            try {
                assertEquals(1, engine.queued(), "another size waits for the running batch");
                FakeExchange both = exchange("GET", "/sdapi/v1/progress");
                a1111.progress(both);
                assertEquals(engine.running().size() + 1, answer(both, 200).get("state").get("job_count").asInt(),
                        "running plus queued");
            } finally {
                queued.cancel();
            }
            assertEquals(150, state.get("sampling_steps").asInt());
            int step = state.get("sampling_step").asInt();
            assertTrue(step >= 1 && step < 150, state.toString());
            assertEquals(step / 150.0, p.get("progress").asDouble(), 1.0 / 150, p.toString());
            assertTrue(p.get("progress").asDouble() > 0, p.toString());
            assertTrue(p.get("eta_relative").asDouble() > 0, p.toString());
            assertEquals(405, assertThrows(HttpError.class, () -> a1111.interrupt(exchange("GET", "/sdapi/v1/interrupt"))).status);
            FakeExchange stop = exchange("POST", "/sdapi/v1/interrupt");
            a1111.interrupt(stop);
            assertEquals(JSON.readTree("{}"), answer(stop, 200));
            assertThrows(Exception.class, () -> g.result().get(), "interrupted: no result");
            assertTrue(g.result().isCancelled() || g.result().isCompletedExceptionally());
        } finally {
            g.cancel();
        }
    }

    /**
     * An interrupt during the first of two n_iter iterations answers A1111's interrupted result and cancels the second,
     * queued behind the first (an engine of its own that runs one request at a time, so the iterations cannot share a
     * batch): the engine makes no image.
     */
    @Test
    void anInterruptedIterationCancelsTheOthers() throws Exception {
        try (DiffusionEngine one = DiffusionEngine.open(EngineOptions.defaults(dir.resolve("tiny-sd")).withBackend("cpu")
                .withMaxBatch(1).withQueueCapacity(4))) {
            A1111Api api = new A1111Api(one, Duration.ZERO);
            FakeExchange ex = exchange("POST", "/sdapi/v1/txt2img");
            java.util.concurrent.CompletableFuture<Void> done = java.util.concurrent.CompletableFuture.runAsync(() -> {
                try {
                    api.txt2img(ex, JSON.readTree("{\"prompt\": \"two\", \"steps\": 150, \"width\": 64, \"height\": 64, \"n_iter\": 2}"));
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
            while (one.running().isEmpty() || one.queued() == 0) {
                if (done.isDone()) done.get(); // its failure, if it failed
                assertTrue(System.nanoTime() < deadline && !done.isDone(), "the iterations never started: " + ex.responseText());
                Thread.sleep(5);
            }
            api.interrupt(exchange("POST", "/sdapi/v1/interrupt"));
            done.get(2, java.util.concurrent.TimeUnit.MINUTES);
            JsonNode body = answer(ex, 200);
            assertEquals(0, body.get("images").size(), body.toString());
            assertEquals("two", body.get("parameters").get("prompt").asText());
            assertEquals("{\"interrupted\": true}", body.get("info").asText());
            // the engine's own counts, once it is idle: both iterations cancelled, no image made
            long until = System.nanoTime() + 60_000_000_000L;
            while ((!one.running().isEmpty() || one.queued() > 0 || !one.prometheusMetrics().contains("pd_requests_cancelled_total 2\n"))
                    && !one.prometheusMetrics().contains("pd_images_total 1") && System.nanoTime() < until) Thread.sleep(5);
            String metrics = one.prometheusMetrics();
            assertTrue(metrics.contains("pd_images_total 0\n"), "the second iteration ran on:\n" + metrics);
            assertTrue(metrics.contains("pd_requests_cancelled_total 2\n"), metrics);
        }
    }

    @Test
    void discoveryEndpoints() throws Exception {
        FakeExchange ex = exchange("GET", "/sdapi/v1/samplers");
        a1111.samplers(ex);
        JsonNode samplers = answer(ex, 200);
        List<String> names = new ArrayList<>();
        for (JsonNode s : samplers) {
            names.add(s.get("name").asText());
            assertEquals(JSON.readTree("[]"), s.get("aliases"));
            assertEquals(JSON.readTree("{}"), s.get("options"));
        }
        assertEquals(Schedulers.names(), names);
        ex = exchange("GET", "/sdapi/v1/sd-models");
        a1111.models(ex);
        JsonNode models = answer(ex, 200);
        assertEquals(1, models.size());
        JsonNode m = models.get(0);
        assertEquals("tiny-sd", m.get("title").asText());
        assertEquals("tiny-sd", m.get("model_name").asText());
        assertTrue(m.get("hash").isNull());
        assertTrue(m.get("sha256").isNull());
        assertTrue(m.get("config").isNull());
        assertEquals(engine.options().modelDir().toAbsolutePath().toString(), m.get("filename").asText());
        ex = exchange("GET", "/sdapi/v1/options");
        a1111.options(ex);
        assertEquals(JSON.readTree("{\"sd_model_checkpoint\": \"tiny-sd\", \"CLIP_stop_at_last_layers\": 1}"), answer(ex, 200));
        for (String path : new String[] {"samplers", "sd-models", "options"}) {
            FakeExchange post = exchange("POST", "/sdapi/v1/" + path);
            HttpError e = assertThrows(HttpError.class, () -> {
                switch (path) {
                    case "samplers" -> a1111.samplers(post);
                    case "sd-models" -> a1111.models(post);
                    default -> a1111.options(post);
                }
            });
            assertEquals(405, e.status, path);
            assertEquals("use GET for /sdapi/v1/" + path, e.getMessage());
        }
    }

    /** A 16x16 PNG of one colour, base64. */
    private static String initImage() {
        byte[] rgb = new byte[16 * 16 * 3];
        for (int i = 0; i < rgb.length; i += 3) rgb[i] = (byte) 200;
        return Base64.getEncoder().encodeToString(PngWriter.encode(new Rgb8Image(16, 16, rgb), Map.of()));
    }

    @Test
    void img2imgAcceptsDataUrlsAndWrappedBase64AndReportsItsStrength() throws Exception {
        String b64 = initImage();
        String wrapped = b64.substring(0, 20) + "\n" + b64.substring(20);
        String[] forms = {"data:image/png;base64," + b64, wrapped.replace("\n", "\\n")};
        for (String form : forms) {
            FakeExchange ex = exchange("POST", "/sdapi/v1/img2img");
            a1111.img2img(ex, JSON.readTree("{\"prompt\": \"x\", \"steps\": 2, \"seed\": 1, \"denoising_strength\": 0.5, \"mask\": null,"
                    + " \"init_images\": [\"" + form + "\"]}"));
            JsonNode info = JSON.readTree(answer(ex, 200).get("info").asText());
            assertEquals(0.5, info.get("denoising_strength").asDouble(), form);
            assertEquals(16, info.get("width").asInt(), "the image's own size");
            assertEquals(16, info.get("height").asInt());
        }
        FakeExchange ex = exchange("POST", "/sdapi/v1/img2img");
        a1111.img2img(ex, JSON.readTree("{\"prompt\": \"x\", \"steps\": 2, \"seed\": 1, \"init_images\": [\"" + b64 + "\"]}"));
        assertEquals(0.75, JSON.readTree(answer(ex, 200).get("info").asText()).get("denoising_strength").asDouble(), "A1111's default");
        for (String bad : new String[] {"{\"init_images\": [3]}", "{\"init_images\": \"" + b64 + "\"}", "{\"init_images\": []}"}) {
            HttpError e = assertThrows(HttpError.class, () -> a1111.img2img(exchange("POST", "/sdapi/v1/img2img"), JSON.readTree(bad)));
            assertEquals("init_images", e.field, bad);
            assertEquals(400, e.status);
        }
        HttpError e = assertThrows(HttpError.class, () -> a1111.img2img(exchange("POST", "/sdapi/v1/img2img"),
                JSON.readTree("{\"init_images\": [3]}")));
        assertEquals("init_images[0] must be a base64 string", e.getMessage());
    }

    // ---- the HTTP front ----------------------------------------------------------------------------------------

    private static HttpResponse<String> send(ImageServer server, String method, String path) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build();
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path)).timeout(Duration.ofMinutes(2));
        b = method.equals("GET") ? b.GET() : b.POST(HttpRequest.BodyPublishers.ofString("{}", StandardCharsets.UTF_8));
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static long count(String metrics, int code) {
        String prefix = "pd_http_responses_total{code=\"" + code + "\"} ";
        for (String line : metrics.split("\n")) if (line.startsWith(prefix)) return Long.parseLong(line.substring(prefix.length()));
        return 0;
    }

    @Test
    void errorBodiesStatusCountsAndRoutes() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1024,
                Duration.ofSeconds(-1)));
        try (ImageServer server = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1024)) {
            HttpResponse<String> health = send(server, "GET", "/health");
            assertEquals(200, health.statusCode());
            assertEquals(JSON.readTree("{\"status\": \"ok\", \"model\": \"tiny-sd\", \"backend\": \"cpu\", \"queued\": 0, \"running\": 0}"),
                    JSON.readTree(health.body()));
            HttpResponse<String> missing = send(server, "GET", "/health/more");
            assertEquals(404, missing.statusCode());
            JsonNode body = JSON.readTree(missing.body());
            assertEquals(JSON.readTree("{\"error\": {\"message\": \"no such endpoint: /health/more\"},"
                    + " \"detail\": \"no such endpoint: /health/more\"}"), body, "no field when none is at fault");
            assertEquals(404, send(server, "GET", "/elsewhere").statusCode());
            HttpResponse<String> wrongMethod = send(server, "POST", "/metrics");
            assertEquals(405, wrongMethod.statusCode());
            assertEquals("use GET for /metrics", JSON.readTree(wrongMethod.body()).get("detail").asText());
            assertEquals(405, send(server, "POST", "/health").statusCode());
            // an invalid field: 400 with the field named, through the route
            HttpResponse<String> bad = send(server, "POST", "/v1/images/generations");
            assertEquals(400, bad.statusCode());
            assertEquals("prompt", JSON.readTree(bad.body()).get("error").get("field").asText());
            String metrics = send(server, "GET", "/metrics").body();
            assertEquals(1, count(metrics, 200), metrics);
            assertEquals(2, count(metrics, 404), metrics);
            assertEquals(2, count(metrics, 405), metrics);
            assertEquals(1, count(metrics, 400), metrics);
            assertTrue(metrics.contains("# TYPE pd_http_responses_total counter\n"), metrics);
            metrics = send(server, "GET", "/metrics").body();
            assertEquals(2, count(metrics, 200), "the first /metrics counted once it was answered: " + metrics);
        }
    }

    @Test
    void shutdownAnswersWhatIsInFlightAndClosesThePort() throws Exception {
        ImageServer server = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 16);
        int port = server.port();
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build();
        var inFlight = http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/sdapi/v1/txt2img"))
                .timeout(Duration.ofMinutes(2)).POST(HttpRequest.BodyPublishers.ofString(
                        "{\"prompt\": \"x\", \"steps\": 150, \"width\": 64, \"height\": 64}")).build(), HttpResponse.BodyHandlers.ofString());
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while (engine.running().isEmpty()) {
            assertTrue(System.nanoTime() < deadline, "the request never started");
            Thread.sleep(5);
        }
        long t0 = System.nanoTime();
        server.shutdown(Duration.ofMillis(200));
        double seconds = (System.nanoTime() - t0) / 1e9;
        HttpResponse<String> r = inFlight.get();
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(JSON.readTree(r.body()).get("info").asText().contains("interrupted"), r.body());
        assertTrue(seconds < 5, "shutdown took " + seconds + " s");
        assertThrows(Exception.class, () -> http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health"))
                .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString()), "the port is closed");
    }
}
