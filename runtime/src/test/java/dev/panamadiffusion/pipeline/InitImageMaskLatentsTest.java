package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.Rgb8Image;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link InitImage#maskLatents} at the far end of a very long latent side: torch's nearest {@code interpolate} takes
 * source index {@code min(floor(i · scale), in − 1)}, and in float32 {@code floor((out − 1) · (in / out))} rounds up to
 * {@code in} for {@code out} = 16775217 and {@code in} = 2, so the last latent must still read the mask's last pixel.
 */
class InitImageMaskLatentsTest {
    static final int LONG = 16_775_217;

    static Rgb8Image image(int w, int h) { return new Rgb8Image(w, h, new byte[w * h * 3]); }

    /** Black then white, along a column (vertical) or a row. */
    static Rgb8Image blackThenWhite(boolean vertical) {
        byte[] rgb = {0, 0, 0, (byte) 255, (byte) 255, (byte) 255};
        return vertical ? new Rgb8Image(1, 2, rgb) : new Rgb8Image(2, 1, rgb);
    }

    @Test
    void theFloatIndexRoundsUpToTheSideAndIsClampedToTheLastRow() {
        assertEquals(2f, (float) Math.floor((LONG - 1) * ((float) 2 / LONG)), "the rounding this test is about");
        float[] m = new InitImage(image(1, 2), 0.5, blackThenWhite(true)).maskLatents(1, LONG, 1).toFloatArray();
        assertEquals(0f, m[0]);
        assertEquals(1f, m[LONG - 1], "the last latent row reads the mask's last (white) row");
    }

    @Test
    void theFloatIndexRoundsUpToTheSideAndIsClampedToTheLastColumn() {
        float[] m = new InitImage(image(2, 1), 0.5, blackThenWhite(false)).maskLatents(1, 1, LONG).toFloatArray();
        assertEquals(0f, m[0]);
        assertEquals(1f, m[LONG - 1], "the last latent column reads the mask's last (white) column");
    }
}
