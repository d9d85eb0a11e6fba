package dev.panamadiffusion.models.attention;

import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.weights.Weights;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** What {@link Transformer2DModel}'s constructor refuses before it binds a weight. */
class Transformer2DModelArgumentsTest {
    @Test
    void headsTimesHeadWidthMustBeTheChannelCount() {
        Weights none = Weights.of(Map.of(), new NaiveBackend(), "no weights");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Transformer2DModel(none, 64, 3, 20, 1, 32, 32, false));
        assertEquals("Transformer2DModel: 3 heads × 20 ≠ 64 channels", e.getMessage());
    }
}
