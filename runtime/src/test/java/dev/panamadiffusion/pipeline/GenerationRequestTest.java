package dev.panamadiffusion.pipeline;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GenerationRequestTest {
    private static final SizeRule SD = new SizeRule(8, 3);

    @Test
    void defaultsAreValid() {
        assertEquals(List.of(), GenerationRequest.of("x").problems(SD));
        assertEquals(64, SD.multiple());
        assertEquals(8, SizeRule.GENERIC.multiple());
        assertEquals(8, new SizeRule(2, 1).multiple()); // tiny model: 4, but never below diffusers' 8
    }

    @Test
    void oneMessagePerBadField() {
        GenerationRequest bad = new GenerationRequest(null, null, 0, -1, null, -2, 500, 0, 17, -1, null);
        List<String> p = bad.problems(SD);
        assertEquals(7, p.size(), p.toString());
        assertTrue(p.get(0).startsWith("prompt"));
        assertTrue(p.get(1).startsWith("steps must be between 1 and 1000, got 0"));
        assertTrue(p.get(2).startsWith("guidance scale"));
        assertTrue(p.get(3).startsWith("seed"));
        assertTrue(p.get(4).startsWith("width 500 is not a multiple of 64 (try 448 or 512)"), p.get(4));
        assertTrue(p.get(4).contains("halves the latent 3 times"), p.get(4));
        assertTrue(p.get(5).startsWith("batch size must be between 1 and 16, got 17"));
        assertTrue(p.get(6).startsWith("clip skip"));
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> bad.validate(SD));
        assertEquals(p, e.problems());
        assertTrue(!e.getMessage().contains("\n"));
    }

    @Test
    void sizeMessages() {
        assertEquals("width 500 is not a multiple of 8 (try 496 or 504)", SizeRule.GENERIC.check("width", 500));
        assertEquals("height 4 is not a multiple of 8 (try 8)", SizeRule.GENERIC.check("height", 4));
        assertEquals("height must be positive, got -8", SD.check("height", -8));
        assertEquals(null, SD.check("width", 768));
        assertTrue(SD.check("width", 520).contains("width / 8 must be divisible by 8"));
        // tiny model (VAE 2x, one UNet halving): 20 breaks only the multiple of 8, so no model explanation
        assertEquals("width 20 is not a multiple of 8 (try 16 or 24)", new SizeRule(2, 1).check("width", 20));
        assertTrue(new SizeRule(2, 3).check("width", 36).contains("halves the latent 3 times"));
        assertTrue(GenerationRequest.of("x").withGuidanceScale(Double.NaN).problems(SD).get(0).startsWith("guidance"));
        assertTrue(GenerationRequest.of("x").withSteps(1001).problems(SD).get(0).startsWith("steps"));
    }

    @Test
    void guidanceAboveOneOnly() {
        assertTrue(GenerationRequest.of("x").usesGuidance());
        assertTrue(!GenerationRequest.of("x").withGuidanceScale(1).usesGuidance());
        assertTrue(!GenerationRequest.of("x").withGuidanceScale(0).usesGuidance());
    }
}
