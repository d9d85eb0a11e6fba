package dev.panamadiffusion.verify;

import dev.panamadiffusion.pipeline.SdxlOptions;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How verify reads an SDXL loop's size conditioning: {@code add_time_ids} and {@code negative_add_time_ids}
 * (original (h, w), crop (top, left), target (h, w)) become the replayed request's {@link SdxlOptions}, whatever their
 * values, and give back the same time ids.
 */
class LoopChecksSdxlTest {
    private static Tensor ids(float... v) { return Tensor.fromFloats(v, 1, v.length); }

    @Test
    void timeIdsBecomeTheRequestsSizeConditioning() {
        SdxlOptions o = LoopChecks.sdxlOptions(Map.of("add_time_ids", ids(40, 24, 4, 12, 12, 20),
                "negative_add_time_ids", ids(8, 56, 6, 2, 28, 8)));
        assertEquals(new SdxlOptions.Size(24, 40), o.originalSize());
        assertEquals(new SdxlOptions.Crop(4, 12), o.cropsCoordsTopLeft());
        assertEquals(new SdxlOptions.Size(20, 12), o.targetSize());
        assertTrue(o.hasNegativeTimeIds());
        // any size of image: the file's ids come back
        assertArrayEquals(new float[] {40, 24, 4, 12, 12, 20}, o.timeIds(16, 16));
        assertArrayEquals(new float[] {8, 56, 6, 2, 28, 8}, o.negativeTimeIds(64, 32));
    }

    @Test
    void withoutNegativeIdsTheUnconditionalRowsTakeThePositiveOnes() {
        SdxlOptions o = LoopChecks.sdxlOptions(Map.of("add_time_ids", ids(1024, 768, 0, 0, 1024, 768)));
        assertFalse(o.hasNegativeTimeIds());
        assertArrayEquals(new float[] {1024, 768, 0, 0, 1024, 768}, o.negativeTimeIds(16, 16));
        assertSame(SdxlOptions.NONE, LoopChecks.sdxlOptions(Map.of()));
    }

    @Test
    void timeIdsThatAreNotWholeSizesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> LoopChecks.sdxlOptions(Map.of("add_time_ids", ids(16.5f, 16, 0, 0, 16, 16))));
        assertThrows(IllegalArgumentException.class, () -> LoopChecks.sdxlOptions(Map.of("add_time_ids", ids(16, 16, -1, 0, 16, 16))));
        assertThrows(IllegalArgumentException.class,
                () -> LoopChecks.sdxlOptions(Map.of("add_time_ids", Tensor.fromFloats(new float[4], 1, 4))));
        // the refiner's 5: whole sizes and crops, any aesthetic score
        assertThrows(IllegalArgumentException.class,
                () -> LoopChecks.sdxlOptions(Map.of("add_time_ids", ids(16, 16.5f, 0, 0, 6))));
        SdxlOptions r = LoopChecks.sdxlOptions(Map.of("add_time_ids", ids(40, 24, 4, 12, 7.5f),
                "negative_add_time_ids", ids(8, 56, 6, 2, 1.5f)));
        assertArrayEquals(new float[] {8, 56, 6, 2, 1.5f, 40, 24, 4, 12, 7.5f}, r.aestheticTimeIdRows(16, 16, true, 1).toFloatArray());
    }
}
