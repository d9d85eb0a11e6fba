package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Small documented contracts of the pipeline's value types: Infotext's Python str() of floats, GenerationResult's sizes, Latents' concatenation. */
class PipelineValueContractsTest {

    @Test
    void floatsPrintAsPythonStrDoes() {
        // a float (not only a double) that is a whole number keeps its fraction digit in positional form: str(1e7) == '10000000.0'
        assertEquals("10000000.0", Infotext.value(1.0e7f));
        assertEquals("12345678.0", Infotext.value(12345678f));
        // Python's str switches to exponent notation at 1e16 (str(1e16) == '1e+16'), never '10000000000000000.0'
        String big = Infotext.value(1.0e16);
        assertTrue(big.matches("1(\\.0)?[eE]\\+?16"), big);
        assertEquals("9999999999999998.0", Infotext.value(9999999999999998.0), "the largest whole double below 1e16");
    }

    @Test
    void aResultNeedsOneSeedAndOneInfotextPerImage() {
        Rgb8Image img = new Rgb8Image(1, 1, new byte[3]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new GenerationResult(List.of(img), List.of(), List.of("x"), List.of(), 0.0));
        assertEquals("1 images with 0 seeds and 1 infotexts", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new GenerationResult(List.of(img), List.of(1L), List.of(), List.of(), 0.0));
        assertEquals("1 images with 1 seeds and 0 infotexts", e.getMessage());
        assertEquals(1, new GenerationResult(List.of(img), List.of(1L), List.of("x"), List.of(), 0.0).size());
    }

    @Test
    void concatenatingKeepsTheDtype() {
        float[] v = {1f, -2f, 0.5f, 3f};
        Tensor half = Tensor.fromFloats(v, 1, 4).to(DType.F16);
        Tensor one = Latents.concatRows(List.of(half));
        assertEquals(DType.F16, one.dtype());
        assertArrayEquals(new long[] {1, 4}, one.shape());
        assertArrayEquals(v, one.toFloatArray());
        Tensor two = Latents.concatRows(List.of(half, half));
        assertEquals(DType.F16, two.dtype());
        assertArrayEquals(new long[] {2, 4}, two.shape());
        assertArrayEquals(new float[] {1f, -2f, 0.5f, 3f, 1f, -2f, 0.5f, 3f}, two.toFloatArray());
        // rows of another dtype cannot be stacked byte for byte
        assertThrows(IllegalArgumentException.class, () -> Latents.concatRows(List.of(half, Tensor.fromFloats(v, 1, 4))));
    }
}
