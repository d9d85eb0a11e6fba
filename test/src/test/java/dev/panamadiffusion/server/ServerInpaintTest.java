package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.image.ImageFiles;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.InitImage;
import dev.panamadiffusion.pipeline.InpaintFill;
import dev.panamadiffusion.pipeline.MaskOptions;
import dev.panamadiffusion.pipeline.ProgressListener;
import dev.panamadiffusion.pipeline.RngKind;
import dev.panamadiffusion.testing.TinyModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
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

/**
 * Inpainting over HTTP: A1111's {@code /sdapi/v1/img2img} with {@code mask} (and {@code inpainting_mask_invert},
 * {@code mask_blur}, {@code inpaint_full_res}: the pictures of {@code pdiff generate --mask-blur/--mask-crop-padding}) and
 * OpenAI's multipart {@code /v1/images/edits} (transparent pixels = the area to edit) give the same pixels as the
 * engine run directly with the same image, mask and settings; and their 400s name the field.
 */
class ServerInpaintTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path SET = Path.of(System.getProperty("pd.home", "..")).resolve("reference/inpaint");
    private static final String PROMPT = "a photograph of an astronaut riding a horse";
    private static Path dir;
    private static DiffusionEngine engine;
    private static ImageServer server;
    private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static byte[] initPng, maskPng;
    private static Rgb8Image init, mask;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("pd-server-inpaint");
        Path model = TinyModel.assemble(dir.resolve("tiny-sd"), "euler", TinyModel.Tokenizer.FOLDED_CLIP);
        engine = DiffusionEngine.open(EngineOptions.defaults(model).withBackend("cpu").withMaxBatch(8).withQueueCapacity(4));
        server = ImageServer.start(engine, new InetSocketAddress("127.0.0.1", 0), 1 << 20);
        initPng = Files.readAllBytes(SET.resolve("init.png"));
        maskPng = Files.readAllBytes(SET.resolve("mask.png"));
        init = ImageFiles.readRgb(initPng);
        mask = ImageFiles.readRgb(maskPng);
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) server.close();
        if (engine != null) engine.close();
        TinyModel.deleteTree(dir);
    }

    /** The engine's own pixels for the tiny model's inpainting of the set's picture. */
    private static byte[] direct(String sampler, int steps, double cfg, long seed, double strength, Rgb8Image m) throws Exception {
        return direct(sampler, steps, cfg, seed, strength, m, MaskOptions.NONE);
    }

    private static byte[] direct(String sampler, int steps, double cfg, long seed, double strength, Rgb8Image m,
                                 MaskOptions options) throws Exception {
        GenerationRequest r = new GenerationRequest(PROMPT, "blurry", steps, cfg, sampler, seed, 16, 16, 1, 0, RngKind.TORCH);
        return engine.submit(r, new InitImage(init, strength, m, options), ProgressListener.NONE).result().get().images().get(0).rgb();
    }

    /** The fields that ask for the mask as sent: no blur, the whole picture, the masked area from the picture. */
    private static final String AS_SENT = ", \"mask_blur\": 0, \"inpaint_full_res\": false, \"inpainting_fill\": 1";

    private static HttpResponse<String> postJson(String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/sdapi/v1/img2img"))
                .timeout(Duration.ofMinutes(2)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String a1111(String extra, byte[] maskBytes) {
        return """
                {"prompt": "%s", "negative_prompt": "blurry", "steps": 8, "cfg_scale": 7.5, "sampler_name": "Euler",
                 "seed": 31, "denoising_strength": 0.75, "init_images": ["%s"], "mask": "%s"%s}""".formatted(PROMPT,
                Base64.getEncoder().encodeToString(initPng), Base64.getEncoder().encodeToString(maskBytes), extra);
    }

    private static byte[] firstImage(HttpResponse<String> r, String listKey, String field) throws Exception {
        assertEquals(200, r.statusCode(), r.body());
        JsonNode first = JSON.readTree(r.body()).get(listKey).get(0);
        return ImageFiles.readRgb(Base64.getDecoder().decode((field == null ? first : first.get(field)).asText())).rgb();
    }

    @Test
    void a1111MaskInpaintsAsTheEngine() throws Exception {
        byte[] expected = direct("Euler", 8, 7.5, 31, 0.75, mask);
        assertArrayEquals(expected, firstImage(postJson(a1111(AS_SENT, maskPng)), "images", null));
        assertArrayEquals(expected, firstImage(postJson(a1111(AS_SENT + ", \"inpainting_mask_invert\": 1",
                png(inverted(mask), false))), "images", null), "inverted mask, inverted back");
    }

    /**
     * Without the mask fields, A1111's API defaults apply: {@code mask_blur} 4, "only masked" with a padding of 0,
     * {@code inpainting_fill} 0 ("fill").
     */
    @Test
    void a1111MaskFieldsDefaultToA1111s() throws Exception {
        byte[] defaults = firstImage(postJson(a1111("", maskPng)), "images", null);
        assertArrayEquals(direct("Euler", 8, 7.5, 31, 0.75, mask, new MaskOptions(4, 0, InpaintFill.FILL)), defaults);
        assertArrayEquals(defaults, firstImage(postJson(a1111(", \"mask_blur_x\": 4, \"mask_blur_y\": 4, \"inpaint_full_res\": true,"
                + " \"inpaint_full_res_padding\": 0, \"inpainting_fill\": 0", maskPng)), "images", null), "A1111's defaults sent");
        assertFalse(Arrays.equals(direct("Euler", 8, 7.5, 31, 0.75, mask), defaults), "the defaults change nothing");
    }

    /**
     * {@code inpainting_fill} 0–3 paint what {@code generate --masked-content fill/original/latent-noise/latent-nothing}
     * paints, and each differs from "original".
     */
    @Test
    void a1111InpaintingFillEqualsCliMaskedContent() throws Exception {
        byte[] original = firstImage(postJson(a1111(AS_SENT, maskPng)), "images", null);
        for (InpaintFill fill : InpaintFill.values()) {
            String fields = AS_SENT.replace("\"inpainting_fill\": 1", "\"inpainting_fill\": " + fill.a1111);
            byte[] served = firstImage(postJson(a1111(fields, maskPng)), "images", null);
            assertArrayEquals(cli("--masked-content", fill.cliName()), served, fill.label);
            if (fill != InpaintFill.ORIGINAL) assertFalse(Arrays.equals(original, served), fill.label + " paints as original");
        }
    }

    @Test
    void a1111MaskErrorsNameTheField() throws Exception {
        ImageServerTest.assertBad(postJson(a1111(", \"inpainting_mask_invert\": 2", maskPng)), 400, "inpainting_mask_invert", "0 or 1");
        ImageServerTest.assertBad(postJson(a1111("", png(new Rgb8Image(8, 8, new byte[8 * 8 * 3]), false))), 400, "mask",
                "is 8x8 but the image is 16x16");
        ImageServerTest.assertBad(postJson(a1111("", "nope".getBytes(StandardCharsets.UTF_8))), 400, "mask", "not an image");
        ImageServerTest.assertBad(postJson(a1111("", maskPng).replace("\"denoising_strength\": 0.75", "\"denoising_strength\": 0")), 400, "denoising_strength", "(0, 1]");
    }

    /**
     * {@code mask_blur: 4} (what A1111 clients send) paints what {@code generate --mask-blur 4} paints, as do equal
     * {@code mask_blur_x}/{@code mask_blur_y}; and not what the unblurred mask paints.
     */
    @Test
    void a1111MaskBlurEqualsCliMaskBlur() throws Exception {
        String whole = ", \"inpaint_full_res\": false, \"inpainting_fill\": 1";
        byte[] served = firstImage(postJson(a1111(", \"mask_blur\": 4" + whole, maskPng)), "images", null);
        assertArrayEquals(cli("--mask-blur", "4"), served);
        assertArrayEquals(served, firstImage(postJson(a1111(", \"mask_blur_x\": 4, \"mask_blur_y\": 4" + whole, maskPng)), "images", null));
        assertArrayEquals(served, firstImage(postJson(a1111(whole, maskPng)), "images", null), "mask_blur absent: 4");
        assertFalse(Arrays.equals(direct("Euler", 8, 7.5, 31, 0.75, mask), served), "mask_blur 4 changes nothing");
    }

    /**
     * {@code inpaint_full_res} with {@code inpaint_full_res_padding} paints what {@code generate --mask-crop-padding}
     * paints (diffusers' padding_mask_crop, the result pasted back with the blurred mask); {@code false} is the whole
     * picture.
     */
    @Test
    void a1111InpaintFullResEqualsCliMaskCropPadding() throws Exception {
        byte[] served = firstImage(postJson(a1111(", \"mask_blur\": 1, \"inpaint_full_res\": true, \"inpaint_full_res_padding\": 1,"
                + " \"inpainting_fill\": 1", maskPng)), "images", null);
        assertArrayEquals(cli("--mask-blur", "1", "--mask-crop-padding", "1"), served);
        assertArrayEquals(served, firstImage(postJson(a1111(", \"mask_blur\": 1, \"inpaint_full_res\": 1, \"inpaint_full_res_padding\": 1,"
                + " \"inpainting_fill\": 1", maskPng)), "images", null), "inpaint_full_res as A1111's 1");
        byte[] whole = firstImage(postJson(a1111(", \"mask_blur\": 1, \"inpaint_full_res\": false, \"inpaint_full_res_padding\": 1,"
                + " \"inpainting_fill\": 1", maskPng)), "images", null);
        assertArrayEquals(cli("--mask-blur", "1"), whole);
        assertFalse(Arrays.equals(whole, served), "inpaint_full_res changes nothing");
    }

    /** {@code pdiff generate} on the server's model with the requests' settings and {@code extra} options: its pixels. */
    private static byte[] cli(String... extra) throws Exception {
        Path out = dir.resolve("cli-" + String.join("_", extra).replace("-", "") + ".png");
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("generate", "--model", dir.resolve("tiny-sd").toString(),
                "--prompt", PROMPT, "--negative-prompt", "blurry", "--steps", "8", "--guidance", "7.5", "--scheduler", "Euler",
                "--seed", "31", "--strength", "0.75", "--init-image", SET.resolve("init.png").toString(), "--mask",
                SET.resolve("mask.png").toString(), "--backend", "cpu", "--out", out.toString()));
        args.addAll(java.util.List.of(extra));
        java.io.StringWriter err = new java.io.StringWriter();
        int exit = dev.panamadiffusion.cli.Main.run(new java.io.PrintWriter(new java.io.StringWriter()), new java.io.PrintWriter(err),
                args.toArray(String[]::new));
        assertEquals(0, exit, err.toString());
        return ImageFiles.readRgb(Files.readAllBytes(out)).rgb();
    }

    @Test
    void a1111MaskOptionErrorsNameTheField() throws Exception {
        ImageServerTest.assertBad(postJson(a1111(", \"mask_blur_x\": 4, \"mask_blur_y\": 8", maskPng)), 400, "mask_blur_y", "differ");
        ImageServerTest.assertBad(postJson(a1111(", \"mask_blur\": -1", maskPng)), 400, "mask_blur", "[0, 256]");
        for (int fill : new int[] {4, -1}) {
            ImageServerTest.assertBad(postJson(a1111(", \"inpainting_fill\": " + fill, maskPng)), 400, "inpainting_fill", "3 (latent nothing)");
        }
        ImageServerTest.assertBad(postJson(a1111(", \"mask_blur_x\": 8", maskPng)), 400, "mask_blur_y", "differ");
        ImageServerTest.assertBad(postJson(a1111(", \"inpaint_full_res\": \"yes\"", maskPng)), 400, "inpaint_full_res", "true/false");
        ImageServerTest.assertBad(postJson(a1111(", \"inpaint_full_res\": true, \"inpaint_full_res_padding\": -1", maskPng)), 400,
                "inpaint_full_res_padding", "[0, 16384]");
        ImageServerTest.assertBad(postJson(a1111(", \"inpaint_full_res\": true", png(new Rgb8Image(16, 16, new byte[16 * 16 * 3]), false))),
                400, "mask", "marks nothing");
    }

    @Test
    void openAiEditsInpaintAsTheEngine() throws Exception {
        byte[] expected = direct("DDIM", 8, 7.5, 31, 1.0, mask);
        Map<String, Object> form = new LinkedHashMap<>();
        form.put("image", initPng);
        form.put("mask", png(mask, true));                              // transparent where the mask is white
        form.put("prompt", PROMPT);
        form.put("negative_prompt", "blurry");
        form.put("n", "1");
        form.put("size", "16x16");
        form.put("steps", "8");
        form.put("sampler", "DDIM");
        form.put("seed", "31");
        form.put("response_format", "b64_json");
        assertArrayEquals(expected, firstImage(edits(form), "data", "b64_json"));
        form.remove("mask");
        form.put("image", png(init, mask));                             // the image's own transparency marks the area
        assertArrayEquals(expected, firstImage(edits(form), "data", "b64_json"));
    }

    @Test
    void openAiEditsErrorsNameTheField() throws Exception {
        Map<String, Object> form = new LinkedHashMap<>();
        form.put("prompt", "x");
        ImageServerTest.assertBad(edits(form), 400, "image", "image is required");
        form.put("image", initPng);
        ImageServerTest.assertBad(edits(form), 400, "mask", "no mask was given and the image has no alpha channel");
        form.put("mask", maskPng);
        ImageServerTest.assertBad(edits(form), 400, "mask", "has no alpha channel");
        form.put("mask", png(new Rgb8Image(8, 8, new byte[8 * 8 * 3]), true));
        ImageServerTest.assertBad(edits(form), 400, "mask", "nothing to edit");
        form.put("mask", png(inverted(new Rgb8Image(8, 8, new byte[8 * 8 * 3])), true));
        ImageServerTest.assertBad(edits(form), 400, "mask", "is 8x8 but the image is 16x16");
        form.put("mask", png(mask, true));
        form.put("strength", "1.5");
        ImageServerTest.assertBad(edits(form), 400, "strength", "(0, 1]");
        form.put("strength", "1");
        form.put("size", "32x32");
        ImageServerTest.assertBad(edits(form), 400, "image", "16x16 but the request is 32x32");
        form.remove("size");
        form.put("n", "two");
        ImageServerTest.assertBad(edits(form), 400, "n", "must be an integer");
        form.put("n", "1");
        form.put("colour", "red");
        ImageServerTest.assertBad(edits(form), 400, "colour", "not a known field");
    }

    private static HttpResponse<String> edits(Map<String, Object> form) throws Exception {
        return edits(server.port(), form);
    }

    /** POST /v1/images/edits on the server at {@code port} with {@code form}'s parts (byte[] values as PNG files). */
    static HttpResponse<String> edits(int port, Map<String, Object> form) throws Exception {
        String boundary = "pd-test-boundary";
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (Map.Entry<String, Object> e : form.entrySet()) {
            boolean file = e.getValue() instanceof byte[];
            body.write(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + e.getKey() + "\""
                    + (file ? "; filename=\"" + e.getKey() + ".png\"\r\nContent-Type: image/png" : "") + "\r\n\r\n")
                    .getBytes(StandardCharsets.UTF_8));
            body.write(file ? (byte[]) e.getValue() : e.getValue().toString().getBytes(StandardCharsets.UTF_8));
            body.write("\r\n".getBytes(StandardCharsets.UTF_8));
        }
        body.write(("--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/images/edits"))
                .timeout(Duration.ofMinutes(2)).header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static Rgb8Image inverted(Rgb8Image m) {
        byte[] rgb = m.rgb().clone();
        for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) ~rgb[i];
        return new Rgb8Image(m.width(), m.height(), rgb);
    }

    /** {@code img} as a PNG; with {@code alphaFromWhite}, fully transparent where the picture is white, else opaque RGB. */
    static byte[] png(Rgb8Image img, boolean alphaFromWhite) throws Exception {
        return png(img, alphaFromWhite ? img : null);
    }

    /** {@code img} as a PNG, fully transparent where {@code transparent} (or null: no alpha) is white. */
    private static byte[] png(Rgb8Image img, Rgb8Image transparent) throws Exception {
        BufferedImage b = new BufferedImage(img.width(), img.height(),
                transparent == null ? BufferedImage.TYPE_INT_RGB : BufferedImage.TYPE_INT_ARGB);
        for (int y = 0; y < img.height(); y++) {
            for (int x = 0; x < img.width(); x++) {
                int[] p = img.pixel(x, y);
                boolean clear = transparent != null && transparent.pixel(x, y)[0] > 127;
                b.setRGB(x, y, (clear ? 0 : 0xff000000) | p[0] << 16 | p[1] << 8 | p[2]);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(b, "png", out);
        return out.toByteArray();
    }
}
