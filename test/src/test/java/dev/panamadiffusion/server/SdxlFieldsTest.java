package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.pipeline.SdxlOptions;
import java.io.IOException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link SdxlFields} without a model: diffusers' tuple order ({@code original_size} and {@code target_size} are
 * {@code (height, width)}, {@code crops_coords_top_left} is {@code (top, left)}), the JSON array and the form's
 * {@code "a,b"} text, and the 400 naming the field for anything else.
 */
class SdxlFieldsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static SdxlOptions read(String json) throws IOException {
        return SdxlFields.read(new JsonFields(JSON.readTree(json)));
    }

    private static HttpError bad(String json) {
        return assertThrows(HttpError.class, () -> read(json), json);
    }

    @Test
    void noSdxlFieldIsNone() throws Exception {
        assertSame(SdxlOptions.NONE, read("{\"prompt\": \"x\"}"));
    }

    @Test
    void everyFieldInDiffusersOrder() throws Exception {
        SdxlOptions o = read("""
                {"prompt_2": "p2", "negative_prompt_2": "n2", "original_size": [40, 24], "crops_coords_top_left": [4, 12],
                 "target_size": [12, 20], "negative_original_size": [8, 56], "negative_crops_coords_top_left": [6, 2],
                 "negative_target_size": [28, 8], "aesthetic_score": 7.5, "negative_aesthetic_score": 1.5}""");
        assertEquals("p2", o.prompt2());
        assertEquals("n2", o.negativePrompt2());
        assertEquals(new SdxlOptions.Size(24, 40), o.originalSize(), "[height, width]");
        assertEquals(new SdxlOptions.Crop(4, 12), o.cropsCoordsTopLeft(), "[top, left]");
        assertEquals(new SdxlOptions.Size(20, 12), o.targetSize());
        assertEquals(new SdxlOptions.Size(56, 8), o.negativeOriginalSize());
        assertEquals(new SdxlOptions.Crop(6, 2), o.negativeCropsCoordsTopLeft());
        assertEquals(new SdxlOptions.Size(8, 28), o.negativeTargetSize());
        assertEquals(7.5, o.aestheticScore());
        assertEquals(1.5, o.negativeAestheticScore());
    }

    @Test
    void oneFieldAloneIsNotNone() throws Exception {
        SdxlOptions o = read("{\"negative_aesthetic_score\": 2}");
        assertEquals(2.0, o.negativeAestheticScore());
        assertNull(o.aestheticScore(), "an absent score stays unset (the model's default applies)");
        assertNull(o.originalSize());
        assertEquals(new SdxlOptions.Size(8, 16), read("{\"target_size\": [16, 8]}").targetSize());
    }

    @Test
    void aFormSendsPairsAsText() throws Exception {
        assertEquals(new SdxlOptions.Size(24, 40), read("{\"original_size\": \"40,24\"}").originalSize());
        assertEquals(new SdxlOptions.Crop(-4, 12), read("{\"crops_coords_top_left\": \" [ -4 , 12 ] \"}").cropsCoordsTopLeft());
        assertEquals(new SdxlOptions.Size(999999, 1), read("{\"target_size\": \"1,999999\"}").targetSize());
    }

    @Test
    void anythingElseIsA400NamingTheField() {
        for (String v : new String[] {"[16]", "[16, 16, 16]", "[16.5, 16]", "[16, 16.5]", "[\"16\", 16]", "[16, \"16\"]",
                "[3000000000, 16]", "[16, 3000000000]", "16", "\"16\"", "\"a,b\"", "\"1234567,1\"", "\"1,1234567\"",
                "{\"h\": 1, \"w\": 2}", "true"}) {
            HttpError e = bad("{\"original_size\": " + v + "}");
            assertEquals(400, e.status);
            assertEquals("original_size", e.field, v);
            assertTrue(e.getMessage().startsWith("original_size must be [height, width] (diffusers' order), two integers, got "),
                    e.getMessage());
        }
        HttpError e = bad("{\"negative_crops_coords_top_left\": [1]}");
        assertEquals("negative_crops_coords_top_left", e.field);
        assertEquals("negative_crops_coords_top_left must be [top, left] (diffusers' order), two integers, got [1]", e.getMessage());
        assertEquals("aesthetic_score", bad("{\"aesthetic_score\": \"high\"}").field);
        assertEquals("prompt_2", bad("{\"prompt_2\": 3}").field);
    }

    @Test
    void namesAddTheSdxlFieldsToAnApisOwn() {
        var all = SdxlFields.withNames(java.util.Map.of("batchSize", "n"));
        assertEquals("n", all.get("batchSize"));
        assertEquals("original_size", all.get("originalSize"));
        assertEquals("negative_aesthetic_score", all.get("negativeAestheticScore"));
        assertTrue(SdxlFields.FIELDS.contains("crops_coords_top_left"));
        assertTrue(SdxlFields.FIELDS.stream().noneMatch(f -> f.startsWith("denoising_")),
                "denoising_start/_end are the CLI's alone");
    }
}
