package dev.panamadiffusion.rng;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@link PerImageNoise} as diffusers' {@code randn_tensor} with a list of generators: image i's rows of every draw
 * are generator i's next {@code [1, …]} draw, each stream going on from its own last draw.
 */
class PerImageNoiseTest {
    @Test
    void imageIsRowsAreItsOwnGeneratorsDrawsInTurn() {
        long[] shape = {3, 4, 5, 6};                                   // 120 per image: not a multiple of 16
        PerImageNoise noise = new PerImageNoise(List.of(new TorchCpuGenerator(40), new TorchCpuGenerator(41),
                new TorchCpuGenerator(42)));
        assertEquals(3, noise.size());
        Tensor first = noise.randn(shape), second = noise.randn(shape); // the initial noise, then an ancestral draw
        for (int i = 0; i < 3; i++) {
            TorchCpuGenerator alone = new TorchCpuGenerator(40 + i);
            assertArrayEquals(alone.randn(1, 4, 5, 6).toFloatArray(), first.slice(0, i, i + 1).contiguous().toFloatArray(), "image " + i);
            assertArrayEquals(alone.randn(1, 4, 5, 6).toFloatArray(), second.slice(0, i, i + 1).contiguous().toFloatArray(),
                    "image " + i + ", second draw");
        }
        // not one generator's draw: image 1 is not the continuation of image 0's stream
        float[] one = new TorchCpuGenerator(40).randn(3, 4, 5, 6).toFloatArray();
        assertEquals(false, java.util.Arrays.equals(java.util.Arrays.copyOfRange(one, 120, 240),
                first.slice(0, 1, 2).contiguous().toFloatArray()));
    }

    @Test
    void aDrawWhoseFirstDimensionIsNotTheBatchIsRefused() {
        PerImageNoise noise = new PerImageNoise(List.of(new TorchCpuGenerator(1), new TorchCpuGenerator(2)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> noise.randn(3, 4));
        assertEquals("a draw of shape [3, 4] for 2 per-image generators: its first dimension must be the batch", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> noise.randn());
        assertThrows(IllegalArgumentException.class, () -> new PerImageNoise(List.of()));
    }
}
