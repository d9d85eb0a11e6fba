package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Set;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link OpenAiImagesApi#decode}'s field set without a model: OpenAI's own fields, this server's extensions and SDXL's
 * are accepted; any other field is refused by name, as OpenAI's API refuses an unrecognised request argument (a typo
 * must not be silently ignored).
 */
class OpenAiImagesDecodeTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void unknownFieldsAreA400NamingThem() throws Exception {
        for (String field : new String[] {"colour", "negative-prompt", "cfg_scale", "strength"}) {
            HttpError e = assertThrows(HttpError.class, () -> OpenAiImagesApi.decode(
                    JSON.readTree("{\"prompt\": \"x\", \"" + field + "\": 1}"), 7.5), field);
            assertEquals(400, e.status);
            assertEquals(field, e.field);
            assertEquals(field + " is not a known field", e.getMessage());
        }
    }

    @Test
    void openAisFieldsTheExtensionsAndSdxlsAreKnown() throws Exception {
        var r = OpenAiImagesApi.decode(JSON.readTree("""
                {"prompt": "x", "n": 2, "size": "16x8", "response_format": "b64_json", "model": "dall-e-2", "quality": "hd",
                 "style": "vivid", "user": "u", "negative_prompt": "n", "steps": 3, "guidance_scale": 5, "seed": 4,
                 "sampler": "Euler", "prompt_2": "y"}"""), 7.5);
        assertEquals(2, r.batchSize());
        assertEquals(16, r.width());
        assertEquals(8, r.height());
        assertEquals("y", r.sdxl().prompt2());
    }

    @Test
    void fieldSetsAddSdxlsFields() {
        Set<String> s = OpenAiImagesApi.fields("prompt", "n");
        assertTrue(s.containsAll(Set.of("prompt", "n", "prompt_2", "original_size", "negative_aesthetic_score")), s.toString());
        assertEquals(2 + SdxlFields.FIELDS.size(), s.size());
    }
}
