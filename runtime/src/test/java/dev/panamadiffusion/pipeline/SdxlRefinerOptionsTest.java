package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.pipeline.InvalidRequestException.Problem;
import dev.panamadiffusion.pipeline.SdxlOptions.Crop;
import dev.panamadiffusion.pipeline.SdxlOptions.Size;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The SDXL refiner's request fields: its 5 time ids as diffusers' {@code StableDiffusionXLImg2ImgPipeline}
 * ({@code requires_aesthetics_score}) makes them, and {@link RequestLimits}' rules for them on each kind of model.
 */
class SdxlRefinerOptionsTest {
    private static final RequestLimits.Model REFINER = new RequestLimits.Model(new SizeRule(8, 3), 1024, 1024, 30, true, true);
    private static final RequestLimits.Model BASE = new RequestLimits.Model(new SizeRule(8, 2), 1024, 1024, 10, true);
    private static final RequestLimits.Model SD15 = new RequestLimits.Model(new SizeRule(8, 3), 512, 512, 12);
    private static final GenerationRequest OK = GenerationRequest.of("x").withSeed(1).withSteps(4);

    @Test
    void defaultTimeIdsAreTheImagesSizeNoCropAndScoresSixAndTwoAndAHalf() {
        // (h, w, top, left, score): 3 images of 768 × 512, guided: 3 negative rows, then 3 positive ones
        float[] rows = SdxlOptions.NONE.aestheticTimeIdRows(768, 512, true, 3).toFloatArray();
        float[] neg = {512, 768, 0, 0, 2.5f}, pos = {512, 768, 0, 0, 6f};
        for (int r = 0; r < 6; r++) {
            assertArrayEquals(r < 3 ? neg : pos, java.util.Arrays.copyOfRange(rows, 5 * r, 5 * r + 5), "row " + r);
        }
        assertArrayEquals(new float[] {512, 768, 0, 0, 6f, 512, 768, 0, 0, 6f},
                SdxlOptions.NONE.aestheticTimeIdRows(768, 512, false, 2).toFloatArray());
    }

    @Test
    void negativeSizesDefaultToThePositiveOriginalSizeButNotItsCrop() {
        SdxlOptions o = SdxlOptions.NONE.withSizes(new Size(24, 40), new Crop(4, 12), new Size(1, 1)).withAestheticScores(7.5, null);
        assertArrayEquals(new float[] {40, 24, 0, 0, 2.5f, 40, 24, 4, 12, 7.5f}, o.aestheticTimeIdRows(16, 16, true, 1).toFloatArray());
        SdxlOptions n = o.withNegativeSizes(new Size(56, 8), new Crop(6, 2), null).withAestheticScores(null, 1.5);
        assertArrayEquals(new float[] {8, 56, 6, 2, 1.5f, 40, 24, 4, 12, 6f}, n.aestheticTimeIdRows(16, 16, true, 1).toFloatArray());
        assertEquals(List.of("original_size", "crops_coords_top_left", "target_size", "negative_original_size",
                "negative_crops_coords_top_left", "negative_aesthetic_score"), n.given());
    }

    @Test
    void aestheticScoresAreTheRefinersOnly() {
        GenerationRequest r = OK.withSdxl(SdxlOptions.NONE.withAestheticScores(7.0, 2.0));
        assertTrue(RequestLimits.DEFAULT.problems(r, REFINER).isEmpty());
        List<Problem> base = RequestLimits.DEFAULT.problems(r, BASE);
        assertEquals(List.of("aestheticScore", "negativeAestheticScore"), base.stream().map(Problem::field).toList());
        assertTrue(base.get(0).message().endsWith("but this model is SDXL base"), base.get(0).message());
        List<Problem> sd = RequestLimits.DEFAULT.problems(r, SD15);
        assertEquals(2, sd.size());
        assertTrue(sd.get(1).message().startsWith("is the SDXL refiner's (requires_aesthetics_score"), sd.get(1).message());
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> RequestLimits.DEFAULT.check(r, BASE));
        assertTrue(e.getMessage().startsWith("aesthetic_score is the SDXL refiner's"), e.getMessage());
    }

    @Test
    void theRefinerRefusesWhatItDoesNotReadAndTakesNegativeSizesAlone() {
        GenerationRequest r = OK.withSdxl(SdxlOptions.NONE.withPrompt2("a").withNegativePrompt2("b")
                .withSizes(null, null, new Size(8, 8)).withNegativeSizes(null, null, new Size(8, 8)));
        assertEquals(List.of("prompt2", "negativePrompt2", "targetSize", "negativeTargetSize"),
                RequestLimits.DEFAULT.problems(r, REFINER).stream().map(Problem::field).toList());
        GenerationRequest alone = OK.withSdxl(SdxlOptions.NONE.withNegativeSizes(new Size(8, 8), null, null));
        assertTrue(RequestLimits.DEFAULT.problems(alone, REFINER).isEmpty());
        assertEquals(List.of("negativeOriginalSize"), RequestLimits.DEFAULT.problems(alone, BASE).stream().map(Problem::field).toList());
        GenerationRequest far = OK.withSdxl(SdxlOptions.NONE.withAestheticScores(101.0, Double.NaN)
                .withSizes(new Size(0, 8), new Crop(-1, 0), null));
        assertEquals(List.of("originalSize", "cropsCoordsTopLeft", "aestheticScore", "negativeAestheticScore"),
                RequestLimits.DEFAULT.problems(far, REFINER).stream().map(Problem::field).toList());
    }

    @Test
    void aRefinerIsSdxl() {
        assertThrows(IllegalArgumentException.class, () -> new RequestLimits.Model(SizeRule.GENERIC, 64, 64, 1, false, true));
    }
}
