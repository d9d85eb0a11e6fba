package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What image to image promises besides matching diffusers (Img2ImgReferenceTest): diffusers' strength arithmetic,
 * the [-1, 1] preprocessing, the size taken from the image, progress counted over the steps that run, the A1111
 * infotext, and one-line refusals naming the field.
 */
class ImageToImageBehaviourTest {
    @TempDir
    static Path tmp;
    private static StableDiffusionPipeline pipeline;

    @BeforeAll
    static void load() throws Exception {
        Path model = ReferenceModelFolder.assemble(Reference.tiny().getParent(), tmp.resolve("tiny-sd"), "ddim",
                ReferenceModelFolder.Tokenizer.TINY_BPE);
        pipeline = StableDiffusionPipeline.load(model, new NaiveBackend());
    }

    @AfterAll
    static void close() {
        if (pipeline != null) pipeline.close();
    }

    private static Rgb8Image image(int w, int h) {
        byte[] rgb = new byte[w * h * 3];
        for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) (i * 37);
        return new Rgb8Image(w, h, rgb);
    }

    @Test
    void strengthArithmeticIsDiffusers() {
        InitImage i = new InitImage(image(16, 16), 0.75);
        assertEquals(15, i.stepsToRun(20));
        assertEquals(5, i.beginIndex(20));
        // Python: int(10 * 0.7) = 7 (7.000000000000001); int(3 * 0.1 * 10) style products truncate, never round
        assertEquals(7, new InitImage(image(16, 16), 0.7).stepsToRun(10));
        assertEquals(2, new InitImage(image(16, 16), 0.29).stepsToRun(10)); // 2.9 → 2
        assertEquals(10, new InitImage(image(16, 16), 1).stepsToRun(10));
        assertEquals(0, new InitImage(image(16, 16), 1).beginIndex(10));
    }

    @Test
    void pixelsAreNormalisedToMinusOneOne() {
        Rgb8Image img = new Rgb8Image(2, 1, new byte[] {0, (byte) 255, (byte) 128, 1, 2, 3});
        Tensor t = new InitImage(img, 0.5).pixels();
        assertArrayEquals(new long[] {1, 3, 1, 2}, t.shape());
        float[] v = t.toFloatArray(); // planar: R of both pixels, then G, then B
        assertArrayEquals(new float[] {-1f, 2f * (1 / 255f) - 1f, 1f, 2f * (2 / 255f) - 1f, 2f * (128 / 255f) - 1f,
                2f * (3 / 255f) - 1f}, v);
    }

    @Test
    void refusesBadStrengthAndSizeNamingTheField() {
        GenerationRequest r = GenerationRequest.of("a red cube").withSteps(4).withSeed(3).withSize(16, 16);
        for (double s : new double[] {0, -0.5, 1.5, Double.NaN}) {
            InvalidRequestException e = assertThrows(InvalidRequestException.class,
                    () -> pipeline.begin(r, PipelineInputs.of(new InitImage(image(16, 16), s))));
            assertEquals("strength", e.problems().get(0).field(), e.getMessage());
        }
        InvalidRequestException tooLow = assertThrows(InvalidRequestException.class,
                () -> pipeline.begin(r, PipelineInputs.of(new InitImage(image(16, 16), 0.2))));
        assertTrue(tooLow.getMessage().contains("leaves no step"), tooLow.getMessage());
        InvalidRequestException size = assertThrows(InvalidRequestException.class,
                () -> pipeline.begin(r, PipelineInputs.of(new InitImage(image(32, 16), 0.5))));
        assertEquals("initImage", size.problems().get(0).field());
        assertTrue(size.getMessage().contains("32x16") && size.getMessage().contains("16x16"), size.getMessage());
    }

    @Test
    void takesTheImageSizeCountsOnlyTheStepsThatRunAndWritesTheStrength() {
        GenerationRequest r = GenerationRequest.of("a red cube").withSteps(4).withSeed(3).withSize(0, 0);
        List<int[]> progress = new ArrayList<>();
        GenerationResult result = pipeline.generate(r, PipelineInputs.of(new InitImage(image(16, 32), 0.5)),
                (done, total) -> progress.add(new int[] {done, total}), null);
        assertEquals(16, result.images().get(0).width());
        assertEquals(32, result.images().get(0).height());
        assertEquals(2, progress.size());
        assertArrayEquals(new int[] {2, 2}, progress.get(1));
        assertTrue(result.infotexts().get(0).contains("Size: 16x32") && result.infotexts().get(0).contains("Denoising strength: 0.5"),
                result.infotexts().get(0));
        Denoising d = pipeline.begin(r.withSize(16, 32), PipelineInputs.of(new InitImage(image(16, 32), 0.5)));
        assertEquals(2, d.beginIndex());
        assertEquals(0, d.stepsDone());
        List<Integer> indices = new ArrayList<>();
        d.observe(step -> indices.add(step.index()));
        while (!d.finished()) pipeline.step(List.of(d));
        assertEquals(List.of(0, 1), indices, "observer indices count the loop's own iterations, as diffusers' i");
    }
}
