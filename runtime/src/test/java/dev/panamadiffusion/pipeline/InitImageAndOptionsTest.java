package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.pipeline.InvalidRequestException.Problem;
import dev.panamadiffusion.pipeline.SdxlOptions.Crop;
import dev.panamadiffusion.pipeline.SdxlOptions.Size;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The request value types' documented checks and defaults at their edges: {@link InitImage} (strength, sizes, what
 * {@code prepare} leaves as it is), {@link MaskOptions} (blur and padding ranges), {@link SdxlOptions} (empty second
 * prompts, {@code given}, {@code names}, image-to-image time ids as diffusers' SDXL img2img pipeline makes them),
 * {@link RngKind}, {@link PipelineInputs#withInitImage} and {@link UNetConditioning}'s own checks.
 */
class InitImageAndOptionsTest {
    static Rgb8Image solid(int w, int h, int v) {
        byte[] rgb = new byte[w * h * 3];
        Arrays.fill(rgb, (byte) v);
        return new Rgb8Image(w, h, rgb);
    }

    /** White (repaint) on the left half, black on the right. */
    static Rgb8Image halfMask(int w, int h) {
        byte[] rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++) for (int x = 0; x < w / 2; x++) Arrays.fill(rgb, 3 * (y * w + x), 3 * (y * w + x) + 3, (byte) 255);
        return new Rgb8Image(w, h, rgb);
    }

    static List<String> fields(List<Problem> p) { return p.stream().map(Problem::field).toList(); }

    @Test
    void initImageNeedsAnImageAndMaskOptions() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new InitImage(null, 0.5));
        assertEquals("image to image needs an image", e.getMessage());
        IllegalArgumentException o = assertThrows(IllegalArgumentException.class,
                () -> new InitImage(solid(8, 8, 0), 0.5, null, null));
        assertEquals("maskOptions: MaskOptions.NONE for none", o.getMessage());
    }

    @Test
    void prepareLeavesAMaskWithoutOptionsAsItIs() {
        InitImage inpaint = new InitImage(solid(16, 16, 100), 0.75, halfMask(16, 16));
        MaskOptions.Prepared p = inpaint.prepare(16, 16);
        assertSame(inpaint, p.init(), "nothing to prepare: the run starts from this");
        assertNull(p.overlay());
        assertEquals(InpaintFill.ORIGINAL, p.fill());
        InitImage img2img = new InitImage(solid(16, 16, 100), 0.75, null, new MaskOptions(4, 8));
        assertSame(img2img, img2img.prepare(16, 16).init(), "no mask: the mask options have nothing to act on");
    }

    @Test
    void strengthInZeroToOne() {
        InitImage img = new InitImage(solid(64, 64, 9), 1.0);
        assertEquals(List.of(), img.problems(10, 64, 64), "strength 1 runs every step");
        assertEquals(List.of(new Problem("strength", "must be in (0, 1], got 0.0")),
                new InitImage(solid(64, 64, 9), 0.0).problems(10, 64, 64));
        assertEquals(List.of(new Problem("strength", "must be in (0, 1], got 1.01")),
                new InitImage(solid(64, 64, 9), 1.01).problems(10, 64, 64));
    }

    @Test
    void strengthMustLeaveAStep() {
        InitImage half = new InitImage(solid(64, 64, 9), 0.5);
        // int(1 x 0.5) = 0 steps: refused; int(2 x 0.5) = 1: runs
        assertEquals(List.of(new Problem("strength",
                "0.5 × 1 steps leaves no step to run (int(steps × strength) must be at least 1)")), half.problems(1, 64, 64));
        assertEquals(List.of(), half.problems(2, 64, 64));
        assertEquals(List.of(), half.problems(0, 64, 64), "no steps: the steps field reports that, not the strength");
    }

    @Test
    void imageAndMaskMustHaveTheRequestsSize() {
        InitImage img = new InitImage(solid(64, 64, 9), 0.5);
        assertEquals(List.of("initImage"), fields(img.problems(10, 72, 64)));
        assertEquals(List.of("initImage"), fields(img.problems(10, 64, 72)));
        assertEquals("is 64x64 but the request is 64x72 (image to image does not resize)",
                img.problems(10, 64, 72).getFirst().message());
        assertEquals(List.of(), new InitImage(solid(64, 64, 9), 0.5, halfMask(64, 64)).problems(10, 64, 64));
        List<Problem> wide = new InitImage(solid(64, 64, 9), 0.5, halfMask(72, 64)).problems(10, 64, 64);
        assertEquals(List.of(new Problem("mask", "is 72x64 but the image is 64x64")), wide);
        assertEquals(List.of("mask"), fields(new InitImage(solid(64, 64, 9), 0.5, halfMask(64, 56)).problems(10, 64, 64)));
    }

    @Test
    void maskPixelsNeedAMask() {
        assertThrows(IllegalStateException.class, () -> new InitImage(solid(8, 8, 9), 0.5).maskPixels());
    }

    @Test
    void maskOptionRanges() {
        assertThrows(IllegalArgumentException.class, () -> new MaskOptions(0, -1, null));
        assertEquals(256f, new MaskOptions(MaskOptions.MAX_BLUR, -1).blurFactor());
        assertThrows(IllegalArgumentException.class, () -> new MaskOptions(256.5f, -1));
        assertThrows(IllegalArgumentException.class, () -> new MaskOptions(-0.5f, -1));
        assertThrows(IllegalArgumentException.class, () -> new MaskOptions(Float.NaN, -1));
        assertEquals(MaskOptions.MAX_PADDING, new MaskOptions(0, 16384).paddingMaskCrop());
        assertThrows(IllegalArgumentException.class, () -> new MaskOptions(0, 16385));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new MaskOptions(0, -2));
        assertEquals("mask crop padding must be in [0, 16384] (or -1 for none), got -2", e.getMessage());
        assertTrue(new MaskOptions(0, 0).crops(), "padding 0 still crops to the mask's box");
        assertFalse(MaskOptions.NONE.crops());
    }

    @Test
    void blurZeroLeavesTheMaskBlurOtherwiseSoftensIt() {
        Rgb8Image mask = halfMask(16, 16);
        assertSame(mask, MaskOptions.NONE.blurred(mask));
        Rgb8Image soft = new MaskOptions(2, -1).blurred(mask);
        int edge = soft.rgb()[3 * (8 * 16 + 8)] & 0xff; // first black pixel: grey after the blur
        assertTrue(edge > 0 && edge < 255, "edge " + edge);
    }

    @Test
    void emptySecondPromptsAreNone() {
        SdxlOptions o = SdxlOptions.NONE.withPrompt2("").withNegativePrompt2("");
        assertNull(o.prompt2());
        assertNull(o.negativePrompt2());
        assertEquals("a cat", o.negativePrompt2Or("a cat"), "diffusers: negative_prompt_2 or negative_prompt");
        assertEquals("dog", SdxlOptions.NONE.withNegativePrompt2("dog").negativePrompt2());
    }

    @Test
    void givenListsTheDenoisingWindow() {
        assertEquals(List.of("denoising_start"), SdxlOptions.NONE.withDenoising(0.3, null).given());
        assertEquals(List.of("denoising_end"), SdxlOptions.NONE.withDenoising(null, 0.8).given());
        assertEquals(List.of("denoisingStart", "denoisingEnd"), RequestLimits.fields(SdxlOptions.NONE.withDenoising(0.3, 0.8)));
    }

    @Test
    void namesMapEveryFieldToItsArgument() {
        Map<String, String> n = SdxlOptions.names(UnaryOperator.identity());
        assertEquals(SdxlOptions.ARGUMENTS.size(), n.size());
        assertEquals("prompt_2", n.get("prompt2"));
        assertEquals("negative_crops_coords_top_left", n.get("negativeCropsCoordsTopLeft"));
        assertEquals("DENOISING_END", SdxlOptions.names(s -> s.toUpperCase()).get("denoisingEnd"));
    }

    @Test
    void sizesAndCropsReadAsTheirCommandLineSyntax() {
        assertEquals("1024x768", new Size(1024, 768).toString(), "WxH");
        assertEquals("3,5", new Crop(3, 5).toString(), "TOP,LEFT (diffusers' order)");
    }

    @Test
    void imageTimeIdsTakeTheNegativeSizesFromThePositive() {
        // diffusers' SDXL img2img: negative_original_size defaults to original_size, negative_target_size to target_size
        SdxlOptions o = SdxlOptions.NONE.withSizes(new Size(300, 200), new Crop(4, 6), new Size(640, 480));
        float[] rows = o.imageTimeIdRows(512, 256, true, 1).toFloatArray();
        float[] expected = {200, 300, 4, 6, 480, 640, 200, 300, 4, 6, 480, 640};
        assertArrayEquals(expected, rows);
        SdxlOptions neg = o.withNegativeSizes(new Size(100, 50), new Crop(9, 9), new Size(80, 40));
        assertArrayEquals(new float[] {50, 100, 4, 6, 40, 80, 200, 300, 4, 6, 480, 640},
                neg.imageTimeIdRows(512, 256, true, 1).toFloatArray(), "the negative crop is not read (diffusers 0.27)");
    }

    @Test
    void rngKindsByName() {
        assertEquals(RngKind.TORCH, RngKind.parse("Torch"));
        assertEquals(RngKind.JAVA, RngKind.parse("JAVA"));
        for (RngKind k : RngKind.values()) assertEquals(k, RngKind.parse(k.cliName()));
        assertEquals("torch", RngKind.TORCH.cliName());
        assertThrows(IllegalArgumentException.class, () -> RngKind.parse("numpy"));
    }

    @Test
    void withInitImageKeepsTheRest() {
        Tensor embeds = Tensor.fromFloats(new float[4], 1, 2, 2);
        InitImage init = new InitImage(solid(8, 8, 1), 0.5);
        PipelineInputs in = new PipelineInputs(embeds, null, null, null).withInitImage(init);
        assertSame(init, in.initImage());
        assertSame(embeds, in.promptEmbeds());
        assertNull(in.withInitImage(null).initImage(), "null: text to image");
    }

    @Test
    void unetConditioningChecksItsRows() {
        Tensor two = Tensor.fromFloats(new float[8], 2, 2, 2);
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> new UNetConditioning(null, null));
        assertEquals("no context", none.getMessage());
        assertNull(new UNetConditioning(two, null).addEmbeds());
        assertEquals(2, new UNetConditioning(two, Tensor.fromFloats(new float[6], 2, 3)).addEmbeds().dim(0));
        IllegalArgumentException rows = assertThrows(IllegalArgumentException.class,
                () -> new UNetConditioning(two, Tensor.fromFloats(new float[3], 1, 3)));
        assertEquals("added conditioning has 1 rows, the context 2", rows.getMessage());
    }

    @Test
    void givenEmbeddingsRefuseASecondPrompt() {
        PipelineInputs in = new PipelineInputs(Tensor.fromFloats(new float[4], 1, 2, 2), null, null, null);
        for (SdxlOptions o : List.of(SdxlOptions.NONE.withPrompt2("b"), SdxlOptions.NONE.withNegativePrompt2("c"))) {
            GenerationRequest r = GenerationRequest.of("a").withSdxl(o);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> UNetConditioning.given(in, false, r, null, false, false));
            assertEquals("prompt_2 and negative_prompt_2 cannot go with given prompt embeddings", e.getMessage());
        }
    }
}
