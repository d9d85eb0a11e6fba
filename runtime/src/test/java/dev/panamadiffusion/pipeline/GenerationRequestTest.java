package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.pipeline.InvalidRequestException.Problem;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GenerationRequestTest {
    private static final SizeRule SD = new SizeRule(8, 3);
    /** SD 1.5: 512x512, 12 text encoder layers. */
    private static final RequestLimits.Model SD15 = new RequestLimits.Model(SD, 512, 512, 12);
    private static final RequestLimits.Model DEMO = new RequestLimits.Model(new SizeRule(4, 2), 64, 64, 2);

    @Test
    void defaultsAreValid() {
        assertEquals(List.of(), RequestLimits.DEFAULT.problems(GenerationRequest.of("x"), SD15));
        assertEquals(64, SD.multiple());
        assertEquals(8, SizeRule.GENERIC.multiple());
        assertEquals(8, new SizeRule(2, 1).multiple()); // tiny model: 4, but never below diffusers' 8
    }

    @Test
    void oneProblemPerBadFieldNamedByItsField() {
        GenerationRequest bad = new GenerationRequest(null, null, 0, -1, null, 5, 500, 0, 17, -1, null);
        List<Problem> p = RequestLimits.DEFAULT.problems(bad, SD15);
        assertEquals(List.of("prompt", "steps", "guidanceScale", "width", "batchSize", "clipSkip"),
                p.stream().map(Problem::field).toList(), p.toString());
        assertEquals("must be between 1 and 1000, got 0", p.get(1).message());
        assertTrue(p.get(3).message().startsWith("500 is not a multiple of 64 (try 448 or 512)"), p.get(3).message());
        assertTrue(p.get(3).message().contains("halves the latent 3 times"), p.get(3).message());
        assertEquals("must be between 1 and 16, got 17", p.get(4).message());
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> RequestLimits.DEFAULT.check(bad, SD15));
        assertEquals(p, e.problems());
        assertTrue(!e.getMessage().contains("\n"));
        assertTrue(e.getMessage().startsWith("prompt is required; steps must be between 1 and 1000, got 0; guidance scale must"),
                e.getMessage());
        assertTrue(e.describe(Map.of("guidanceScale", "cfg_scale")).contains("; cfg_scale must be a number between 0 and 100"),
                e.describe(Map.of()));
    }

    /** The server's limits replace the defaults: one limit per field, never two in one message. */
    @Test
    void oneLimitPerField() {
        String msg = assertThrows(InvalidRequestException.class,
                () -> RequestLimits.SERVER.check(GenerationRequest.of("x").withSteps(1001).withBatchSize(17), SD15)).getMessage();
        assertEquals("steps must be between 1 and 150, got 1001; batch size must be between 1 and 8, got 17", msg);
    }

    @Test
    void sizeLimitsAreTheModelsAndNeverOverflow() {
        // a side past the largest is refused before anything multiplies it
        List<Problem> p = RequestLimits.DEFAULT.problems(GenerationRequest.of("x").withSize(65536, 65536), DEMO);
        assertEquals(List.of(new Problem("width", "must be at most 8192, got 65536"), new Problem("height", "must be at most 8192, got 65536")), p);
        p = RequestLimits.DEFAULT.problems(GenerationRequest.of("x").withSize(Integer.MAX_VALUE - 7, 8), DEMO);
        assertEquals("width", p.get(0).field());
        // 16 times the model's pixels: 256x256 on the 64x64 demo model, not 264x256
        assertEquals(List.of(), RequestLimits.DEFAULT.problems(GenerationRequest.of("x").withSize(256, 256), DEMO));
        p = RequestLimits.DEFAULT.problems(GenerationRequest.of("x").withSize(272, 256), DEMO);
        assertEquals(List.of(new Problem("size", "272x256 is 69632 pixels; this model allows at most 65536 (16 times its own 64x64)")), p);
        // 0 is the model's own size; negative is not
        assertEquals(List.of(), RequestLimits.SERVER.problems(GenerationRequest.of("x").withSize(0, 0), SD15));
        assertEquals(List.of(new Problem("height", "must be positive, got -8")),
                RequestLimits.SERVER.problems(GenerationRequest.of("x").withSize(0, -8), SD15));
    }

    @Test
    void seedsAreUnsigned64BitAndNIterMustNotWrap() {
        long max = RequestLimits.MAX_SEED;
        assertEquals("18446744073709551614", RequestLimits.seedText(max));
        assertEquals(max, RequestLimits.parseSeed("18446744073709551614"));
        assertEquals(-1, RequestLimits.parseSeed("-1"));
        assertEquals(42, RequestLimits.parseSeed("42"));
        for (String bad : List.of("18446744073709551615", "18446744073709551616", "-2", "+5", "x", "")) {
            assertThrows(IllegalArgumentException.class, () -> RequestLimits.parseSeed(bad), bad);
        }
        GenerationRequest top = GenerationRequest.of("x").withSeed(max - 3).withBatchSize(2);
        assertEquals(List.of(), RequestLimits.DEFAULT.problems(top, 2, SD15)); // seeds max-3, max-1
        List<Problem> p = RequestLimits.DEFAULT.problems(top, 3, SD15);      // max+1 would wrap to 0
        assertEquals("seed", p.get(0).field(), p.toString());
        assertTrue(p.get(0).message().contains("18446744073709551614"), p.toString());
        assertEquals(List.of(new Problem("iterations", "must be between 1 and 64, got 65")),
                RequestLimits.DEFAULT.problems(GenerationRequest.of("x"), 65, SD15));
        assertEquals(Long.toUnsignedString(max - 1), RequestLimits.seedText(top.iteration(1).seed()));
        // per-image seeds: 2 iterations of 2 from max-3 are max-3 … max; from max-2 the last would be max+1
        GenerationRequest perImage = top.withSeedPerImage(true);
        assertEquals(List.of(), RequestLimits.DEFAULT.problems(perImage, 2, SD15));
        assertEquals("seed", RequestLimits.DEFAULT.problems(perImage.withSeed(max - 2), 2, SD15).get(0).field());
        assertEquals(List.of(), RequestLimits.DEFAULT.problems(top.withSeed(max - 2), 2, SD15), "one draw per batch: max-2, max");
        assertEquals(List.of(), RequestLimits.DEFAULT.problems(perImage.withSeed(max - 1), 1, SD15)); // max-1, max
    }

    /** Every wither keeps per-image seeds; the seed of image i is the request's, or seed + i with per-image seeds. */
    @Test
    void perImageSeedsSurviveEveryWitherAndNumberTheImages() {
        GenerationRequest r = GenerationRequest.of("x").withSeedPerImage(true);
        for (GenerationRequest w : List.of(r.withNegativePrompt("n"), r.withSteps(3), r.withGuidanceScale(2), r.withSampler("Euler"),
                r.withSeed(3), r.withSize(64, 64), r.withBatchSize(2), r.withClipSkip(1), r.withRng(RngKind.JAVA),
                r.withSdxl(SdxlOptions.NONE), r.withSeed(9).iteration(2))) {
            assertTrue(w.seedPerImage(), w.toString());
        }
        assertEquals(false, GenerationRequest.of("x").seedPerImage(), "one draw for the batch unless asked, as diffusers");
        assertEquals(false, r.withSeedPerImage(false).seedPerImage());
        assertEquals(12, r.imageSeed(10, 2));
        assertEquals(10, r.withSeedPerImage(false).imageSeed(10, 2));
        assertEquals(r.withSeed(8).withBatchSize(3).iteration(1).seed(), 11, "n_iter still steps by the batch size");
        // the noise: one generator, or one per image seeded seed + i
        dev.panamadiffusion.tensor.Tensor shared = r.withSeedPerImage(false).withBatchSize(2).noise(7).randn(2, 16);
        dev.panamadiffusion.tensor.Tensor each = r.withBatchSize(2).noise(7).randn(2, 16);
        assertArrayEquals(new dev.panamadiffusion.rng.TorchCpuGenerator(7).randn(2, 16).toFloatArray(), shared.toFloatArray());
        assertArrayEquals(new dev.panamadiffusion.rng.TorchCpuGenerator(8).randn(1, 16).toFloatArray(),
                each.slice(0, 1, 2).contiguous().toFloatArray());
        assertArrayEquals(new dev.panamadiffusion.rng.JavaNoiseGenerator(8).randn(1, 16).toFloatArray(),
                r.withRng(RngKind.JAVA).withBatchSize(2).noise(7).randn(2, 16).slice(0, 1, 2).contiguous().toFloatArray(),
                "the request's generator kind, per image");
        assertTrue(r.noise(7) instanceof dev.panamadiffusion.rng.TorchCpuGenerator, "batch 1: the one generator");
    }

    @Test
    void sizeMessages() {
        assertEquals("500 is not a multiple of 8 (try 496 or 504)", SizeRule.GENERIC.check(500));
        assertEquals("4 is not a multiple of 8 (try 8)", SizeRule.GENERIC.check(4));
        assertEquals("must be positive, got -8", SD.check(-8));
        assertEquals(null, SD.check(768));
        assertTrue(SD.check(520).contains("a side / 8 must be divisible by 8"));
        // tiny model (VAE 2x, one UNet halving): 20 breaks only the multiple of 8, so no model explanation
        assertEquals("20 is not a multiple of 8 (try 16 or 24)", new SizeRule(2, 1).check(20));
        assertTrue(new SizeRule(2, 3).check(36).contains("halves the latent 3 times"));
        assertEquals("guidanceScale", RequestLimits.DEFAULT.problems(GenerationRequest.of("x").withGuidanceScale(Double.NaN), SD15).get(0).field());
        assertEquals("clipSkip", RequestLimits.DEFAULT.problems(GenerationRequest.of("x").withClipSkip(13), SD15).get(0).field());
        assertEquals("prompt", RequestLimits.DEFAULT.problems(GenerationRequest.of("x".repeat(10_001)), SD15).get(0).field());
    }

    @Test
    void guidanceAboveOneOnly() {
        assertTrue(GenerationRequest.of("x").usesGuidance());
        assertTrue(!GenerationRequest.of("x").withGuidanceScale(1).usesGuidance());
        assertTrue(!GenerationRequest.of("x").withGuidanceScale(0).usesGuidance());
    }
}
