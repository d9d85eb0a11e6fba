package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.pipeline.InpaintFill;
import dev.panamadiffusion.pipeline.MaskOptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A1111's inpainting fields ({@code mask_blur}, {@code mask_blur_x}/{@code _y}, {@code inpaint_full_res},
 * {@code inpaint_full_res_padding}, {@code inpainting_fill}) to {@link MaskOptions}, at the edges of each range, with
 * A1111's API defaults when absent.
 */
class A1111InpaintTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static MaskOptions options(String json) throws IOException {
        return A1111Inpaint.maskOptions(new JsonFields(JSON.readTree(json)));
    }

    @Test
    void absentFieldsAreA1111sApiDefaults() throws IOException {
        assertEquals(new MaskOptions(4f, 0, InpaintFill.ofA1111(0)), options("{}"));
    }

    @Test
    void blurRangeAndItsTwoSpellings() throws IOException {
        assertEquals(0f, options("{\"mask_blur\": 0}").blurFactor());
        assertEquals((float) MaskOptions.MAX_BLUR, options("{\"mask_blur\": " + MaskOptions.MAX_BLUR + "}").blurFactor());
        assertEquals(2.5f, options("{\"mask_blur\": 2.5, \"mask_blur_x\": 7, \"mask_blur_y\": 9}").blurFactor());
        assertEquals(7f, options("{\"mask_blur_x\": 7, \"mask_blur_y\": 7}").blurFactor());
        assertBad("{\"mask_blur\": -0.5}", "mask_blur", "mask_blur must be in [0, 256], got -0.5");
        assertBad("{\"mask_blur\": 257}", "mask_blur", "mask_blur must be in [0, 256], got 257");
        assertBad("{\"mask_blur_x\": 300}", "mask_blur_x", "mask_blur_x must be in [0, 256], got 300");
        assertBad("{\"mask_blur_y\": -1}", "mask_blur_y", "mask_blur_y must be in [0, 256], got -1");
        assertBad("{\"mask_blur_x\": 3}", "mask_blur_y", "mask_blur_x (3) and mask_blur_y (4) differ");
        // whole numbers print without a fraction below 10^9, and as Java writes a double from there on
        assertBad("{\"mask_blur\": 999999999}", "mask_blur", "mask_blur must be in [0, 256], got 999999999");
        assertBad("{\"mask_blur\": 1000000000}", "mask_blur", "mask_blur must be in [0, 256], got 1.0E9");
    }

    @Test
    void fullResAndPadding() throws IOException {
        assertEquals(0, options("{\"inpaint_full_res\": true}").paddingMaskCrop());
        assertEquals(32, options("{\"inpaint_full_res\": 1, \"inpaint_full_res_padding\": 32}").paddingMaskCrop());
        assertEquals(MaskOptions.MAX_PADDING, options("{\"inpaint_full_res_padding\": " + MaskOptions.MAX_PADDING + "}").paddingMaskCrop());
        assertEquals(-1, options("{\"inpaint_full_res\": false, \"inpaint_full_res_padding\": 32}").paddingMaskCrop());
        assertEquals(-1, options("{\"inpaint_full_res\": 0}").paddingMaskCrop());
        assertBad("{\"inpaint_full_res\": 2}", "inpaint_full_res", "inpaint_full_res must be true/false or 0/1, got 2");
        assertBad("{\"inpaint_full_res\": \"yes\"}", "inpaint_full_res", "must be true/false or 0/1");
        assertBad("{\"inpaint_full_res_padding\": -1}", "inpaint_full_res_padding", "must be in [0, 16384], got -1");
        assertBad("{\"inpaint_full_res_padding\": 16385}", "inpaint_full_res_padding", "must be in [0, 16384], got 16385");
    }

    @Test
    void everyFillAndNoOther() throws IOException {
        for (int fill = 0; fill <= 3; fill++) {
            assertEquals(InpaintFill.ofA1111(fill), options("{\"inpainting_fill\": " + fill + "}").fill());
        }
        assertBad("{\"inpainting_fill\": 4}", "inpainting_fill", "");
        assertBad("{\"inpainting_fill\": -1}", "inpainting_fill", "");
    }

    private static void assertBad(String json, String field, String message) {
        HttpError e = assertThrows(HttpError.class, () -> options(json), json);
        assertEquals(400, e.status);
        assertEquals(field, e.field);
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }
}
