package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.Generation;
import dev.panamadiffusion.image.ImageFiles;
import dev.panamadiffusion.image.MaskImages;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.InitImage;
import dev.panamadiffusion.pipeline.InvalidRequestException;

import java.io.IOException;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * OpenAI-style {@code POST /v1/images/edits} (multipart/form-data), run as inpainting
 * ({@link InitImage} with a mask, as {@code pdiff generate --init-image --mask}): {@code image} (a PNG, the output's
 * size), optional {@code mask} (a PNG of the same size whose fully transparent pixels mark the area to edit; without
 * it, the image's own fully transparent pixels do), {@code prompt}, {@code n}, {@code size} (if given, the image's),
 * {@code response_format} b64_json, and the generations endpoint's extensions plus {@code strength} (default 1: the
 * edited area starts from pure noise, diffusers' inpainting default).
 */
final class OpenAiEditsApi {
    private static final Set<String> TEXT_FIELDS = OpenAiImagesApi.fields("prompt", "n", "size", "response_format", "model",
            "user", "negative_prompt", "steps", "guidance_scale", "seed", "sampler", "strength");
    private static final Set<String> NUMBERS = Set.of("n", "steps", "guidance_scale", "seed", "strength");
    static final Map<String, String> NAMES;

    static {
        Map<String, String> names = new HashMap<>(OpenAiImagesApi.NAMES);
        names.put("initImage", "image");
        NAMES = Map.copyOf(names);
    }

    private final DiffusionEngine engine;
    private final Duration timeout;

    OpenAiEditsApi(DiffusionEngine engine, Duration timeout) {
        this.engine = engine;
        this.timeout = timeout;
    }

    /** What an edit runs: the request (size 0 × 0 when not given: the image's) and the image with its mask. */
    record Edit(GenerationRequest request, InitImage init) {}

    /** The form's parts as a request and an init image with its mask; what is wrong is a 400 naming the part. */
    static Edit decode(Multipart form, double defaultGuidance) {
        ObjectNode json = JsonNodeFactory.instance.objectNode();
        Multipart.Part image = null, mask = null;
        for (Map.Entry<String, Multipart.Part> e : form.parts().entrySet()) {
            String name = e.getKey();
            switch (name) {
                case "image", "image[]" -> image = e.getValue();
                case "mask" -> mask = e.getValue();
                default -> {
                    if (!TEXT_FIELDS.contains(name)) throw HttpError.badField(name, name + " is not a known field");
                    String text = e.getValue().text();
                    json.set(name, NUMBERS.contains(name) ? number(text) : JsonNodeFactory.instance.textNode(text));
                }
            }
        }
        if (image == null) throw HttpError.badField("image", "image is required (a PNG file part)");
        double strength = new JsonFields(json).number("strength", 1.0);
        json.remove("strength");
        Rgb8Image picture = read("image", image.data());
        Rgb8Image area;
        try {
            area = MaskImages.fromTransparency(mask != null ? mask.data() : image.data());
        } catch (IOException e) {
            throw HttpError.badField("mask", mask != null ? "mask " + e.getMessage()
                    : "no mask was given and the image " + e.getMessage());
        }
        if (MaskImages.isEmpty(area)) {
            throw HttpError.badField("mask", (mask != null ? "the mask" : "the image (no mask was given)")
                    + " has no fully transparent pixel: nothing to edit");
        }
        return new Edit(OpenAiImagesApi.decode(json, defaultGuidance), new InitImage(picture, strength, area));
    }

    void edits(HttpExchange ex, Multipart form) throws IOException, InterruptedException {
        long deadline = Fields.deadline(timeout);
        Edit edit = decode(form, engine.defaultGuidance());
        Generation g = Fields.submit(engine, edit.request(), edit.init(), NAMES);
        OpenAiImagesApi.answer(ex, g, deadline, timeout);
    }

    private static Rgb8Image read(String field, byte[] data) {
        try {
            return ImageFiles.readRgb(data);
        } catch (IOException e) {
            throw HttpError.badField(field, field + " " + e.getMessage());
        }
    }

    /** A form value as a JSON number when it reads as one, else as text (which the typed readers refuse by name). */
    private static JsonNode number(String text) {
        try {
            BigDecimal d = new BigDecimal(text.strip());
            return d.scale() <= 0 ? JsonNodeFactory.instance.numberNode(d.toBigIntegerExact())
                    : JsonNodeFactory.instance.numberNode(d);
        } catch (NumberFormatException | ArithmeticException e) {
            return JsonNodeFactory.instance.textNode(text);
        }
    }
}
