package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.pipeline.InvalidRequestException.Problem;
import dev.panamadiffusion.pipeline.SdxlOptions.Crop;
import dev.panamadiffusion.pipeline.SdxlOptions.Size;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link RequestLimits}' edges that {@link RequestLimitsTest} leaves: the size limit's message, a one-image batch's
 * seed span, the SDXL base and refiner fields (sizes, crops, aesthetic scores, the denoising window) at their bounds.
 */
class RequestLimitsEdgesTest {
    static final RequestLimits L = RequestLimits.SERVER; // sides to 2048, 16 x the model's pixels, 8 images, 16 iterations
    static final RequestLimits.Model SD15 = new RequestLimits.Model(new SizeRule(8, 3), 512, 512, 12);
    static final RequestLimits.Model SDXL = new RequestLimits.Model(new SizeRule(8, 3), 1024, 1024, 32, true);
    static final RequestLimits.Model REFINER = new RequestLimits.Model(new SizeRule(8, 3), 1024, 1024, 32, true, true);
    static final GenerationRequest OK = GenerationRequest.of("a cat").withSeed(42);

    static List<String> fields(GenerationRequest r, RequestLimits.Model m) {
        return L.problems(r, 1, m).stream().map(Problem::field).toList();
    }

    static List<String> fields(SdxlOptions o, RequestLimits.Model m) { return fields(OK.withSdxl(o), m); }

    @Test
    void oneBadSideIsReportedAloneWithoutAPixelCountOnTop() {
        // width past maxSide, height fine: only the width is wrong (the pixel count is not checked on a bad side)
        assertEquals(List.of("width"), fields(OK.withSize(2112, 2048), SD15));
        assertEquals(List.of("height"), fields(OK.withSize(2048, 2112), SD15));
    }

    @Test
    void thePixelLimitNamesTheModelsOwnSize() {
        RequestLimits wide = new RequestLimits(150, 8, 16, 4096, 16, 10_000);
        // SD 1.5 at 512 x 512: 16 x its pixels (4194304) is below 4096 x 4096, so that is the bound named
        assertEquals(List.of(new Problem("size", "4096x2048 is 8388608 pixels; this model allows at most 4194304"
                + " (16 times its own 512x512)")), wide.problems(OK.withSize(4096, 2048), SD15));
        // a 1 x 1 model allowed 1 x its pixels: at most one pixel, which is not the 8 x 8 side bound
        RequestLimits one = new RequestLimits(150, 8, 16, 8, 1, 10_000);
        RequestLimits.Model tiny = new RequestLimits.Model(SizeRule.GENERIC, 1, 1, 12);
        assertEquals(List.of(new Problem("size", "8x8 is 64 pixels; this model allows at most 1 (1 times its own 1x1)")),
                one.problems(OK.withSize(8, 8), tiny));
    }

    @Test
    void aModelWhoseOwnSizeIsPastTheSideLimitIsHeldToTheSquare() {
        // width and height 0 take the model's own 4096 x 4096, which the sides' 2048 x 2048 bound (not 16 x) refuses
        RequestLimits.Model huge = new RequestLimits.Model(new SizeRule(8, 3), 4096, 4096, 12);
        assertEquals(List.of(new Problem("size", "4096x4096 is 16777216 pixels; this model allows at most 4194304 (2048x2048)")),
                L.problems(OK.withSize(0, 0), 1, huge));
    }

    @Test
    void aOneImageBatchStillChecksTheLastIterationsSeed() {
        GenerationRequest last = OK.withSeed(RequestLimits.MAX_SEED).withBatchSize(1);
        assertEquals(List.of(), fields(last, SD15));
        List<Problem> p = L.problems(last, 2, SD15);
        assertEquals(List.of("seed"), p.stream().map(Problem::field).toList());
        assertEquals(List.of(), L.problems(OK.withSeed(RequestLimits.MAX_SEED - 1).withBatchSize(1), 2, SD15));
    }

    @Test
    void sdxlConditioningSizesAndCropsAtTheirBounds() {
        int max = RequestLimits.MAX_CONDITIONING_SIDE;
        SdxlOptions ok = SdxlOptions.NONE.withSizes(new Size(1, max), new Crop(0, 0), new Size(max, 1));
        assertEquals(List.of(), fields(ok, SDXL));
        assertEquals(List.of(), fields(SdxlOptions.NONE.withSizes(null, new Crop(max, max), null), SDXL));
        assertEquals(List.of("cropsCoordsTopLeft"), fields(SdxlOptions.NONE.withSizes(null, new Crop(-1, 0), null), SDXL));
        assertEquals(List.of("cropsCoordsTopLeft"), fields(SdxlOptions.NONE.withSizes(null, new Crop(0, max + 1), null), SDXL));
        List<Problem> p = L.problems(OK.withSdxl(SdxlOptions.NONE.withSizes(new Size(0, 64), null, null)), 1, SDXL);
        assertEquals(List.of(new Problem("originalSize", "sides must be between 1 and 16384, got 0x64")), p);
    }

    @Test
    void theRefinerChecksItsSizesAndCrops() {
        int max = RequestLimits.MAX_CONDITIONING_SIDE;
        assertEquals(List.of(), fields(SdxlOptions.NONE.withSizes(new Size(max, max), new Crop(0, max), null)
                .withNegativeSizes(new Size(1, 1), new Crop(max, 0), null), REFINER));
        assertEquals(List.of("originalSize"), fields(SdxlOptions.NONE.withSizes(new Size(max + 1, 8), null, null), REFINER));
        assertEquals(List.of("cropsCoordsTopLeft"), fields(SdxlOptions.NONE.withSizes(null, new Crop(0, -8), null), REFINER));
        assertEquals(List.of("negativeOriginalSize"), fields(SdxlOptions.NONE.withNegativeSizes(new Size(8, 0), null, null), REFINER));
        assertEquals(List.of("negativeCropsCoordsTopLeft"), fields(SdxlOptions.NONE.withNegativeSizes(null, new Crop(-1, -1), null), REFINER));
    }

    @Test
    void aestheticScoresFromMinusToPlusAHundred() {
        assertEquals(List.of(), fields(SdxlOptions.NONE.withAestheticScores(100.0, -100.0), REFINER));
        assertEquals(List.of(), fields(SdxlOptions.NONE.withAestheticScores(-100.0, 100.0), REFINER));
        assertEquals(List.of("aestheticScore", "negativeAestheticScore"),
                fields(SdxlOptions.NONE.withAestheticScores(100.5, -100.5), REFINER));
        assertEquals(List.of(new Problem("aestheticScore", "must be a number from -100 to 100, got NaN")),
                L.problems(OK.withSdxl(SdxlOptions.NONE.withAestheticScores(Double.NaN, null)), 1, REFINER));
    }

    @Test
    void theDenoisingWindowIsStrictlyInsideZeroToOne() {
        for (RequestLimits.Model m : List.of(SDXL, REFINER)) {
            assertEquals(List.of(), fields(SdxlOptions.NONE, m));
            assertEquals(List.of(), fields(SdxlOptions.NONE.withDenoising(0.2, null), m));
            assertEquals(List.of(), fields(SdxlOptions.NONE.withDenoising(null, 0.8), m));
            assertEquals(List.of(), fields(SdxlOptions.NONE.withDenoising(0.3, 0.7), m));
            assertEquals(List.of("denoisingStart"), fields(SdxlOptions.NONE.withDenoising(0.0, null), m));
            assertEquals(List.of("denoisingStart"), fields(SdxlOptions.NONE.withDenoising(1.0, null), m));
            assertEquals(List.of("denoisingEnd"), fields(SdxlOptions.NONE.withDenoising(null, 0.0), m));
            assertEquals(List.of("denoisingEnd"), fields(SdxlOptions.NONE.withDenoising(null, 1.0), m));
            // the start must be below the end: equal is refused
            List<Problem> same = L.problems(OK.withSdxl(SdxlOptions.NONE.withDenoising(0.5, 0.5)), 1, m);
            assertEquals(List.of(new Problem("denoisingStart", "0.5 must be below denoisingEnd 0.5")), same);
            // a bad start is reported once, not compared with the end as well
            assertEquals(List.of(new Problem("denoisingStart",
                            "must be a share of the schedule strictly between 0 and 1, got 1.5")),
                    L.problems(OK.withSdxl(SdxlOptions.NONE.withDenoising(1.5, 0.5)), 1, m));
            assertEquals(List.of("denoisingEnd"), fields(SdxlOptions.NONE.withDenoising(0.5, 0.25 - 1), m));
        }
    }
}
