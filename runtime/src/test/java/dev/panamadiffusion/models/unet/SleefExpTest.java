package dev.panamadiffusion.models.unet;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link SleefExp#expf} at the ends of its range, against SLEEF's {@code xexpf} (0 for d < −104, +∞ for d > 100) and
 * {@code Math.exp}: the values in between are {@code TimeCondProjTest}'s.
 */
class SleefExpTest {

    @Test
    void overflowsToPlusInfinityAboveTheLargestFiniteResultAndEverywhereAboveSleefsCutOff() {
        float largest = (float) Math.log(Float.MAX_VALUE); // 88.72284: exp of anything above is past Float.MAX_VALUE
        assertEquals((float) Math.exp(88.72f), SleefExp.expf(88.72f), Math.ulp((float) Math.exp(88.72f)));
        for (float d = Math.nextUp(largest + 1e-3f); d <= 100f; d += 0.01f) {
            assertEquals(Float.POSITIVE_INFINITY, SleefExp.expf(d), "exp(" + d + ")");
        }
        // past 100 SLEEF answers +inf without the reduction; so must this, at every magnitude
        for (float d = Math.nextUp(100f); d < Float.MAX_VALUE / 1.01f; d *= 1.01f) {
            assertEquals(Float.POSITIVE_INFINITY, SleefExp.expf(d), "exp(" + d + ")");
        }
        // where a float32 reduction d - q ln2 is off by more than ln2 (q no longer exact): it once gave -inf here
        assertEquals(Float.POSITIVE_INFINITY, SleefExp.expf(9.3050936E7f));
        assertEquals(Float.POSITIVE_INFINITY, SleefExp.expf(Float.MAX_VALUE));
        assertEquals(Float.POSITIVE_INFINITY, SleefExp.expf(Float.POSITIVE_INFINITY));
    }

    @Test
    void underflowsToPlusZeroBelowSleefsCutOffAtEveryMagnitude() {
        for (float d = Math.nextDown(-104f); d > -Float.MAX_VALUE / 1.01f; d *= 1.01f) {
            assertEquals(0, Float.floatToRawIntBits(SleefExp.expf(d)), "exp(" + d + ") is +0");
        }
        assertEquals(0, Float.floatToRawIntBits(SleefExp.expf(-Float.MAX_VALUE)));
        assertEquals(0, Float.floatToRawIntBits(SleefExp.expf(Float.NEGATIVE_INFINITY)), "torch.exp(-inf) is 0");
    }

    @Test
    void subnormalResultsDownToTheCutOffAgreeWithMathExpToTheLastPlace() {
        // exp(-87.34) is the smallest normal float; from there to -104 the results are subnormal and the two-step
        // scaling (u * 2^(q>>1) * 2^(q - (q>>1))) must not lose them
        for (float d = -104f; d <= -87f; d += 0.013f) {
            float e = (float) Math.exp(d);
            assertEquals(e, SleefExp.expf(d), Float.MIN_VALUE, "exp(" + d + ")");
        }
        assertEquals(Float.MIN_VALUE, SleefExp.expf(-103.9f), "the last subnormal above the cut-off");
        assertEquals(0f, SleefExp.expf(-104f), "exp(-104) ~ 6.8e-46 rounds to 0");
    }

    @Test
    void notANumberStaysNotANumber() {
        assertTrue(Float.isNaN(SleefExp.expf(Float.NaN)));
    }
}
