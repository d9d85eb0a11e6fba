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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code pdiff generate} on the tiny SDXL base of {@code reference/sdxl} (tools/refgen/gen_sdxl.py): the CLI's
 * pictures against the loops diffusers' {@code StableDiffusionXLPipeline} made, with the model's own defaults
 * (guidance 5, size from the UNet's sample size), and with SDXL's own options ({@code --prompt-2},
 * {@code --negative-prompt-2}, the size conditioning), which other models refuse.
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
        Png.assertBatchWithin(tmp, "sdxl", ref, 2, 1, "diffusers' SDXL Euler a loop");
    }

    @Test
    void prompt2AndSizeConditioningMatchDiffusers(@TempDir Path tmp) throws IOException {
        // gen_sdxl.py's loop_euler_cfg5_prompt2_sizes: original_size=(40, 24), crops_coords_top_left=(4, 12),
        // target_size=(12, 20), negative_original_size=(8, 56), negative_crops_coords_top_left=(6, 2),
        // negative_target_size=(28, 8): (h, w) tuples given as WxH, the crop as TOP,LEFT
        Path out = tmp.resolve("sdxl.png");
        CliRun r = CliRun.run("generate", "--model", SET.toString(), "--prompt", PROMPT, "--negative-prompt", "blurry",
                "--prompt-2", "a red cube on a wooden table", "--negative-prompt-2", "low quality",
                "--original-size", "24x40", "--crops-coords-top-left", "4,12", "--target-size", "20x12",
                "--negative-original-size", "56x8", "--negative-crops-coords-top-left", "6,2", "--negative-target-size", "8x28",
                "--steps", "3", "--seed", "11", "--batch", "2", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        float[] ref = SafeTensors.readAll(SET.resolve("loop_euler_cfg5_prompt2_sizes.safetensors")).get("image_01")
                .toFloatArray();                                                                // [2, 3, 16, 16]
        float[] plain = SafeTensors.readAll(SET.resolve("loop_euler_a_cfg5_negative.safetensors")).get("image_01")
                .toFloatArray();
        Png.assertBatchWithin(tmp, "sdxl", ref, 2, 1, "diffusers' loop with prompt_2 and sizes");
        assertFalse(Arrays.equals(ref, plain), "the options must change the picture for this test to mean anything");
    }

    @Test
    void aCropOnAWideImageMatchesDiffusersAndAnUnusedNegativePrompt2IsWarnedAbout(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("sdxl.png");
        CliRun r = CliRun.run("generate", "--model", SET.toString(), "--prompt", PROMPT,
                "--prompt-2", "a red cube on a wooden table", "--negative-prompt-2", "low quality",
                "--crops-coords-top-left", "8,4", "--width", "24", "--height", "16",
                "--steps", "3", "--seed", "3", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("warning: negative_prompt_2 is unused"), r.err());
        byte[] png = Files.readAllBytes(out);
        float[] ref = SafeTensors.readAll(SET.resolve("loop_euler_cfg5_prompt2_crop.safetensors")).get("image_01")
                .toFloatArray();                                                                // [1, 3, 16, 24]
        int diff = Png.maxPixelDiff(png, ref);
        assertTrue(diff <= 1, "pixels vs diffusers' loop with prompt_2 and a crop: " + diff);
    }

    @Test
    void sdxlOptionsAreCheckedInOneLine(@TempDir Path tmp) {
        String png = tmp.resolve("x.png").toString();
        assertEquals("error: --negative-original-size needs the negative target size too: diffusers uses the negative"
                + " sizes only together (else the unconditional rows take the conditional time ids)",
                usageError("--model", SET.toString(), "-p", "x", "--negative-original-size", "64x64", "--out", png));
        assertEquals("error: --original-size sides must be between 1 and 16384, got 0x64",
                usageError("--model", SET.toString(), "-p", "x", "--original-size", "0x64", "--out", png));
        assertTrue(usageError("--model", SET.toString(), "-p", "x", "--crops-coords-top-left", "4x4", "--out", png)
                .contains("expected TOP,LEFT"));
    }

    @Test
    void sdxlOptionsAreRefusedOnAnSd1Model(@TempDir Path tmp) {
        // no --model: the demo model, SD 1.x's layout (one text encoder, no text_time)
        String png = tmp.resolve("x.png").toString();
        assertEquals("error: --prompt-2 is SDXL's, but this model is not SDXL (SD 1.x/2.x: one text encoder, no size"
                + " conditioning)", usageError("-p", "x", "--prompt-2", "y", "--out", png));
        for (String[] option : new String[][] {{"--negative-prompt-2", "y"}, {"--original-size", "64x64"},
                {"--crops-coords-top-left", "0,0"}, {"--target-size", "64x64"}, {"--negative-original-size", "64x64"},
                {"--negative-crops-coords-top-left", "0,0"}, {"--negative-target-size", "64x64"}}) {
            assertTrue(usageError("-p", "x", option[0], option[1], "--out", png).startsWith("error: " + option[0]
                    + " is SDXL's, but this model is not SDXL"), option[0]);
        }
        assertFalse(Files.exists(Path.of(png)));
    }

    /** Runs {@code generate} with {@code args} on the CPU and expects exit code 2 and exactly one line. */
    private static String usageError(String... args) {
        return CliRun.generateUsageError(args);      // one line: no sampling progress before the check
    }

}
