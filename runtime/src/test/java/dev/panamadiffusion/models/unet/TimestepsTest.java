package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class TimestepsTest {
    /** get_timestep_embedding in double precision, straight from its definition. */
    static double expected(double t, int dim, boolean flip, double shift, int col) {
        int half = dim / 2;
        boolean firstHalf = col < half;
        int i = firstHalf ? col : col - half;
        double arg = t * Math.exp(-Math.log(10000) * i / (half - shift));
        boolean sin = firstHalf != flip;
        return sin ? Math.sin(arg) : Math.cos(arg);
    }

    @Test
    void matchesTheDefinitionForBothLayoutsAndShifts() {
        double[] ts = {0, 1, 10, 499.5, 999};
        for (boolean flip : new boolean[] {true, false}) {
            for (double shift : new double[] {0, 1}) {
                Tensor e = new Timesteps(320, flip, shift).embed(ts);
                assertArrayEquals(new long[] {5, 320}, e.shape());
                for (int b = 0; b < ts.length; b++) {
                    for (int c = 0; c < 320; c++) {
                        // the f32 argument t·f is off by up to ~1000·2^-24 radians, as it is in torch
                        assertEquals(expected(ts[b], 320, flip, shift, c), e.getFloat(b * 320L + c), 2e-4,
                                "t=" + ts[b] + " col " + c + " flip " + flip + " shift " + shift);
                    }
                }
            }
        }
        Tensor zero = new Timesteps(4, true, 0).embed(new double[] {0});
        assertArrayEquals(new float[] {1, 1, 0, 0}, zero.toFloatArray()); // [cos, cos, sin, sin] at t = 0
    }

    @Test
    void theNarrowestEmbeddingHasOneFrequency() {
        // width 2: half_dim 1, exponent -log(10000) * 0 / (1 - 0) = 0, so the one frequency is 1: [cos t, sin t] flipped
        float[] e = new Timesteps(2, true, 0).embed(new double[] {0.5}).toFloatArray();
        assertEquals(Math.cos(0.5), e[0], 1e-6);
        assertEquals(Math.sin(0.5), e[1], 1e-6);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Timesteps(1, true, 0)).getMessage()
                .startsWith("timestep embedding width 1"));
    }
}
