package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.pipeline.InvalidRequestException.Problem;
import dev.panamadiffusion.pipeline.SdxlOptions.Crop;
import dev.panamadiffusion.pipeline.SdxlOptions.Size;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SDXL's own request fields: the time ids diffusers 0.27.2's {@code StableDiffusionXLPipeline} makes of them
 * ({@code _get_add_time_ids}: original (h, w), crop (top, left), target (h, w); negative ids only with both negative
 * sizes; {@code cat([neg, pos]).repeat(B)}), the second prompts' defaults, and their limits in {@link RequestLimits}.
 */
class SdxlOptionsTest {
    private static final RequestLimits.Model SDXL = new RequestLimits.Model(new SizeRule(8, 2), 1024, 1024, 10, true);
    private static final RequestLimits.Model SD15 = new RequestLimits.Model(new SizeRule(8, 3), 512, 512, 12);
    private static final GenerationRequest OK = GenerationRequest.of("a cat").withSeed(1);

    @Test
    void defaultsAreTheImageSizeUncropped() {
        // a 768 wide, 512 high image: (h, w, 0, 0, h, w)
        assertArrayEquals(new float[] {512, 768, 0, 0, 512, 768}, SdxlOptions.NONE.timeIds(768, 512));
        assertArrayEquals(new float[] {512, 768, 0, 0, 512, 768}, SdxlOptions.NONE.negativeTimeIds(768, 512));
        Tensor legacy = UNetConditioning.timeIds(768, 512, 3);
        assertArrayEquals(legacy.toFloatArray(), SdxlOptions.NONE.timeIdRows(768, 512, false, 3, false).toFloatArray());
    }

    @Test
    void sizesAreHeightFirstAndCropIsTopLeft() {
        SdxlOptions o = SdxlOptions.NONE.withSizes(new Size(24, 40), new Crop(4, 12), new Size(20, 12));
        assertArrayEquals(new float[] {40, 24, 4, 12, 12, 20}, o.timeIds(16, 16));
        // one of the three given: the others keep their defaults
        assertArrayEquals(new float[] {16, 24, 8, 4, 16, 24},
                SdxlOptions.NONE.withSizes(null, new Crop(8, 4), null).timeIds(24, 16));
        assertArrayEquals(new float[] {16, 16, 0, 0, 2048, 1024},
                SdxlOptions.NONE.withSizes(null, null, new Size(1024, 2048)).timeIds(16, 16));
        // without negative sizes, the unconditional rows take the positive ids
        assertArrayEquals(o.timeIds(16, 16), o.negativeTimeIds(16, 16));
    }

    @Test
    void negativeIdsNeedBothSizesAndTheirCropDefaultsToZero() {
        SdxlOptions pos = SdxlOptions.NONE.withSizes(null, new Crop(4, 12), null);
        SdxlOptions both = pos.withNegativeSizes(new Size(56, 8), null, new Size(8, 28));
        assertTrue(both.hasNegativeTimeIds());
        assertArrayEquals(new float[] {8, 56, 0, 0, 28, 8}, both.negativeTimeIds(16, 16)); // not the positive crop
        assertArrayEquals(new float[] {8, 56, 6, 2, 28, 8},
                pos.withNegativeSizes(new Size(56, 8), new Crop(6, 2), new Size(8, 28)).negativeTimeIds(16, 16));
        SdxlOptions half = pos.withNegativeSizes(new Size(56, 8), new Crop(6, 2), null);
        assertArrayEquals(half.timeIds(16, 16), half.negativeTimeIds(16, 16));
    }

    @Test
    void guidedRowsAlternateAsDiffusersRepeatsThem() {
        SdxlOptions o = SdxlOptions.NONE.withNegativeSizes(new Size(1, 2), new Crop(3, 4), new Size(5, 6));
        float[] neg = {2, 1, 3, 4, 6, 5};
        float[] pos = {16, 16, 0, 0, 16, 16};
        Tensor rows = o.timeIdRows(16, 16, true, 2, false);                                         // [4, 6]
        assertArrayEquals(new long[] {4, 6}, rows.shape());
        float[] v = rows.toFloatArray();
        assertArrayEquals(neg, Arrays.copyOfRange(v, 0, 6));
        assertArrayEquals(pos, Arrays.copyOfRange(v, 6, 12));
        assertArrayEquals(neg, Arrays.copyOfRange(v, 12, 18));
        assertArrayEquals(pos, Arrays.copyOfRange(v, 18, 24));
        float[] unguided = o.timeIdRows(16, 16, false, 2, false).toFloatArray();                  // [2, 6], positive only
        assertArrayEquals(pos, Arrays.copyOfRange(unguided, 0, 6));
        assertArrayEquals(pos, Arrays.copyOfRange(unguided, 6, 12));
    }

    @Test
    void imageToImageRowsAreBlocksWithThePositiveCropAndEachNegativeSizeOnItsOwn() {
        // diffusers 0.27.2 StableDiffusionXLImg2ImgPipeline / InpaintPipeline, requires_aesthetics_score false:
        // add_neg_time_ids = negative_original_size (or original_size) + crops_coords_top_left + negative_target_size
        // (or target_size); rows cat([neg.repeat(B), pos.repeat(B)])
        SdxlOptions o = SdxlOptions.NONE.withSizes(new Size(24, 40), new Crop(4, 12), null)
                .withNegativeSizes(new Size(56, 8), new Crop(6, 2), null);
        float[] pos = {40, 24, 4, 12, 16, 16};
        float[] neg = {8, 56, 4, 12, 16, 16};
        float[] v = o.timeIdRows(16, 16, true, 2, true).toFloatArray();                           // [4, 6]
        assertArrayEquals(neg, Arrays.copyOfRange(v, 0, 6));
        assertArrayEquals(neg, Arrays.copyOfRange(v, 6, 12));
        assertArrayEquals(pos, Arrays.copyOfRange(v, 12, 18));
        assertArrayEquals(pos, Arrays.copyOfRange(v, 18, 24));
        float[] target = SdxlOptions.NONE.withNegativeSizes(null, null, new Size(8, 28)).imageTimeIdRows(16, 16, true, 1)
                .toFloatArray();                                                                  // [2, 6]
        assertArrayEquals(new float[] {16, 16, 0, 0, 28, 8, 16, 16, 0, 0, 16, 16}, target);
        float[] unguided = o.timeIdRows(16, 16, false, 2, true).toFloatArray();                   // [2, 6]
        assertArrayEquals(pos, Arrays.copyOfRange(unguided, 0, 6));
        assertArrayEquals(pos, Arrays.copyOfRange(unguided, 6, 12));
    }

    @Test
    void secondPromptsDefaultToTheFirstAsPythonsOr() {
        assertEquals("a", SdxlOptions.NONE.prompt2Or("a"));
        assertEquals("a", SdxlOptions.NONE.withPrompt2("").prompt2Or("a"));
        assertNull(SdxlOptions.NONE.withPrompt2("").prompt2());
        assertEquals("b", SdxlOptions.NONE.withPrompt2("b").prompt2Or("a"));
        assertEquals("n", SdxlOptions.NONE.negativePrompt2Or("n"));
        assertEquals("m", SdxlOptions.NONE.withNegativePrompt2("m").negativePrompt2Or("n"));
        assertEquals(List.of("prompt_2", "crops_coords_top_left", "negative_target_size"), SdxlOptions.NONE.withPrompt2("b")
                .withSizes(null, new Crop(0, 0), null).withNegativeSizes(null, null, new Size(1, 1)).given());
        assertEquals(List.of("negative_prompt_2"), SdxlOptions.NONE.withNegativePrompt2("n").given());
        assertEquals("negativeCropsCoordsTopLeft", SdxlOptions.fieldName("negative_crops_coords_top_left"));
    }

    @Test
    void requestKeepsItsOptionsThroughEveryWither() {
        SdxlOptions o = SdxlOptions.NONE.withPrompt2("b");
        GenerationRequest r = OK.withSdxl(o).withSteps(3).withSize(64, 64).withSeed(5).withNegativePrompt("x")
                .withGuidanceScale(2).withSampler("Euler").withBatchSize(2).withClipSkip(1).withRng(RngKind.JAVA);
        assertSame(o, r.sdxl());
        assertSame(SdxlOptions.NONE, OK.sdxl());
        assertSame(SdxlOptions.NONE, OK.withSdxl(null).sdxl());
        assertEquals(OK, new GenerationRequest(OK.prompt(), OK.negativePrompt(), OK.steps(), OK.guidanceScale(), OK.sampler(),
                OK.seed(), OK.width(), OK.height(), OK.batchSize(), OK.clipSkip(), OK.rng(), null));
    }

    @Test
    void sdxlOptionsOnAnotherModelAreRefusedByName() {
        GenerationRequest r = OK.withSdxl(SdxlOptions.NONE.withPrompt2("b").withSizes(new Size(64, 64), null, null));
        List<Problem> p = RequestLimits.DEFAULT.problems(r, SD15);
        assertEquals(List.of("prompt2", "originalSize"), p.stream().map(Problem::field).toList());
        assertTrue(p.get(0).message().contains("not SDXL"), p.get(0).message());
        assertEquals("prompt_2 is SDXL's, but this model is not SDXL (SD 1.x/2.x: one text encoder, no size conditioning);"
                + " original_size is SDXL's, but this model is not SDXL (SD 1.x/2.x: one text encoder, no size conditioning)",
                new InvalidRequestException(p).getMessage());
        assertTrue(RequestLimits.DEFAULT.problems(r, SDXL).isEmpty());
        assertTrue(RequestLimits.DEFAULT.problems(OK, SD15).isEmpty());
        assertTrue(RequestLimits.DEFAULT.problems(OK.withSdxl(SdxlOptions.NONE.withPrompt2("")), SD15).isEmpty());
    }

    @Test
    void sizesAndCropsAreBounded() {
        int max = RequestLimits.MAX_CONDITIONING_SIDE;
        assertEquals(List.of(), fields(SdxlOptions.NONE.withSizes(new Size(1, max), new Crop(0, max), new Size(max, 1))));
        assertEquals(List.of("originalSize", "cropsCoordsTopLeft", "targetSize"),
                fields(SdxlOptions.NONE.withSizes(new Size(0, 8), new Crop(-1, 0), new Size(8, max + 1))));
        assertEquals(List.of("cropsCoordsTopLeft"), fields(SdxlOptions.NONE.withSizes(null, new Crop(0, max + 1), null)));
        assertEquals(List.of("negativeOriginalSize", "negativeCropsCoordsTopLeft", "negativeTargetSize"),
                fields(SdxlOptions.NONE.withNegativeSizes(new Size(-8, 8), new Crop(0, -2), new Size(8, 0))));
        String longText = "x".repeat(RequestLimits.DEFAULT.maxPromptChars() + 1);
        assertEquals(List.of("prompt2", "negativePrompt2"),
                fields(SdxlOptions.NONE.withPrompt2(longText).withNegativePrompt2(longText)));
    }

    @Test
    void negativeSizesGoTogether() {
        List<Problem> p = RequestLimits.DEFAULT.problems(
                OK.withSdxl(SdxlOptions.NONE.withNegativeSizes(new Size(8, 8), null, null)), SDXL);
        assertEquals(List.of("negativeOriginalSize"), p.stream().map(Problem::field).toList());
        assertTrue(p.get(0).message().contains("negative target size"), p.get(0).message());
        assertEquals(List.of("negativeTargetSize"), fields(SdxlOptions.NONE.withNegativeSizes(null, null, new Size(8, 8))));
        assertEquals(List.of("negativeCropsCoordsTopLeft"), fields(SdxlOptions.NONE.withNegativeSizes(null, new Crop(1, 1), null)));
        assertEquals(List.of(), fields(SdxlOptions.NONE.withNegativeSizes(new Size(8, 8), new Crop(1, 1), new Size(8, 8))));
    }

    private static List<String> fields(SdxlOptions o) {
        return RequestLimits.DEFAULT.problems(OK.withSdxl(o), SDXL).stream().map(Problem::field).toList();
    }
}
