package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class LatentsTest {
    private static Tensor random(long seed, long... shape) {
        Random r = new Random(seed);
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian() * 3;
        return Tensor.fromFloats(v, shape);
    }

    @Test
    void guidanceCombinesHalvesAsDiffusers() {
        Tensor pred = random(1, 4, 2, 3, 3); // [2B, C, h, w] with B = 2
        float g = 7.5f;
        Tensor out = Latents.guide(pred, g);
        assertArrayEquals(new long[] {2, 2, 3, 3}, out.shape());
        float[] p = pred.toFloatArray();
        int half = p.length / 2;
        for (int i = 0; i < half; i++) {
            float u = p[i], t = p[half + i];
            assertEquals(u + g * (t - u), out.getFloat(i), 0f, "element " + i); // same f32 rounding order
        }
    }

    @Test
    void twiceAndRepeatRowsLayOutTheBatchLikeTorchCat() {
        Tensor x = random(2, 2, 3);
        Tensor t = Latents.twice(x);
        assertArrayEquals(new long[] {4, 3}, t.shape());
        float[] a = x.toFloatArray();
        for (int i = 0; i < 12; i++) assertEquals(a[i % 6], t.getFloat(i));

        Tensor u = random(3, 1, 2, 2);
        Tensor c = random(4, 1, 2, 2);
        Tensor ctx = Latents.repeatRows(u, c, 3); // [uncond × 3; cond × 3]
        assertArrayEquals(new long[] {6, 2, 2}, ctx.shape());
        for (int r = 0; r < 6; r++) {
            float[] expected = (r < 3 ? u : c).toFloatArray();
            for (int i = 0; i < 4; i++) assertEquals(expected[i], ctx.getFloat(r * 4L + i), "row " + r);
        }
        Tensor only = Latents.repeatRows(c, null, 2);
        assertArrayEquals(new long[] {2, 2, 2}, only.shape());
        assertEquals(c.getFloat(3), only.getFloat(7));
    }

    @Test
    void scaleDivideAndDenormalizeRoundInF32() {
        Tensor x = random(5, 10);
        float[] v = x.toFloatArray();
        Tensor s = Latents.scale(x, 14.6146f);
        Tensor d = Latents.divide(x, 0.18215f);
        Tensor n = Latents.denormalize(x);
        for (int i = 0; i < v.length; i++) {
            assertEquals(v[i] * 14.6146f, s.getFloat(i), 0f);
            assertEquals(v[i] / 0.18215f, d.getFloat(i), 0f); // division, not multiplication by the reciprocal
            assertEquals(Math.min(1f, Math.max(0f, v[i] / 2 + 0.5f)), n.getFloat(i), 0f);
        }
        assertEquals(0f, Latents.denormalize(Tensor.fromFloats(new float[] {-5f}, 1)).getFloat(0));
        assertEquals(1f, Latents.denormalize(Tensor.fromFloats(new float[] {5f}, 1)).getFloat(0));
    }

    @Test
    void slicesAreReadInLogicalOrder() {
        Tensor x = random(6, 3, 2, 2);
        Tensor row = x.slice(0, 1, 2); // a view with an offset
        float[] out = Latents.divide(row, 1f).toFloatArray();
        float[] all = x.toFloatArray();
        for (int i = 0; i < 4; i++) assertEquals(all[4 + i], out[i]);
    }

    @Test
    void concatRowsStacksAlongTheFirstDimension() {
        Tensor a = Tensor.fromFloats(new float[] {1, 2, 3, 4}, 1, 2, 2);
        Tensor b = Tensor.fromFloats(new float[] {5, 6, 7, 8, 9, 10, 11, 12}, 2, 2, 2);
        Tensor ab = Latents.concatRows(java.util.List.of(a, b));
        assertArrayEquals(new long[] {3, 2, 2}, ab.shape());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, ab.toFloatArray());
        assertArrayEquals(a.toFloatArray(), Latents.concatRows(java.util.List.of(a)).toFloatArray());
        // trailing dimensions must agree
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Latents.concatRows(java.util.List.of(a, Tensor.fromFloats(new float[] {1, 2, 3, 4}, 1, 4, 1))));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Latents.concatRows(java.util.List.of(a, Tensor.fromFloats(new float[] {1, 2}, 1, 2))));
    }

    @Test
    void cancellationTokenRemembersTheCancel() {
        CancellationToken t = CancellationToken.none();
        org.junit.jupiter.api.Assertions.assertFalse(t.isCancelled());
        t.throwIfCancelled("before");
        t.cancel();
        org.junit.jupiter.api.Assertions.assertTrue(t.isCancelled());
        java.util.concurrent.CancellationException e = org.junit.jupiter.api.Assertions.assertThrows(
                java.util.concurrent.CancellationException.class, () -> t.throwIfCancelled("before decoding"));
        assertEquals("generation cancelled before decoding", e.getMessage());
    }
}
