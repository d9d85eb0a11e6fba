package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.image.ImageFiles;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.InitImage;
import dev.panamadiffusion.pipeline.ProgressListener;
import dev.panamadiffusion.pipeline.RngKind;
import dev.panamadiffusion.pipeline.SdxlOptions;
import dev.panamadiffusion.testing.Png;
import dev.panamadiffusion.testing.TinyModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SDXL's own fields over HTTP ({@link SdxlFields}: {@code prompt_2}, {@code negative_prompt_2} and the size
 * conditioning under diffusers' names, sizes as [height, width]) on the tiny SDXL base of {@code reference/sdxl}: the
 * A1111 and OpenAI endpoints paint what diffusers' {@code StableDiffusionXLPipeline} painted with the same arguments
 * (gen_sdxl.py's {@code loop_euler_cfg5_prompt2_sizes}), the edits endpoint what the engine paints with them; on an
 * SD 1.x model, and malformed, they are 400s naming the field.
 */
class ServerSdxlTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path SET = Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl");
    private static final String PROMPT = "a photograph of an astronaut riding a horse";
    /** gen_sdxl.py's loop_euler_cfg5_prompt2_sizes arguments, diffusers' tuples as they are. */
    private static final String FIELDS = """
            "prompt_2": "a red cube on a wooden table", "negative_prompt_2": "low quality", "original_size": [40, 24],
            "crops_coords_top_left": [4, 12], "target_size": [12, 20], "negative_original_size": [8, 56],
            "negative_crops_coords_top_left": [6, 2], "negative_target_size": [28, 8]""";
    private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static Path dir;
    private static DiffusionEngine sdxl, sd1, refiner;
    private static ImageServer sdxlServer, sd1Server, refinerServer;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("pd-server-sdxl");
        sdxl = DiffusionEngine.open(EngineOptions.defaults(SET).withBackend("cpu").withMaxBatch(8).withQueueCapacity(4));
        sdxlServer = ImageServer.start(sdxl, new InetSocketAddress("127.0.0.1", 0), 1 << 20);
        Path model = TinyModel.assemble(dir.resolve("tiny-sd"), "euler", TinyModel.Tokenizer.FOLDED_CLIP);
        sd1 = DiffusionEngine.open(EngineOptions.defaults(model).withBackend("cpu").withMaxBatch(8).withQueueCapacity(4));
        sd1Server = ImageServer.start(sd1, new InetSocketAddress("127.0.0.1", 0), 1 << 20);
        refiner = DiffusionEngine.open(EngineOptions.defaults(SET.resolveSibling("sdxl-refiner")).withBackend("cpu")
                .withMaxBatch(8).withQueueCapacity(4));
        refinerServer = ImageServer.start(refiner, new InetSocketAddress("127.0.0.1", 0), 1 << 20);
    }

    @AfterAll
    static void stop() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {sdxlServer, sdxl, sd1Server, sd1, refinerServer, refiner}) {
            if (c != null) c.close();
        }
        TinyModel.deleteTree(dir);
    }

    private static HttpResponse<String> post(ImageServer server, String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .timeout(Duration.ofMinutes(2)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The base64 PNGs of an answer: A1111's {@code images}, or OpenAI's {@code data[].b64_json}. */
    private static byte[][] pngs(HttpResponse<String> r) throws Exception {
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = JSON.readTree(r.body());
        JsonNode list = body.has("images") ? body.get("images") : body.get("data");
        byte[][] out = new byte[list.size()][];
        for (int i = 0; i < out.length; i++) {
            JsonNode n = list.get(i);
            out[i] = Base64.getDecoder().decode((n.isTextual() ? n : n.get("b64_json")).asText());
        }
        return out;
    }

    /** Both images against diffusers' loop with the same arguments, within one level; and not the loop without them. */
    private static void assertDiffusers(byte[][] pngs) throws Exception {
        assertDiffusers(pngs, 2);
    }

    /** The first {@code rows} of two images against diffusers' loop with the same arguments, within one level. */
    private static void assertDiffusers(byte[][] pngs, int rows) throws Exception {
        float[] ref = SafeTensors.readAll(SET.resolve("loop_euler_cfg5_prompt2_sizes.safetensors")).get("image_01")
                .toFloatArray();                                                                // [2, 3, 16, 16]
        assertEquals(2, pngs.length);
        int plane = ref.length / 2;
        for (int i = 0; i < rows; i++) {
            int diff = Png.maxPixelDiff(pngs[i], Arrays.copyOfRange(ref, i * plane, (i + 1) * plane));
            assertTrue(diff <= 1, "image " + (i + 1) + " vs diffusers' loop with prompt_2 and sizes: " + diff);
        }
    }

    @Test
    void a1111Txt2ImgTakesDiffusersSdxlFields() throws Exception {
        String body = """
                {"prompt": "%s", "negative_prompt": "blurry", "steps": 3, "cfg_scale": 5, "sampler_name": "Euler",
                 "seed": 11, "batch_size": 2, %s}""".formatted(PROMPT, FIELDS);
        byte[][] served = pngs(post(sdxlServer, "/sdapi/v1/txt2img", body));
        // A1111's batch: image j from seed 11 + j. Euler draws nothing after the initial noise, whose first row is
        // seed 11's whole draw: image 1 is diffusers' first
        assertDiffusers(served, 1);
        // and image 2 is what seed 12 makes alone; but for the negative sizes, which diffusers' text to image lays
        // out per batch (cat([negative, positive]) repeated: they reach other rows at batch 2), and which are left out
        String fields = FIELDS.substring(0, FIELDS.indexOf(", \"negative_original_size\""));
        String pair = body.replace(FIELDS, fields);
        byte[][] both = pngs(post(sdxlServer, "/sdapi/v1/txt2img", pair));
        byte[][] twelve = pngs(post(sdxlServer, "/sdapi/v1/txt2img", pair.replace("\"seed\": 11, \"batch_size\": 2",
                "\"seed\": 12, \"batch_size\": 1")));
        byte[] alone = ImageFiles.readRgb(twelve[0]).rgb(), second = ImageFiles.readRgb(both[1]).rgb();
        assertEquals(alone.length, second.length);
        int worst = 0;  // the batch's GEMMs block differently: the same image to rounding, not to the bit
        for (int k = 0; k < alone.length; k++) worst = Math.max(worst, Math.abs((alone[k] & 0xff) - (second[k] & 0xff)));
        assertTrue(worst <= 1, "image 2 vs seed 12's alone: " + worst + " levels");
        byte[][] without = pngs(post(sdxlServer, "/sdapi/v1/txt2img", body.replace(", " + FIELDS, "")));
        assertFalse(Arrays.equals(ImageFiles.readRgb(served[0]).rgb(), ImageFiles.readRgb(without[0]).rgb()),
                "the SDXL fields change nothing");
    }

    @Test
    void openAiGenerationsTakeDiffusersSdxlFieldsAlsoAsText() throws Exception {
        String body = """
                {"prompt": "%s", "negative_prompt": "blurry", "steps": 3, "guidance_scale": 5, "sampler": "Euler",
                 "seed": 11, "n": 2, "size": "16x16", %s}""".formatted(PROMPT, FIELDS);
        assertDiffusers(pngs(post(sdxlServer, "/v1/images/generations", body)));
        String asText = body.replace("[40, 24]", "\"40,24\"").replace("[4, 12]", "\"[4, 12]\"");
        assertDiffusers(pngs(post(sdxlServer, "/v1/images/generations", asText)));
    }

    @Test
    void openAiEditsTakeSdxlFieldsFromTheForm() throws Exception {
        Rgb8Image init = ImageFiles.readRgb(Files.readAllBytes(SET.getParent().resolve("inpaint/init.png")));
        Rgb8Image mask = ImageFiles.readRgb(Files.readAllBytes(SET.getParent().resolve("inpaint/mask.png")));
        SdxlOptions options = SdxlOptions.NONE.withPrompt2("a red cube on a wooden table")
                .withSizes(new SdxlOptions.Size(24, 40), new SdxlOptions.Crop(4, 12), null);
        GenerationRequest r = new GenerationRequest(PROMPT, "", 3, 5, "Euler", 11, 16, 16, 1, 0, RngKind.TORCH, options);
        byte[] expected = sdxl.submit(r, new InitImage(init, 0.75, mask), ProgressListener.NONE).result().get().images().get(0).rgb();
        Map<String, Object> form = new LinkedHashMap<>();
        form.put("image", ServerInpaintTest.png(init, false));
        form.put("mask", ServerInpaintTest.png(mask, true));
        form.put("prompt", PROMPT);
        form.put("prompt_2", "a red cube on a wooden table");
        form.put("original_size", "40,24");
        form.put("crops_coords_top_left", "4,12");
        form.put("strength", "0.75");
        form.put("steps", "3");
        form.put("guidance_scale", "5");
        form.put("sampler", "Euler");
        form.put("seed", "11");
        byte[] served = ImageFiles.readRgb(pngs(ServerInpaintTest.edits(sdxlServer.port(), form))[0]).rgb();
        assertArrayEquals(expected, served);
        form.remove("prompt_2");
        form.remove("original_size");
        form.remove("crops_coords_top_left");
        assertFalse(Arrays.equals(served, ImageFiles.readRgb(pngs(ServerInpaintTest.edits(sdxlServer.port(), form))[0]).rgb()),
                "the SDXL fields change nothing");
    }

    /**
     * The refiner's aesthetic scores in A1111's img2img: gen_sdxl_refiner.py's {@code img2img_euler_a_s0.5_b2_per_image}
     * (diffusers' {@code StableDiffusionXLImg2ImgPipeline} with aesthetic scores 7.5 / 1.5 and sizes, and a generator
     * per image seeded 43 and 44: A1111's batch seeds) within one level.
     */
    @Test
    void a1111Img2ImgOnTheRefinerTakesAestheticScores() throws Exception {
        Path set = SET.resolveSibling("sdxl-refiner");
        String init = Base64.getEncoder().encodeToString(Files.readAllBytes(set.resolve("init.png")));
        String body = """
                {"prompt": "%s", "negative_prompt": "blurry", "init_images": ["%s"], "denoising_strength": 0.5,
                 "sampler_name": "Euler a", "steps": 6, "seed": 43, "batch_size": 2, "cfg_scale": 5,
                 "original_size": [40, 24], "crops_coords_top_left": [4, 12], "aesthetic_score": 7.5,
                 "negative_aesthetic_score": 1.5, "negative_original_size": [8, 56], "negative_crops_coords_top_left": [6, 2]}"""
                .formatted(PROMPT, init);
        byte[][] served = pngs(post(refinerServer, "/sdapi/v1/img2img", body));
        float[] ref = SafeTensors.readAll(set.resolve("img2img_euler_a_s0.5_b2_per_image.safetensors")).get("image_01")
                .toFloatArray();                                                                // [2, 3, 32, 32]
        assertEquals(2, served.length);
        int plane = ref.length / 2;
        for (int i = 0; i < 2; i++) {
            int diff = Png.maxPixelDiff(served[i], Arrays.copyOfRange(ref, i * plane, (i + 1) * plane));
            assertTrue(diff <= 1, "image " + (i + 1) + " vs diffusers' refiner run with scores and sizes: " + diff);
        }
        // the tiny refiner's time embedding barely moves its output (7.5 vs 100: 8e-6 in the latents), so the scores'
        // arrival is checked by the limits they meet instead of by the picture
        ImageServerTest.assertBad(post(refinerServer, "/sdapi/v1/img2img", body.replace("\"aesthetic_score\": 7.5",
                "\"aesthetic_score\": 1000")), 400, "aesthetic_score", "aesthetic_score");
        ImageServerTest.assertBad(post(refinerServer, "/sdapi/v1/img2img", body.replace("\"negative_aesthetic_score\": 1.5",
                "\"negative_aesthetic_score\": \"low\"")), 400, "negative_aesthetic_score", "must be a number");
        ImageServerTest.assertBad(post(sdxlServer, "/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 2, \"aesthetic_score\": 6}"),
                400, "aesthetic_score", "aesthetic_score");
    }

    @Test
    void sdxlFieldsAreRefusedByNameOnSd1AndWhenMalformed() throws Exception {
        ImageServerTest.assertBad(post(sd1Server, "/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 2, \"prompt_2\": \"y\"}"),
                400, "prompt_2", "prompt_2 is SDXL's, but this model is not SDXL");
        ImageServerTest.assertBad(post(sd1Server, "/v1/images/generations", "{\"prompt\": \"x\", \"steps\": 2, \"target_size\": [16, 16]}"),
                400, "target_size", "target_size is SDXL's");
        ImageServerTest.assertBad(post(sdxlServer, "/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 2, \"original_size\": [16]}"),
                400, "original_size", "original_size must be [height, width] (diffusers' order)");
        ImageServerTest.assertBad(post(sdxlServer, "/v1/images/generations", "{\"prompt\": \"x\", \"steps\": 2, \"crops_coords_top_left\": \"a,b\"}"),
                400, "crops_coords_top_left", "must be [top, left]");
        ImageServerTest.assertBad(post(sdxlServer, "/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 2, \"original_size\": [0, 16]}"),
                400, "original_size", "between 1 and");
        ImageServerTest.assertBad(post(sdxlServer, "/sdapi/v1/txt2img", "{\"prompt\": \"x\", \"steps\": 2, \"negative_original_size\": [16, 16]}"),
                400, "negative_original_size", "needs the negative target size");
        ImageServerTest.assertBad(post(sdxlServer, "/v1/images/generations", "{\"prompt\": \"x\", \"steps\": 2, \"prompt_2\": 3}"),
                400, "prompt_2", "prompt_2 must be a string");
    }
}
