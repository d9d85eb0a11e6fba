package dev.panamadiffusion.pipeline;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class InfotextTest {
    @Test
    void matchesAutomatic1111Layout() {
        GenerationRequest r = GenerationRequest.of("a photograph of an astronaut riding a horse")
                .withNegativePrompt("blurry").withSeed(42).withSize(512, 512);
        assertEquals("a photograph of an astronaut riding a horse\nNegative prompt: blurry\n"
                        + "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: sd15, RNG: CPU",
                Infotext.format(r, "Euler a", 42, 512, 512, "sd15", 0));
    }

    @Test
    void noNegativeLineWhenEmptyAndIntegralCfgKeepsItsFraction() {
        GenerationRequest r = GenerationRequest.of("cat").withGuidanceScale(7).withSteps(30);
        assertEquals("cat\nSteps: 30, Sampler: DDIM, CFG scale: 7.0, Seed: 1, Size: 768x512, Model: m, RNG: CPU",
                Infotext.format(r, "DDIM", 1, 768, 512, "m", 0));
    }

    @Test
    void clipSkipIsWrittenInA1111CountingAndBatchPositionForBatches() {
        GenerationRequest r = GenerationRequest.of("cat").withClipSkip(1).withBatchSize(3).withRng(RngKind.JAVA);
        assertEquals("cat\nSteps: 20, Sampler: PNDM, CFG scale: 7.5, Seed: 5, Size: 64x64, Model: m, Clip skip: 2, "
                        + "RNG: Java, Batch size: 3, Batch pos: 2",
                Infotext.format(r, "PNDM", 5, 64, 64, "m", 2));
    }

    @Test
    void valuesWithCommaColonOrNewlineAreJsonQuoted() {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("Model", "my, model");
        p.put("Note", "a: b");
        p.put("Plain", "x");
        p.put("Skipped", null);
        p.put("Flag", "Flag");
        assertEquals("p\nModel: \"my, model\", Note: \"a: b\", Plain: x, Flag", Infotext.format("p", "", p));
        assertEquals("\"line\\nbreak \\\"q\\\"\"", Infotext.quote("line\nbreak \"q\""));
    }

    @Test
    void quotingLooksAtTheWholeTextAndFloatsPrintAsPythonsStr() {
        // A1111's quote(): JSON-quoted as soon as a comma, newline or colon appears anywhere, the first character included
        assertEquals("\",a\"", Infotext.quote(",a"));
        assertEquals("\"\\na\"", Infotext.quote("\na"));
        assertEquals("\":a\"", Infotext.quote(":a"));
        assertEquals("plain text", Infotext.quote("plain text"));
        // Python's str() of a float: integral values keep ".0" and are not written in exponent form below 1e16
        assertEquals("12345678.0", Infotext.value(12345678.0));
        assertEquals("-3.0", Infotext.value(-3.0));
        assertEquals("2.5", Infotext.value(2.5f));
        assertEquals("7", Infotext.value(7));
        // a null prompt is an empty first line; an empty negative prompt writes no line
        assertEquals("Steps: 20", Infotext.format(null, "", Map.of("Steps", 20)));
        assertEquals("Negative prompt: n\nSteps: 20", Infotext.format(null, "n", Map.of("Steps", 20)));
    }
}
