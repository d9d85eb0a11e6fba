package dev.panamadiffusion.cli;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.testing.Png;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code pdiff generate} and {@code pdiff verify} on the tiny SDXL refiner of {@code reference/sdxl-refiner}
 * (tools/refgen/gen_sdxl_refiner.py): the CLI's pictures against diffusers' {@code StableDiffusionXLImg2ImgPipeline}
 * with the refiner's defaults (strength 0.3, guidance 5, aesthetic scores 6 and 2.5) and with its own options
 * ({@code --aesthetic-score}, {@code --negative-aesthetic-score} and the size conditioning it reads); text to image and
 * the options it does not read refused, and its aesthetic scores refused on every other model, each in one line.
 */
class SdxlRefinerCliTest {
    private static final Path SET = Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl-refiner");
    private static final String PROMPT = "a photograph of an astronaut riding a horse";
    private static final String INIT = SET.resolve("init.png").toString();

    @Test
    void theRefinersDefaultsMatchDiffusers(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("refined.png");
        CliRun r = CliRun.run("generate", "--model", SET.toString(), "--prompt", PROMPT, "--init-image", INIT,
                "--steps", "10", "--seed", "41", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        byte[] png = Files.readAllBytes(out);
        String parameters = Png.textChunks(png).get("parameters");
        assertTrue(parameters.contains("CFG scale: 5.0") && parameters.contains("Size: 32x32")
                && parameters.contains("Denoising strength: 0.3"), parameters);
        float[] ref = SafeTensors.readAll(SET.resolve("img2img_euler_s0.3.safetensors")).get("image_01").toFloatArray();
        int diff = Png.maxPixelDiff(png, ref);
        assertTrue(diff <= 1, "pixels vs diffusers' refiner run: " + diff);
    }

    @Test
    void aestheticScoresAndSizesMatchDiffusers(@TempDir Path tmp) throws IOException {
        // gen_sdxl_refiner.py's img2img_euler_a_s0.5_b2: original_size=(40, 24), crops_coords_top_left=(4, 12),
        // aesthetic_score=7.5, negative_aesthetic_score=1.5, negative_original_size=(8, 56),
        // negative_crops_coords_top_left=(6, 2): (h, w) tuples given as WxH, the crops as TOP,LEFT
        Path out = tmp.resolve("refined.png");
        CliRun r = CliRun.run("generate", "--model", SET.toString(), "--prompt", PROMPT, "--negative-prompt", "blurry",
                "--init-image", INIT, "--strength", "0.5", "--scheduler", "Euler a", "--steps", "6", "--seed", "43",
                "--batch", "2", "--original-size", "24x40", "--crops-coords-top-left", "4,12", "--aesthetic-score", "7.5",
                "--negative-aesthetic-score", "1.5", "--negative-original-size", "56x8",
                "--negative-crops-coords-top-left", "6,2", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        float[] ref = SafeTensors.readAll(SET.resolve("img2img_euler_a_s0.5_b2.safetensors")).get("image_01").toFloatArray();
        Png.assertBatchWithin(tmp, "refined", ref, 2, 1, "diffusers' refiner run with scores and sizes");
    }

    @Test
    void inpaintingWithTheRefinerMatchesDiffusers(@TempDir Path tmp) throws IOException {
        // gen_sdxl_refiner.py's inpaint_euler_s0.75 (StableDiffusionXLInpaintPipeline, 4-channel UNet, blended)
        Path out = tmp.resolve("inpainted.png");
        CliRun r = CliRun.run("generate", "--model", SET.toString(), "--prompt", PROMPT, "--negative-prompt", "blurry",
                "--init-image", INIT, "--mask", SET.resolve("mask.png").toString(), "--strength", "0.75",
                "--steps", "8", "--seed", "45", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        float[] ref = SafeTensors.readAll(SET.resolve("inpaint_euler_s0.75.safetensors")).get("image_01").toFloatArray();
        int diff = Png.maxPixelDiff(Files.readAllBytes(out), ref);
        assertTrue(diff <= 1, "pixels vs diffusers' refiner inpainting: " + diff);
    }

    @Test
    void baseThenRefinerAsAnEnsembleOfExpertDenoisersMatchesDiffusers(@TempDir Path tmp) throws IOException {
        // gen_sdxl_refiner.py: reference/sdxl's base stops at denoising_end 0.6 of 10 Euler steps (seed 46, 32 x 32) and
        // hands its latents to the refiner, which goes on from denoising_start 0.6 (seed 47)
        Path latents = tmp.resolve("base.safetensors");
        CliRun base = CliRun.run("generate", "--model", SET.resolveSibling("sdxl").toString(), "--prompt", PROMPT,
                "--negative-prompt", "blurry", "--steps", "10", "--seed", "46", "--width", "32", "--height", "32",
                "--denoising-end", "0.6", "--latents-out", latents.toString(), "--backend", "cpu",
                "--out", tmp.resolve("base.png").toString());
        assertEquals(0, base.exit(), base.err());
        Map<String, Tensor> ref = SafeTensors.readAll(SET.resolve("img2img_euler_s0.3_start0.6.safetensors"));
        float[] handed = SafeTensors.readAll(latents).get("latents").toFloatArray();
        float[] want = ref.get("given_image_latents").toFloatArray();
        float worst = 0;
        for (int i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(handed[i] - want[i]));
        assertTrue(worst < 1e-3, "the base's latents vs diffusers' denoising_end output: " + worst);
        Path out = tmp.resolve("refined.png");
        CliRun r = CliRun.run("generate", "--model", SET.toString(), "--prompt", PROMPT, "--negative-prompt", "blurry",
                "--steps", "10", "--seed", "47", "--init-latents", latents.toString(), "--denoising-start", "0.6",
                "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        int diff = Png.maxPixelDiff(Files.readAllBytes(out), ref.get("image_01").toFloatArray());
        assertTrue(diff <= 1, "pixels vs diffusers' refiner from the base's latents: " + diff);
        String png = tmp.resolve("x.png").toString();
        assertEquals("error: --init-latents needs --denoising-start (the share of the schedule they have been through)",
                usageError("--model", SET.toString(), "-p", "x", "--init-latents", latents.toString(), "--out", png));
        assertEquals("error: --denoising-start must be a share of the schedule strictly between 0 and 1, got 1.5",
                usageError("--model", SET.toString(), "-p", "x", "--init-image", INIT, "--denoising-start", "1.5", "--out", png));
        assertTrue(usageError("--model", SET.resolveSibling("sdxl").toString(), "-p", "x", "--denoising-start", "0.5",
                "--out", png).startsWith("error: --denoising-start needs --init-latents or --init-image"));
    }

    @Test
    void textToImageOnARefinerIsRefusedInOneLine(@TempDir Path tmp) {
        String png = tmp.resolve("x.png").toString();
        for (String model : List.of(SET.toString(), SET.resolve("single-file/tiny-sdxl-refiner.safetensors").toString())) {
            assertEquals("error: --init-image is required: this model is an SDXL refiner (requires_aesthetics_score), which"
                    + " only refines a picture (diffusers' StableDiffusionXLImg2ImgPipeline; it has no text-to-image"
                    + " pipeline); give it an image to refine, e.g. an SDXL base model's output",
                    usageError("--model", model, "-p", "x", "--out", png));
        }
    }

    @Test
    void aestheticScoresAreRefusedOnOtherModelsAndUnreadOptionsOnTheRefiner(@TempDir Path tmp) {
        String png = tmp.resolve("x.png").toString();
        Path base = SET.resolveSibling("sdxl");
        assertEquals("error: --aesthetic-score is the SDXL refiner's (requires_aesthetics_score: an aesthetic score in its"
                + " time ids), but this model is SDXL base",
                usageError("--model", base.toString(), "-p", "x", "--aesthetic-score", "7", "--out", png));
        assertEquals("error: --negative-aesthetic-score is the SDXL refiner's (requires_aesthetics_score: an aesthetic"
                + " score in its time ids), but this model is not SDXL",
                usageError("-p", "x", "--negative-aesthetic-score", "1", "--out", png));   // the demo model: SD 1.x
        assertEquals("error: --target-size is not read by an SDXL refiner: its time ids hold the aesthetic score where"
                + " SDXL base's hold the target size",
                usageError("--model", SET.toString(), "-p", "x", "--init-image", INIT, "--target-size", "64x64", "--out", png));
        assertTrue(usageError("--model", SET.toString(), "-p", "x", "--init-image", INIT, "--prompt-2", "y", "--out", png)
                .startsWith("error: --prompt-2 is not read by an SDXL refiner"));
        assertEquals("error: --aesthetic-score must be a number from -100 to 100, got 1000.0",
                usageError("--model", SET.toString(), "-p", "x", "--init-image", INIT, "--aesthetic-score", "1000", "--out", png));
    }

    @Test
    void verifyReplaysTheRefinerSetAndItsSingleFile() {
        CliRun r = CliRun.run("verify", SET.toString(), "--backend", "cpu");
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.getLast().matches("\\d+ passed, 0 failed"), r.out() + r.err());
        assertEquals(0, r.exit(), r.out());
        for (String expected : List.of("text_encoder_2 hidden_state_penultimate", "unet t=[10,500]",
                "img2img_euler_a_s0.5_b2 add_embeds", "img2img_euler_a_s0.5_b2 step 2", "img2img_euler_s0.3 image_01",
                "inpaint_euler_s0.75 image_01", "single-file/unet t=[10,500]", "single-file/img2img_euler_s0.6 image_01")) {
            assertTrue(lines.stream().anyMatch(l -> l.startsWith(expected) && l.contains(" PASS")), expected + " in\n" + r.out());
        }
    }

    /** Runs {@code generate} with {@code args} on the CPU and expects exit code 2 and exactly one line. */
    private static String usageError(String... args) {
        return CliRun.generateUsageError(args);
    }
}
