package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
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
import java.util.Base64;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A1111's {@code POST /sdapi/v1/img2img} ({@code init_images}, {@code denoising_strength}) against diffusers'
 * {@code StableDiffusionImg2ImgPipeline} pixels (the repository's {@code reference/img2img}), and its 400s.
 */
class ServerImageToImageTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path SET = Path.of(System.getProperty("pd.home", "..")).resolve("reference/img2img");
    private static Path dir;
    private static DiffusionEngine engine;
    private static ImageServer server;
    private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static String initB64;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("pd-server-i2i");
        Path model = TinyModel.assemble(dir.resolve("tiny-sd"), "euler", TinyModel.Tokenizer.FOLDED_CLIP);
        engine = DiffusionEngine.open(EngineOptions.defaults(model).withBackend("cpu").withMaxBatch(8).withQueueCapacity(4));
        server = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 20);
        initB64 = Base64.getEncoder().encodeToString(Files.readAllBytes(SET.resolve("init.png")));
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) server.close();
        if (engine != null) engine.close();
        TinyModel.deleteTree(dir);
    }

    private static HttpResponse<String> post(String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/sdapi/v1/img2img"))
                .timeout(Duration.ofMinutes(2)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void matchesDiffusersImg2Img() throws Exception {
        for (String prefix : new String[] {"", "data:image/png;base64,"}) {
            HttpResponse<String> r = post("""
                    {"prompt": "a photograph of an astronaut riding a horse", "negative_prompt": "blurry", "steps": 10,
                     "cfg_scale": 7.5, "sampler_name": "Euler", "seed": 21, "denoising_strength": 0.4,
                     "init_images": ["%s%s"]}""".formatted(prefix, initB64));
            assertEquals(200, r.statusCode(), r.body());
            JsonNode body = JSON.readTree(r.body());
            byte[] png = Base64.getDecoder().decode(body.get("images").get(0).asText());
            JsonNode info = JSON.readTree(body.get("info").asText());
            assertEquals(16, info.get("width").asInt());
            assertEquals(0.4, info.get("denoising_strength").asDouble());
            assertTrue(Png.textChunks(png).get("parameters").contains("Size: 16x16, Model: tiny-sd, Denoising strength: 0.4"),
                    Png.textChunks(png).get("parameters"));
            int diff = maxPixelDiff(png, "img2img_euler_s0.4");
            assertTrue(diff <= 1, "pixels differ from diffusers' by " + diff);
        }
    }

    @Test
    void badImagesAndStrengthsNameTheField() throws Exception {
        ImageServerTest.assertBad(post("{\"prompt\": \"x\"}"), 400, "init_images", "one base64 image");
        ImageServerTest.assertBad(post("{\"prompt\": \"x\", \"init_images\": [\"%s\", \"%s\"]}".formatted(initB64, initB64)),
                400, "init_images", "one is supported");
        ImageServerTest.assertBad(post("{\"prompt\": \"x\", \"init_images\": [\"@@@\"]}"), 400, "init_images", "not base64");
        ImageServerTest.assertBad(post("{\"prompt\": \"x\", \"init_images\": [\"aGVsbG8=\"]}"), 400, "init_images", "not an image");
        ImageServerTest.assertBad(post("{\"prompt\": \"x\", \"denoising_strength\": 1.5, \"init_images\": [\"%s\"]}".formatted(initB64)),
                400, "denoising_strength", "(0, 1]");
        ImageServerTest.assertBad(post("{\"prompt\": \"x\", \"width\": 32, \"height\": 32, \"init_images\": [\"%s\"]}".formatted(initB64)),
                400, "init_images", "16x16 but the request is 32x32");
        ImageServerTest.assertBad(post("{\"prompt\": \"x\", \"mask\": \"abc\", \"init_images\": [\"%s\"]}".formatted(initB64)),
                400, "mask", "mask is not");
    }

    /** Largest difference of the PNG's 8-bit pixels from the record's image_01 (as numpy's round × 255). */
    private static int maxPixelDiff(byte[] png, String record) throws Exception {
        Map<String, Tensor> rec = SafeTensors.readAll(SET.resolve(record + ".safetensors"));
        return Png.maxPixelDiff(png, rec.get("image_01").toFloatArray()); // [1, 3, 16, 16]
    }
}
