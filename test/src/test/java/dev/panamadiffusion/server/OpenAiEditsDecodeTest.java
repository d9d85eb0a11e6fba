package dev.panamadiffusion.server;

import dev.panamadiffusion.image.Rgb8Image;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@link OpenAiEditsApi#decode} without a model: OpenAI's edits form (an {@code image} file, optionally a {@code mask}
 * whose fully transparent pixels mark the area to edit, else the image's own; text parts as the generations
 * endpoint's fields, numbers as numbers) and the 400 naming the part for what is wrong.
 */
class OpenAiEditsDecodeTest {
    /** A 2×1 PNG: pixel 0 red and opaque, pixel 1 green with alpha {@code alpha1} ({@code withAlpha} false: RGB). */
    private static byte[] png(boolean withAlpha, int alpha1) throws IOException {
        BufferedImage img = new BufferedImage(2, 1, withAlpha ? BufferedImage.TYPE_INT_ARGB : BufferedImage.TYPE_INT_RGB);
        img.setRGB(0, 0, 0xffff0000);
        img.setRGB(1, 0, (alpha1 << 24) | 0x00ff00);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return out.toByteArray();
    }

    private static Multipart.Part file(byte[] data) { return new Multipart.Part("x.png", data); }

    private static Multipart.Part text(String s) { return new Multipart.Part(null, s.getBytes(StandardCharsets.UTF_8)); }

    private static Map<String, Multipart.Part> form(byte[] image) {
        Map<String, Multipart.Part> parts = new LinkedHashMap<>();
        parts.put("image", file(image));
        parts.put("prompt", text("a cat"));
        return parts;
    }

    private static OpenAiEditsApi.Edit decode(Map<String, Multipart.Part> parts) {
        return OpenAiEditsApi.decode(new Multipart(parts), 7.5);
    }

    private static HttpError bad(Map<String, Multipart.Part> parts, String field, String message) {
        HttpError e = assertThrows(HttpError.class, () -> decode(parts));
        assertEquals(400, e.status);
        assertEquals(field, e.field);
        assertEquals(message, e.getMessage());
        return e;
    }

    private static final byte[] WHITE = {(byte) 255, (byte) 255, (byte) 255}, BLACK = {0, 0, 0};

    private static byte[] maskOf(byte[] first, byte[] second) {
        byte[] m = new byte[6];
        System.arraycopy(first, 0, m, 0, 3);
        System.arraycopy(second, 0, m, 3, 3);
        return m;
    }

    @Test
    void withoutAMaskTheImagesTransparentPixelsAreEdited() throws Exception {
        OpenAiEditsApi.Edit e = decode(form(png(true, 0)));
        assertEquals("a cat", e.request().prompt());
        assertEquals(0, e.request().width(), "no size: the image's");
        assertEquals(1, e.request().batchSize());
        assertEquals(7.5, e.request().guidanceScale());
        assertEquals(1.0, e.init().strength(), "diffusers' inpainting default: the edited area starts from noise");
        Rgb8Image picture = e.init().image();
        assertEquals(2, picture.width());
        assertArrayEquals(new byte[] {(byte) 255, 0, 0}, java.util.Arrays.copyOf(picture.rgb(), 3));
        assertArrayEquals(maskOf(BLACK, WHITE), e.init().mask().rgb(), "only the fully transparent pixel");
    }

    @Test
    void aMaskPartDecidesWhatIsEditedAndImageArrayNameIsTheImage() throws Exception {
        Map<String, Multipart.Part> parts = form(png(true, 0));
        parts.remove("image");
        parts.put("image[]", file(png(false, 0)));
        parts.put("mask", file(png(true, 0)));
        assertArrayEquals(maskOf(BLACK, WHITE), decode(parts).init().mask().rgb());
        parts.put("mask", file(png(true, 1)));
        bad(parts, "mask", "the mask has no fully transparent pixel: nothing to edit");
        parts.put("mask", file(png(false, 0)));
        bad(parts, "mask", "mask has no alpha channel (transparent pixels mark the area to edit)");
    }

    @Test
    void whatIsWrongIsNamed() throws Exception {
        bad(form(png(true, 1)), "mask", "the image (no mask was given) has no fully transparent pixel: nothing to edit");
        bad(form(png(false, 0)), "mask", "no mask was given and the image has no alpha channel (transparent pixels mark the area to edit)");
        Map<String, Multipart.Part> parts = form(png(true, 0));
        parts.remove("image");
        bad(parts, "image", "image is required (a PNG file part)");
        parts = form(png(true, 0));
        parts.put("colour", text("red"));
        bad(parts, "colour", "colour is not a known field");
        // the generations endpoint's DALL-E 3 options are not the edits endpoint's
        for (String field : new String[] {"quality", "style"}) {
            parts = form(png(true, 0));
            parts.put(field, text("hd"));
            bad(parts, field, field + " is not a known field");
        }
        HttpError e = assertThrows(HttpError.class, () -> decode(form("not a picture".getBytes(StandardCharsets.US_ASCII))));
        assertEquals("image", e.field);
    }

    @Test
    void numericPartsAreNumbersAndTheOthersText() throws Exception {
        Map<String, Multipart.Part> parts = form(png(true, 0));
        parts.put("prompt", text("42"));
        parts.put("n", text(" 2 "));
        parts.put("steps", text("3"));
        parts.put("guidance_scale", text("6.5"));
        parts.put("strength", text("0.5"));
        parts.put("seed", text("18446744073709551614"));
        parts.put("size", text("2x1"));
        OpenAiEditsApi.Edit e = decode(parts);
        assertEquals("42", e.request().prompt(), "the prompt is text even when it reads as a number");
        assertEquals(2, e.request().batchSize());
        assertEquals(3, e.request().steps());
        assertEquals(6.5, e.request().guidanceScale());
        assertEquals(0.5, e.init().strength());
        assertEquals(-2L, e.request().seed(), "2^64 - 2 in a long's bits");
        assertEquals(2, e.request().width());
        assertEquals(1, e.request().height());
        parts.put("steps", text("1e1"));
        assertEquals(10, decode(parts).request().steps(), "1e1 is the integer 10");
        parts.put("steps", text("2.5"));
        bad(parts, "steps", "steps must be an integer");
        parts.put("steps", text("three"));
        bad(parts, "steps", "steps must be an integer");
    }
}
