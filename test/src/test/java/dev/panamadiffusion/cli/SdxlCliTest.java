package dev.panamadiffusion.cli;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.testing.Png;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code pdiff generate} on the tiny SDXL base of {@code reference/sdxl} (tools/refgen/gen_sdxl.py): the CLI's
 * pictures against the loops diffusers' {@code StableDiffusionXLPipeline} made, with the model's own defaults
 * (guidance 5, size from the UNet's sample size).
 */
class SdxlCliTest {
    private static final Path SET = Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl");
    private static final String PROMPT = "a photograph of an astronaut riding a horse";

    @Test
    void eulerWithTheModelsDefaultsMatchesDiffusers(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("sdxl.png");
        CliRun r = CliRun.run("generate", "--model", SET.toString(), "--prompt", PROMPT, "--scheduler", "Euler",
                "--steps", "4", "--seed", "42", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        byte[] png = Files.readAllBytes(out);
        String parameters = Png.textChunks(png).get("parameters");
        assertTrue(parameters.contains("CFG scale: 5.0") && parameters.contains("Size: 16x16"), parameters);
        float[] ref = SafeTensors.readAll(SET.resolve("loop_euler_cfg5.safetensors")).get("image_01").toFloatArray(); // [1, 3, 16, 16]
        int diff = Png.maxPixelDiff(png, ref);
        assertTrue(diff <= 1, "pixels vs diffusers' SDXL Euler loop: " + diff);
    }

    @Test
    void eulerAncestralBatchWithANegativePromptMatchesDiffusers(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("sdxl.png");
        CliRun r = CliRun.run("generate", "--model", SET.toString(), "--prompt", PROMPT, "--negative-prompt", "blurry",
                "--scheduler", "Euler a", "--steps", "3", "--seed", "7", "--batch", "2", "--backend", "cpu",
                "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        float[] ref = SafeTensors.readAll(SET.resolve("loop_euler_a_cfg5_negative.safetensors")).get("image_01")
                .toFloatArray();                                                                // [2, 3, 16, 16]
        int plane = ref.length / 2;
        for (int i = 0; i < 2; i++) {
            byte[] png = Files.readAllBytes(tmp.resolve("sdxl-" + (i + 1) + ".png"));
            int diff = Png.maxPixelDiff(png, Arrays.copyOfRange(ref, i * plane, (i + 1) * plane));
            assertTrue(diff <= 1, "image " + (i + 1) + " vs diffusers' SDXL Euler a loop: " + diff);
        }
    }
}
