package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UNetShapeTest {
    private static UNetShape shape(long[] sample, int timesteps, long[] context) {
        return UNetShape.of(Tensor.zeros(sample), new double[timesteps], Tensor.zeros(context));
    }

    @Test
    void keyIsTheSizesNotTheValuesOrTensors() {
        UNetShape a = shape(new long[] {2, 4, 64, 64}, 2, new long[] {2, 77, 768});
        UNetShape b = shape(new long[] {2, 4, 64, 64}, 2, new long[] {2, 77, 768});
        assertEquals(new UNetShape(2, 4, 64, 64, 77, 768), a);
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
    }

    @Test
    void everySizeIsPartOfTheKey() {
        List<UNetShape> shapes = List.of(
                shape(new long[] {2, 4, 64, 64}, 2, new long[] {2, 77, 768}),
                shape(new long[] {1, 4, 64, 64}, 1, new long[] {1, 77, 768}),   // guidance off
                shape(new long[] {2, 4, 64, 96}, 2, new long[] {2, 77, 768}),   // wider image
                shape(new long[] {2, 4, 96, 64}, 2, new long[] {2, 77, 768}),   // taller image
                shape(new long[] {2, 9, 64, 64}, 2, new long[] {2, 77, 768}),   // inpainting channels
                shape(new long[] {2, 4, 64, 64}, 2, new long[] {2, 154, 768}),  // longer prompt
                shape(new long[] {2, 4, 64, 64}, 2, new long[] {2, 77, 1024})); // SD 2.x context
        Set<UNetShape> distinct = new HashSet<>(shapes);
        assertEquals(shapes.size(), distinct.size(), shapes.toString());
        assertNotEquals(shapes.get(2), shapes.get(3), "height and width are not interchangeable");
    }

    @Test
    void inputsThatDoNotFitTogetherAreNamed() {
        IllegalArgumentException rows = assertThrows(IllegalArgumentException.class,
                () -> shape(new long[] {2, 4, 8, 8}, 2, new long[] {1, 77, 768}));
        assertTrue(rows.getMessage().contains("1 rows for a sample of 2"), rows.getMessage());
        IllegalArgumentException steps = assertThrows(IllegalArgumentException.class,
                () -> shape(new long[] {2, 4, 8, 8}, 3, new long[] {2, 77, 768}));
        assertTrue(steps.getMessage().contains("3 timesteps for a batch of 2"), steps.getMessage());
        IllegalArgumentException rank = assertThrows(IllegalArgumentException.class,
                () -> shape(new long[] {2, 4, 64}, 2, new long[] {2, 77, 768}));
        assertTrue(rank.getMessage().contains("[B, C, h, w]"), rank.getMessage());
        IllegalArgumentException context = assertThrows(IllegalArgumentException.class,
                () -> shape(new long[] {2, 4, 8, 8}, 2, new long[] {2, 77}));
        assertTrue(context.getMessage().contains("[B, L, D]"), context.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new UNetShape(0, 4, 8, 8, 77, 768));
    }

    @Test
    void readsAsTheTensorsItStandsFor() {
        assertEquals("[2, 4, 64, 64] x context [2, 77, 768]", new UNetShape(2, 4, 64, 64, 77, 768).toString());
    }

    @Test
    void everySizeMustBePositive() {
        new UNetShape(1, 1, 1, 1, 1, 1);
        int[] ok = {1, 1, 1, 1, 1, 1};
        for (int i = 0; i < ok.length; i++) {
            int[] v = ok.clone();
            v[i] = 0;
            org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> new UNetShape(v[0], v[1], v[2], v[3], v[4], v[5]), "size " + i);
        }
    }
}
