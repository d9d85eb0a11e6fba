package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.schedulers.Scheduler;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.schedulers.Schedulers;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * diffusers' denoising window rules (0.27.2: {@code denoising_start} in the image-to-image pipelines'
 * {@code get_timesteps}, {@code denoising_end} in {@code __call__}) at their edges: a cutoff equal to a timestep,
 * nothing left, and the requests the window cannot serve.
 */
class DenoisingWindowTest {
    /** SDXL's Euler schedule (leading spacing, steps_offset 1), 10 steps: 901, 801, ..., 1. */
    private static Scheduler euler10() {
        Path dir = Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl-refiner/scheduler_euler");
        Scheduler s = Schedulers.create("Euler", SchedulerConfig.read(dir.resolve("scheduler_config.json")));
        s.setTimesteps(10);
        assertArrayEquals(new double[] {901, 801, 701, 601, 501, 401, 301, 201, 101, 1}, s.timesteps());
        return s;
    }

    @Test
    void startTakesTheTimestepsStrictlyBelowTheCutoff() {
        Scheduler s = euler10();
        assertEquals(1, DenoisingWindow.startIndex(s, 0.099, 1000));     // cutoff round(901) = 901: 801 … 1
        assertEquals(0, DenoisingWindow.startIndex(s, 0.098, 1000));     // cutoff 902: all ten
        assertEquals(6, DenoisingWindow.startIndex(s, 0.6, 1000));       // cutoff 400: 301, 201, 101, 1 (the ensemble split)
        assertEquals(9, DenoisingWindow.startIndex(s, 0.99, 1000));      // cutoff 10: only 1
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> DenoisingWindow.startIndex(s, 0.999, 1000));
        assertEquals("denoisingStart", e.problems().get(0).field());      // cutoff 1: nothing below it
    }

    @Test
    void endKeepsTheTimestepsAtOrAboveTheCutoff() {
        Scheduler s = euler10();
        assertEquals(10, DenoisingWindow.endIndex(s, 0, null, 1000));
        assertEquals(1, DenoisingWindow.endIndex(s, 0, 0.099, 1000));    // cutoff 901: 901 itself stays
        assertEquals(6, DenoisingWindow.endIndex(s, 0, 0.6, 1000));      // cutoff 400: 901 … 401
        assertEquals(6, DenoisingWindow.endIndex(s, 4, 0.6, 1000));      // from 501: 501, 401
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> DenoisingWindow.endIndex(s, 0, 0.098, 1000));
        assertEquals("denoisingEnd", e.problems().get(0).field());        // cutoff 902: nothing at or above it
        assertThrows(InvalidRequestException.class, () -> DenoisingWindow.endIndex(s, 7, 0.6, 1000));
    }

    @Test
    void windowProblemsNameTheirField() {
        InitImage image = new InitImage(image(), 0.5);
        InitImage masked = new InitImage(image(), 0.5, image());
        Tensor latents = Tensor.fromFloats(new float[4 * 4 * 4], 1, 4, 4, 4);
        SdxlOptions start = SdxlOptions.NONE.withDenoising(0.5, null);
        SdxlOptions end = SdxlOptions.NONE.withDenoising(null, 0.5);
        DenoisingWindow.problems(start, image, null);
        DenoisingWindow.problems(start, null, latents);
        DenoisingWindow.problems(end, image, null);
        DenoisingWindow.problems(end, null, null);
        DenoisingWindow.problems(SdxlOptions.NONE, masked, null);
        assertEquals("denoisingStart", field(() -> DenoisingWindow.problems(start, null, null)));
        assertEquals("denoisingStart", field(() -> DenoisingWindow.problems(start, masked, null)));
        assertEquals("denoisingEnd", field(() -> DenoisingWindow.problems(end, masked, null)));
        assertEquals("denoisingStart", field(() -> DenoisingWindow.problems(SdxlOptions.NONE, null, latents)));
        assertEquals("denoisingStart", field(() -> DenoisingWindow.problems(end, null, latents)));
    }

    @Test
    void imageLatentsMustMatchTheRequestsShape() {
        long[] shape = {2, 4, 8, 6};
        Tensor one = Tensor.fromFloats(new float[4 * 8 * 6], 1, 4, 8, 6);
        Tensor two = Tensor.fromFloats(new float[2 * 4 * 8 * 6], 2, 4, 8, 6);
        assertArrayEquals(one.shape(), DenoisingWindow.checkedImageLatents(one, shape).shape());
        assertArrayEquals(two.shape(), DenoisingWindow.checkedImageLatents(two, shape).shape());
        for (long[] bad : new long[][] {{3, 4, 8, 6}, {1, 3, 8, 6}, {1, 4, 7, 6}, {1, 4, 8, 5}, {4, 8, 6}}) {
            int n = 1;
            for (long d : bad) n *= (int) d;
            Tensor t = Tensor.fromFloats(new float[n], bad);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> DenoisingWindow.checkedImageLatents(t, shape), java.util.Arrays.toString(bad));
            assertTrue(e.getMessage().contains("[1 or 2, 4, 8, 6]"), e.getMessage());
        }
        Tensor f32 = DenoisingWindow.checkedImageLatents(one, shape);
        assertSame(dev.panamadiffusion.tensor.DType.F32, f32.dtype());
    }

    private static String field(Runnable r) {
        return assertThrows(InvalidRequestException.class, r::run).problems().get(0).field();
    }

    private static Rgb8Image image() {
        return new Rgb8Image(16, 16, new byte[16 * 16 * 3]);
    }
}
