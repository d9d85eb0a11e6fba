package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.pipeline.InvalidRequestException.Problem;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every limit {@link RequestLimits} documents, at its edges: the last accepted value and the first refused one, each
 * refusal one {@link Problem} naming the field; and the value types' own checks ({@link SizeRule}, {@link UNetShape},
 * {@link GenerationRequest}, {@link InvalidRequestException}).
 */
class RequestLimitsTest {
    static final RequestLimits L = RequestLimits.SERVER; // 150 steps, 8 images, 16 iterations, sides to 2048, 16x, 10000 chars
    /** SD 1.5: 512 x 512, multiples of 64, 12 text encoder layers. */
    static final RequestLimits.Model SD15 = new RequestLimits.Model(new SizeRule(8, 3), 512, 512, 12);
    static final GenerationRequest OK = GenerationRequest.of("a cat").withSeed(42);

    static List<String> fields(GenerationRequest r) { return fields(r, 1); }

    static List<String> fields(GenerationRequest r, int iterations) {
        return L.problems(r, iterations, SD15).stream().map(Problem::field).toList();
    }

    @Test
    void limitsThemselvesArePositive() {
        new RequestLimits(1, 1, 1, 8, 1, 1);
        assertThrows(IllegalArgumentException.class, () -> new RequestLimits(0, 1, 1, 8, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new RequestLimits(1, 0, 1, 8, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new RequestLimits(1, 1, 0, 8, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new RequestLimits(1, 1, 1, 7, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new RequestLimits(1, 1, 1, 8, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new RequestLimits(1, 1, 1, 8, 1, 0));
        assertEquals(7, L.withMaxSteps(7).maxSteps());
        assertEquals(3, L.withMaxBatch(3).maxBatch());
        assertEquals(64, L.withMaxSide(64).maxSide());
        assertEquals(L.maxBatch(), L.withMaxSteps(7).maxBatch());
        new RequestLimits.Model(SizeRule.GENERIC, 1, 1, 0);
        assertThrows(IllegalArgumentException.class, () -> new RequestLimits.Model(null, 1, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new RequestLimits.Model(SizeRule.GENERIC, 0, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new RequestLimits.Model(SizeRule.GENERIC, 1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new RequestLimits.Model(SizeRule.GENERIC, 1, 1, -1));
    }

    @Test
    void aValidRequestHasNoProblems() {
        assertEquals(List.of(), fields(OK));
        assertSame(OK, L.check(OK, SD15));
        assertSame(OK, L.check(OK, 16, SD15));
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> L.check(OK.withSteps(0), SD15));
        assertEquals(List.of("steps"), e.problems().stream().map(Problem::field).toList());
        e = assertThrows(InvalidRequestException.class, () -> L.check(OK, 17, SD15));
        assertEquals("n_iter must be between 1 and 16, got 17", e.getMessage());
    }

    @Test
    void promptsStepsGuidanceAndSampler() {
        assertEquals(List.of("prompt"), fields(new GenerationRequest(null, "", 20, 7, null, 1, 0, 0, 1, 0, null)));
        assertEquals(List.of(), fields(OK.withSteps(1)));
        assertEquals(List.of(), fields(OK.withSteps(150)));
        assertEquals(List.of("steps"), fields(OK.withSteps(151)));
        assertEquals(List.of("steps"), fields(OK.withSteps(0)));
        assertEquals(List.of(), fields(OK.withGuidanceScale(0)));
        assertEquals(List.of(), fields(OK.withGuidanceScale(100)));
        for (double g : new double[] {-0.001, 100.001, Double.NaN, Double.POSITIVE_INFINITY}) {
            assertEquals(List.of("guidanceScale"), fields(OK.withGuidanceScale(g)), "guidance " + g);
        }
        assertEquals(List.of(), fields(OK.withSampler("euler a")));
        assertEquals(List.of("sampler"), fields(OK.withSampler("Heun")));
        String max = "x".repeat(10_000);
        assertEquals(List.of(), fields(GenerationRequest.of(max).withNegativePrompt(max).withSeed(1)));
        assertEquals(List.of("prompt", "negativePrompt"), fields(GenerationRequest.of(max + "x").withNegativePrompt(max + "y").withSeed(1)));
        assertEquals("is 10001 characters long; at most 10000 are accepted",
                L.problems(GenerationRequest.of(max + "x").withSeed(1), SD15).getFirst().message());
    }

    @Test
    void sidesAndPixels() {
        assertEquals(List.of(), fields(OK.withSize(0, 0)), "0 is the model's own size");
        assertEquals(List.of(), fields(OK.withSize(64, 2048)));
        assertEquals(List.of("width"), fields(OK.withSize(-64, 512)));
        assertEquals(List.of("height"), fields(OK.withSize(512, 2112)), "past maxSide");
        assertEquals("must be at most 2048, got 2112", L.problems(OK.withSize(512, 2112), SD15).getFirst().message());
        assertEquals(List.of("width", "height"), fields(OK.withSize(500, 520)));
        // 16 x 512 x 512 pixels at most: 2048 x 2048 is exactly that, and for a smaller model the factor binds
        assertEquals(List.of(), fields(OK.withSize(2048, 2048)));
        RequestLimits.Model small = new RequestLimits.Model(new SizeRule(8, 3), 64, 64, 2);
        assertEquals(List.of(), L.problems(OK.withSize(256, 256), small));
        List<Problem> p = L.problems(OK.withSize(256, 320), small);
        assertEquals(List.of("size"), p.stream().map(Problem::field).toList());
        assertEquals("256x320 is 81920 pixels; this model allows at most 65536 (16 times its own 64x64)", p.getFirst().message());
        // a width of 0 stands for the model's own when counting pixels
        assertEquals(List.of(), L.problems(OK.withSize(0, 1024), small));
        assertEquals(List.of("size"), L.problems(OK.withSize(0, 1088), small).stream().map(Problem::field).toList());
        assertEquals(List.of("size"), L.problems(OK.withSize(1088, 0), small).stream().map(Problem::field).toList());
        RequestLimits narrow = L.withMaxSide(256);
        p = narrow.problems(OK.withSize(256, 256), SD15);
        assertEquals(List.of(), p);
        assertEquals(65536, narrow.maxPixels(SD15));
        assertEquals(16L * 512 * 512, L.maxPixels(SD15));
    }

    @Test
    void batchIterationsSeedsAndClipSkip() {
        assertEquals(List.of(), fields(OK.withBatchSize(8)));
        assertEquals(List.of("batchSize"), fields(OK.withBatchSize(9)));
        assertEquals(List.of("batchSize"), fields(OK.withBatchSize(0)));
        assertEquals(List.of(), fields(OK, 16));
        assertEquals(List.of("iterations"), fields(OK, 0));
        // seeds are unsigned: the last iteration's seed seed + (n - 1) * batch may be MAX_SEED, not past it
        long max = RequestLimits.MAX_SEED;
        assertEquals(List.of(), fields(OK.withSeed(max)));
        assertEquals(List.of(), fields(OK.withSeed(max - 15 * 8).withBatchSize(8), 16));
        assertEquals(List.of("seed"), fields(OK.withSeed(max - 15 * 8 + 1).withBatchSize(8), 16));
        assertEquals(List.of(), fields(OK.withSeed(RequestLimits.RANDOM_SEED).withBatchSize(8), 16), "-1 is drawn later");
        assertEquals(List.of("batchSize"), fields(OK.withSeed(max).withBatchSize(9), 2), "no seed problem on a bad batch");
        assertEquals(List.of(), fields(OK.withClipSkip(12)));
        assertEquals(List.of("clipSkip"), fields(OK.withClipSkip(13)));
        assertEquals(List.of("clipSkip"), fields(OK.withClipSkip(-1)));
    }

    @Test
    void seedsAsText() {
        assertEquals("-1", RequestLimits.seedText(-1));
        assertEquals("18446744073709551614", RequestLimits.seedText(RequestLimits.MAX_SEED));
        assertEquals(-1, RequestLimits.parseSeed(" -1 "));
        assertEquals(RequestLimits.MAX_SEED, RequestLimits.parseSeed("18446744073709551614"));
        assertEquals(0, RequestLimits.parseSeed("0"));
        for (String bad : new String[] {"18446744073709551615", "-2", "+5", "", "1.5", null}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RequestLimits.parseSeed(bad), bad);
            assertTrue(e.getMessage().endsWith("got '" + bad + "'"), e.getMessage());
        }
    }

    @Test
    void sizeRuleMultiplesAndMessages() {
        assertEquals(8, SizeRule.GENERIC.multiple());
        assertEquals(64, new SizeRule(8, 3).multiple());
        assertEquals(8, new SizeRule(1, 0).multiple(), "always a multiple of 8, as diffusers requires");
        assertEquals(24, new SizeRule(3, 0).multiple());
        assertEquals("must be positive, got 0", new SizeRule(8, 3).check(0));
        assertNull(new SizeRule(8, 3).check(64));
        assertEquals("32 is not a multiple of 64 (try 64): the VAE turns 8x8 pixels into one latent and the UNet halves the"
                + " latent 3 times and upsamples by exactly 2x, so a side / 8 must be divisible by 8", new SizeRule(8, 3).check(32));
        assertTrue(new SizeRule(8, 1).check(8).contains("halves the latent 1 time and"), new SizeRule(8, 1).check(8));
        assertEquals("12 is not a multiple of 8 (try 8 or 16)", SizeRule.GENERIC.check(12));
        new SizeRule(1, 16);
        assertThrows(IllegalArgumentException.class, () -> new SizeRule(0, 0));
        assertThrows(IllegalArgumentException.class, () -> new SizeRule(8, -1));
        assertThrows(IllegalArgumentException.class, () -> new SizeRule(8, 17));
    }

    @Test
    void requestsProblemsAndIterations() {
        GenerationRequest r = new GenerationRequest("p", null, 20, 7.5, "  ", 5, 0, 0, 2, 0, null);
        assertEquals("", r.negativePrompt());
        assertNull(r.sampler(), "a blank sampler is the model's own");
        assertEquals(RngKind.TORCH, r.rng());
        assertEquals("DDIM", new GenerationRequest("p", "n", 20, 7.5, "DDIM", 5, 0, 0, 2, 0, RngKind.JAVA).sampler());
        assertEquals(5, r.iteration(0).seed());
        assertEquals(9, r.iteration(2).seed(), "seed + i * batch size");
        assertThrows(IllegalArgumentException.class, () -> r.iteration(-1));
        assertThrows(IllegalStateException.class, () -> r.withSeed(-1).iteration(0));
        assertFalse(r.withGuidanceScale(1).usesGuidance(), "CFG runs only above 1");
        assertTrue(r.withGuidanceScale(1.01).usesGuidance());

        InvalidRequestException e = new InvalidRequestException(List.of(new Problem("batchSize", "must be between 1 and 8, got 9"),
                new Problem("width", "must be positive, got -8")));
        assertEquals("batch size must be between 1 and 8, got 9; width must be positive, got -8", e.getMessage());
        assertEquals("batch_size must be between 1 and 8, got 9; width must be positive, got -8",
                e.describe(Map.of("batchSize", "batch_size")));
        assertThrows(IllegalArgumentException.class, () -> new InvalidRequestException(List.of()));
        assertThrows(IllegalArgumentException.class, () -> new Problem(null, "m"));
        assertThrows(IllegalArgumentException.class, () -> new Problem("f", null));
        assertEquals("f m", new Problem("f", "m").describe(f -> null));
    }
}
