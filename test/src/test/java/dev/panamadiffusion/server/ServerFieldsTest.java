package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.pipeline.RngKind;
import dev.panamadiffusion.testing.Png;
import dev.panamadiffusion.testing.TinyModel;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every field of {@code /sdapi/v1/txt2img} and {@code /v1/images/generations}, checked end to end against its A1111 or
 * OpenAI meaning: each request goes through a real server on the tiny reference model, and what the pipeline ran is
 * read back from each returned PNG (its A1111 {@code parameters} text, which the pipeline writes from the request it
 * ran) and its pixels. The expected side is the {@link GenerationRequest} the field means, written out here and run on
 * the same engine directly; each field must also change the image, so that a dropped field cannot pass unseen.
 */
class ServerFieldsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Path dir;
    private static DiffusionEngine engine;
    private static ImageServer server;
    private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("pd-fields");
        Path model = TinyModel.assemble(dir.resolve("tiny-sd"), "euler", TinyModel.Tokenizer.TINY_BPE);
        engine = DiffusionEngine.open(EngineOptions.defaults(model).withBackend("cpu").withMaxBatch(8).withQueueCapacity(16));
        server = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 16);
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) server.close();
        if (engine != null) engine.close();
        TinyModel.deleteTree(dir);
    }

    /** One returned image: the parameters text of its PNG and its pixels. */
    record Image(String parameters, byte[] rgb) {
        static Image of(String base64) {
            byte[] png = Base64.getDecoder().decode(base64);
            return new Image(Png.textChunks(png).get("parameters"), Png.rgb(png));
        }

        boolean samePixels(Image o) { return Arrays.equals(rgb, o.rgb); }
    }

    /** What the server returned: its images and A1111's info (null for the OpenAI API). */
    record Answer(List<Image> images, JsonNode info) {}

    // ---- AUTOMATIC1111 ------------------------------------------------------------------------------------------

    /** The base request each case changes one field of (A1111 defaults elsewhere: cfg 7.0, sampler Euler, clip skip 1). */
    private static final String A1111_BASE = "{\"prompt\": \"a red cube\", \"steps\": 2, \"seed\": 5, \"width\": 16, \"height\": 16}";

    /** The pipeline request the base means (A1111: image j of a batch from seed + j). */
    private static GenerationRequest a1111Base() {
        return new GenerationRequest("a red cube", "", 2, 7.0, "Euler", 5, 16, 16, 1, 0, RngKind.TORCH).withSeedPerImage(true);
    }

    @Test
    void a1111PromptNegativePromptStepsAndCfgScale() throws Exception {
        checkA1111("prompt", "{\"prompt\": \"a blue ball\"}", List.of(new GenerationRequest("a blue ball", "", 2, 7.0, "Euler", 5, 16, 16, 1, 0,
                RngKind.TORCH).withSeedPerImage(true)));
        checkA1111("negative_prompt", "{\"negative_prompt\": \"blurry\"}", List.of(a1111Base().withNegativePrompt("blurry")));
        checkA1111("steps", "{\"steps\": 3}", List.of(a1111Base().withSteps(3)));
        checkA1111("cfg_scale", "{\"cfg_scale\": 3.5}", List.of(a1111Base().withGuidanceScale(3.5)));
    }

    @Test
    void a1111SamplerNameAndSamplerIndex() throws Exception {
        checkA1111("sampler_name", "{\"sampler_name\": \"DDIM\"}", List.of(a1111Base().withSampler("DDIM")));
        // the older field, used when sampler_name is absent
        checkA1111("sampler_index", "{\"sampler_index\": \"Euler a\"}", List.of(a1111Base().withSampler("Euler a")));
        checkA1111("sampler_name over sampler_index", "{\"sampler_name\": \"DPM++ 2M\", \"sampler_index\": \"Euler a\"}",
                List.of(a1111Base().withSampler("DPM++ 2M")));
    }

    @Test
    void a1111SeedWidthHeight() throws Exception {
        checkA1111("seed", "{\"seed\": 6}", List.of(a1111Base().withSeed(6)));
        checkA1111("width", "{\"width\": 32}", List.of(a1111Base().withSize(32, 16)));
        checkA1111("height", "{\"height\": 32}", List.of(a1111Base().withSize(16, 32)));
    }

    @Test
    void a1111BatchSizeAndNIterSeedSequence() throws Exception {
        // one request of batch_size images, image j from seed + j (A1111's numbering)
        checkA1111("batch_size", "{\"batch_size\": 2}", List.of(a1111Base().withBatchSize(2)));
        // n_iter iterations numbered seed + i * batch_size, as A1111's all_seeds
        checkA1111("n_iter", "{\"n_iter\": 2}", List.of(a1111Base(), a1111Base().withSeed(6)));
        Answer a = checkA1111("n_iter with batch_size", "{\"n_iter\": 3, \"batch_size\": 2}", List.of(a1111Base().withBatchSize(2),
                a1111Base().withBatchSize(2).withSeed(7), a1111Base().withBatchSize(2).withSeed(9)));
        assertEquals(List.of(5L, 6L, 7L, 8L, 9L, 10L), longs(a.info().get("all_seeds")), a.info().toString());
        assertEquals(5, a.info().get("seed").asLong());
        for (int i = 0; i < 6; i++) {
            assertEquals(a.images().get(i).parameters(), a.info().get("infotexts").get(i).asText(), "info.infotexts[" + i + "]");
        }
    }

    @Test
    void a1111ClipSkipAndClipStopAtLastLayers() throws Exception {
        // A1111's "Clip skip 2" is the penultimate layer: diffusers' clip_skip 1
        checkA1111("clip_skip", "{\"clip_skip\": 2}", List.of(a1111Base().withClipSkip(1)));
        checkA1111("override_settings.CLIP_stop_at_last_layers", "{\"override_settings\": {\"CLIP_stop_at_last_layers\": 3}}",
                List.of(a1111Base().withClipSkip(2)));
        checkA1111("CLIP_stop_at_last_layers over clip_skip",
                "{\"clip_skip\": 3, \"override_settings\": {\"CLIP_stop_at_last_layers\": 2}}", List.of(a1111Base().withClipSkip(1)));
        // 1 is the last layer: the same image as no clip skip at all, and no "Clip skip" in the parameters
        Answer last = post("/sdapi/v1/txt2img", merge(A1111_BASE, "{\"override_settings\": {\"CLIP_stop_at_last_layers\": 1}}"));
        Answer none = post("/sdapi/v1/txt2img", A1111_BASE);
        assertEquals(none.images().get(0).parameters(), last.images().get(0).parameters());
        assertFalse(last.images().get(0).parameters().contains("Clip skip"), last.images().get(0).parameters());
        assertTrue(none.images().get(0).samePixels(last.images().get(0)), "CLIP_stop_at_last_layers 1 changed the image");
    }

    /**
     * A step count the sampler cannot take is the client's mistake, named as its field (PNDM made from a model whose own
     * scheduler is not PNDM runs diffusers' default Runge-Kutta warm-up, which needs 4 steps); it was a 500 from inside
     * the generation.
     */
    @Test
    void stepsTheSamplerCannotTakeAre400() throws Exception {
        for (String[] c : new String[][] {{"/sdapi/v1/txt2img", "sampler_name"}, {"/v1/images/generations", "sampler"}}) {
            HttpResponse<String> r = send(c[0], "{\"prompt\": \"x\", \"steps\": 2, \"" + c[1] + "\": \"PNDM\", "
                    + (c[1].equals("sampler") ? "\"size\": \"16x16\"}" : "\"width\": 16, \"height\": 16}"));
            assertEquals(400, r.statusCode(), r.body());
            JsonNode err = JSON.readTree(r.body()).get("error");
            assertEquals("steps", err.get("field").asText(), r.body());
            assertTrue(err.get("message").asText().contains("PNDM") && err.get("message").asText().contains("at least 4"), r.body());
        }
        Answer four = post("/sdapi/v1/txt2img", merge(A1111_BASE, "{\"sampler_name\": \"PNDM\", \"steps\": 4}"));
        assertSameImages("PNDM with 4 steps", four.images(), direct(List.of(a1111Base().withSampler("PNDM").withSteps(4))));
    }

    /** Every field at once, with the parameters text written out in full (the A1111 format users' tools parse). */
    @Test
    void a1111AllFieldsAtOnce() throws Exception {
        Answer a = post("/sdapi/v1/txt2img", """
                {"prompt": "a red cube", "negative_prompt": "blurry", "steps": 3, "cfg_scale": 5.5, "sampler_name": "DPM++ 2M",
                 "seed": 123, "width": 32, "height": 16, "batch_size": 2, "n_iter": 2,
                 "override_settings": {"CLIP_stop_at_last_layers": 2}}""");
        assertEquals(4, a.images().size());
        for (int i = 0; i < 4; i++) {
            assertEquals("a red cube\nNegative prompt: blurry\nSteps: 3, Sampler: DPM++ 2M, CFG scale: 5.5, Seed: "
                    + (123 + i) + ", Size: 32x16, Model: tiny-sd, Clip skip: 2, RNG: CPU, Batch size: 2, Batch pos: "
                    + i % 2, a.images().get(i).parameters(), "image " + i);
        }
        assertEquals(List.of(123L, 124L, 125L, 126L), longs(a.info().get("all_seeds")));
        GenerationRequest first = new GenerationRequest("a red cube", "blurry", 3, 5.5, "DPM++ 2M", 123, 32, 16, 2, 1, RngKind.TORCH)
                .withSeedPerImage(true);
        assertSameImages("all fields", a.images(), direct(List.of(first, first.withSeed(125))));
    }

    @Test
    void a1111DefaultsAndRandomSeed() throws Exception {
        // steps 20, cfg_scale 7.0, sampler Euler, batch 1, n_iter 1, clip skip 1 (the last layer). (The default size,
        // 512x512, is not run here: the tiny VAE's attention over 256x256 latents takes minutes on a CPU.)
        Answer a = post("/sdapi/v1/txt2img", "{\"prompt\": \"a red cube\", \"width\": 16, \"height\": 16, \"seed\": 5}");
        assertEquals("a red cube\nSteps: 20, Sampler: Euler, CFG scale: 7.0, Seed: 5, Size: 16x16, Model: tiny-sd, RNG: CPU",
                a.images().get(0).parameters());
        assertSameImages("defaults", a.images(), direct(List.of(a1111Base().withSteps(20))));
        // seed -1 (and no seed) picks one and reports it in info and in the parameters
        for (String body : List.of("{\"prompt\": \"a red cube\", \"steps\": 1, \"width\": 16, \"height\": 16}",
                "{\"prompt\": \"a red cube\", \"steps\": 1, \"width\": 16, \"height\": 16, \"seed\": -1}")) {
            Answer r = post("/sdapi/v1/txt2img", body);
            long seed = r.info().get("seed").asLong();
            assertTrue(seed >= 0, r.info().toString());
            assertEquals(List.of(seed), longs(r.info().get("all_seeds")));
            assertTrue(r.images().get(0).parameters().contains(", Seed: " + seed + ", "), r.images().get(0).parameters());
        }
    }

    // ---- OpenAI ---------------------------------------------------------------------------------------------------

    private static final String OPENAI_BASE = "{\"prompt\": \"a red cube\", \"size\": \"16x16\", \"steps\": 2, \"seed\": 5}";

    /** The pipeline request the base means (OpenAI defaults here: n 1, guidance 7.5, DPM++ 2M Karras). */
    private static GenerationRequest openAiBase() {
        return new GenerationRequest("a red cube", "", 2, 7.5, "DPM++ 2M Karras", 5, 16, 16, 1, 0, RngKind.TORCH);
    }

    @Test
    void openAiFields() throws Exception {
        checkOpenAi("prompt", "{\"prompt\": \"a blue ball\"}", new GenerationRequest("a blue ball", "", 2, 7.5, "DPM++ 2M Karras", 5, 16, 16, 1, 0,
                RngKind.TORCH));
        checkOpenAi("n", "{\"n\": 2}", openAiBase().withBatchSize(2));
        checkOpenAi("size", "{\"size\": \"32x16\"}", openAiBase().withSize(32, 16));
        checkOpenAi("negative_prompt", "{\"negative_prompt\": \"blurry\"}", openAiBase().withNegativePrompt("blurry"));
        checkOpenAi("guidance_scale", "{\"guidance_scale\": 3.5}", openAiBase().withGuidanceScale(3.5));
        checkOpenAi("seed", "{\"seed\": 6}", openAiBase().withSeed(6));
        checkOpenAi("steps", "{\"steps\": 3}", openAiBase().withSteps(3));
        checkOpenAi("sampler", "{\"sampler\": \"Euler a\"}", openAiBase().withSampler("Euler a"));
    }

    @Test
    void openAiDefaults() throws Exception {
        Answer a = post("/v1/images/generations", "{\"prompt\": \"a red cube\", \"size\": \"16x16\", \"seed\": 5}");
        assertEquals("a red cube\nSteps: 25, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 5, Size: 16x16, Model: tiny-sd, RNG: CPU",
                a.images().get(0).parameters());
        assertSameImages("defaults", a.images(), direct(List.of(openAiBase().withSteps(25))));
    }

    // ---- helpers --------------------------------------------------------------------------------------------------

    /**
     * Posts the A1111 base with {@code change} merged in and checks that the pipeline ran exactly {@code expected} (one
     * request per n_iter iteration): the same parameters text and pixels as running them directly; and that the change
     * made a difference to the images.
     */
    private static Answer checkA1111(String field, String change, List<GenerationRequest> expected) throws Exception {
        Answer got = post("/sdapi/v1/txt2img", merge(A1111_BASE, change));
        List<Image> want = direct(expected);
        assertSameImages(field, got.images(), want);
        assertChanged(field, post("/sdapi/v1/txt2img", A1111_BASE).images(), got.images());
        return got;
    }

    private static void checkOpenAi(String field, String change, GenerationRequest expected) throws Exception {
        Answer got = post("/v1/images/generations", merge(OPENAI_BASE, change));
        assertSameImages(field, got.images(), direct(List.of(expected)));
        assertChanged(field, post("/v1/images/generations", OPENAI_BASE).images(), got.images());
    }

    private static void assertSameImages(String field, List<Image> got, List<Image> want) {
        assertEquals(want.size(), got.size(), field + ": number of images");
        for (int i = 0; i < want.size(); i++) {
            assertEquals(want.get(i).parameters(), got.get(i).parameters(), field + ": parameters of image " + i);
            assertTrue(want.get(i).samePixels(got.get(i)), field + ": pixels of image " + i + " differ from the direct run");
        }
    }

    /** The field must show in the images: else a server that dropped it could still match the direct run. */
    private static void assertChanged(String field, List<Image> base, List<Image> changed) {
        if (base.size() != changed.size()) return; // more images (batch_size, n_iter, n)
        assertFalse(base.get(0).samePixels(changed.get(0)), field + " did not change the image");
        assertNotEquals(base.get(0).parameters(), changed.get(0).parameters(), field + " did not change the parameters");
    }

    /** {@code requests} run directly on the engine, as images with the parameters text the pipeline wrote. */
    private static List<Image> direct(List<GenerationRequest> requests) throws Exception {
        List<Image> out = new ArrayList<>();
        for (GenerationRequest r : requests) {
            GenerationResult result = engine.submit(r).result().get();
            for (int k = 0; k < result.size(); k++) {
                Rgb8Image img = result.images().get(k);
                out.add(new Image(result.infotexts().get(k), img.rgb()));
            }
        }
        return out;
    }

    private static HttpResponse<String> send(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .timeout(Duration.ofMinutes(3)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static Answer post(String path, String body) throws Exception {
        HttpResponse<String> r = send(path, body);
        assertEquals(200, r.statusCode(), body + " -> " + r.body());
        JsonNode json = JSON.readTree(r.body());
        List<Image> images = new ArrayList<>();
        if (json.has("images")) {
            json.get("images").forEach(n -> images.add(Image.of(n.asText())));
            return new Answer(images, JSON.readTree(json.get("info").asText()));
        }
        json.get("data").forEach(n -> images.add(Image.of(n.get("b64_json").asText())));
        return new Answer(images, null);
    }

    private static String merge(String base, String change) throws Exception {
        ObjectNode b = (ObjectNode) JSON.readTree(base);
        b.setAll((ObjectNode) JSON.readTree(change));
        return JSON.writeValueAsString(b);
    }

    private static List<Long> longs(JsonNode array) {
        List<Long> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asLong()));
        return out;
    }
}
