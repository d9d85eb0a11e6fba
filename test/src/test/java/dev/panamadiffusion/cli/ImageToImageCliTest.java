package dev.panamadiffusion.cli;

import dev.panamadiffusion.image.PngWriter;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.testing.Png;
import dev.panamadiffusion.testing.TinyModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code pdiff generate --init-image FILE --strength S} against diffusers' {@code StableDiffusionImg2ImgPipeline}
 * (the repository's {@code reference/img2img}, tools/refgen/gen_img2img.py), and its one-line usage errors.
 */
class ImageToImageCliTest {
    private static final String PROMPT = "a photograph of an astronaut riding a horse";
    private static final Path SET = Path.of(System.getProperty("pd.home", "..")).resolve("reference/img2img");

    @Test
    void matchesDiffusersImg2Img(@TempDir Path tmp) throws IOException {
        for (String[] c : new String[][] {{"ddim", "DDIM", "0.75"}, {"euler", "Euler", "0.4"}, {"dpmpp2m", "DPM++ 2M", "0.75"}}) {
            Path model = TinyModel.assemble(tmp.resolve(c[0]), c[0], TinyModel.Tokenizer.FOLDED_CLIP);
            Path out = tmp.resolve(c[0] + ".png");
            CliRun r = CliRun.run("generate", "--model", model.toString(), "--prompt", PROMPT, "--negative-prompt", "blurry",
                    "--init-image", SET.resolve("init.png").toString(), "--strength", c[2], "--scheduler", c[1],
                    "--steps", "10", "--seed", "21", "--backend", "cpu", "--out", out.toString());
            assertEquals(0, r.exit(), r.err());
            byte[] png = Files.readAllBytes(out);
            assertEquals(PROMPT + "\nNegative prompt: blurry\nSteps: 10, Sampler: " + c[1] + ", CFG scale: 7.5, Seed: 21,"
                    + " Size: 16x16, Model: " + c[0] + ", Denoising strength: " + c[2] + ", RNG: CPU",
                    Png.textChunks(png).get("parameters"));
            int diff = maxPixelDiff(png, "img2img_" + c[0] + "_s" + c[2]);
            assertTrue(diff <= 1, c[0] + " s" + c[2] + ": pixels differ from diffusers' by " + diff);
        }
    }

    @Test
    void badStrengthSizeAndFilesAreUsageErrors(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("m"), "ddim", TinyModel.Tokenizer.TINY_BPE);
        String init = SET.resolve("init.png").toString();
        String out = tmp.resolve("x.png").toString();
        assertUsage("--strength must be in (0, 1], got 1.5",
                "--model", model.toString(), "--prompt", "x", "--init-image", init, "--strength", "1.5", "--out", out);
        assertUsage("--strength must be in (0, 1], got 0.0",
                "--model", model.toString(), "--prompt", "x", "--init-image", init, "--strength", "0", "--out", out);
        assertUsage("--strength 0.05 × 10 steps leaves no step to run (int(steps × strength) must be at least 1)",
                "--model", model.toString(), "--prompt", "x", "--init-image", init, "--strength", "0.05", "--steps", "10", "--out", out);
        assertUsage("--strength needs --init-image (it is image to image's)",
                "--model", model.toString(), "--prompt", "x", "--strength", "0.5", "--out", out);
        assertUsage("--init-image is 16x16 but the request is 32x32 (image to image does not resize)",
                "--model", model.toString(), "--prompt", "x", "--init-image", init, "--width", "32", "--height", "32", "--out", out);
        Path missing = tmp.resolve("missing.png");
        assertUsage("--init-image: " + missing + " is not a file",
                "--model", model.toString(), "--prompt", "x", "--init-image", missing.toString(), "--out", out);
        Path text = Files.writeString(tmp.resolve("notes.png"), "not a picture");
        assertUsage("--init-image: " + text + " is not an image this runtime reads (PNG, JPEG, BMP, GIF)",
                "--model", model.toString(), "--prompt", "x", "--init-image", text.toString(), "--out", out);
        Path odd = tmp.resolve("odd.png");
        PngWriter.write(odd, new Rgb8Image(20, 16, new byte[20 * 16 * 3]), Map.of());
        CliRun r = CliRun.run("generate", "--model", model.toString(), "--prompt", "x", "--init-image", odd.toString(),
                "--out", out);
        assertEquals(2, r.exit(), r.err());
        assertEquals(1, r.errLines().size(), r.err());
        assertEquals("error: --init-image " + odd + ": its width 20 is not a multiple of 8 (try 16 or 24)", r.errLines().get(0));
        assertFalse(Files.exists(Path.of(out)), "nothing written");
    }

    /** {@code --mask}: diffusers' inpainting pixels (default strength 1), and its usage errors. */
    @Test
    void maskInpaintsAsDiffusers(@TempDir Path tmp) throws IOException {
        Path inpaint = SET.resolveSibling("inpaint");
        Path model = TinyModel.assemble(tmp.resolve("ddim"), "ddim", TinyModel.Tokenizer.FOLDED_CLIP);
        Path out = tmp.resolve("inpaint.png");
        CliRun r = CliRun.run("generate", "--model", model.toString(), "--prompt", PROMPT, "--negative-prompt", "blurry",
                "--init-image", inpaint.resolve("init.png").toString(), "--mask", inpaint.resolve("mask.png").toString(),
                "--scheduler", "DDIM", "--steps", "8", "--seed", "31", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        Map<String, Tensor> rec = SafeTensors.readAll(inpaint.resolve("inpaint_ddim_s1.safetensors"));
        int diff = maxPixelDiff(Files.readAllBytes(out), rec);
        assertTrue(diff <= 1, "pixels differ from diffusers' inpainting by " + diff);
        String init = inpaint.resolve("init.png").toString();
        assertUsage("--mask needs --init-image (the picture to inpaint)", "--model", model.toString(), "--prompt", "x",
                "--mask", inpaint.resolve("mask.png").toString(), "--out", out.toString());
        Path small = tmp.resolve("small.png");
        PngWriter.write(small, new Rgb8Image(8, 8, new byte[8 * 8 * 3]), Map.of());
        assertUsage("--mask is 8x8 but the image is 16x16", "--model", model.toString(), "--prompt", "x",
                "--init-image", init, "--mask", small.toString(), "--out", out.toString());
    }

    /**
     * A model whose UNet has 9 input channels (reference/inpaint9's): {@code --init-image --mask} gives diffusers'
     * 9-channel inpainting pixels; without a mask it is a one-line usage error naming {@code --mask}.
     */
    @Test
    void inpaintingUNetNeedsAMask(@TempDir Path tmp) throws IOException {
        Path set = SET.resolveSibling("inpaint9");
        Path model = TinyModel.assemble(tmp.resolve("inpaint9"), "ddim", TinyModel.Tokenizer.FOLDED_CLIP);
        TinyModel.deleteTree(model.resolve("unet"));
        TinyModel.copyDir(set.resolve("unet"), model.resolve("unet"));
        Path out = tmp.resolve("inpaint9.png");
        String init = set.resolve("init.png").toString();
        CliRun r = CliRun.run("generate", "--model", model.toString(), "--prompt", PROMPT, "--negative-prompt", "blurry",
                "--init-image", init, "--mask", set.resolve("mask.png").toString(), "--strength", "0.75",
                "--scheduler", "DDIM", "--steps", "8", "--seed", "31", "--backend", "cpu", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        int diff = maxPixelDiff(Files.readAllBytes(out), SafeTensors.readAll(set.resolve("inpaint_ddim_s0.75.safetensors")));
        assertTrue(diff <= 1, "pixels differ from diffusers' 9-channel inpainting by " + diff);
        String noMask = "--mask this model has an inpainting UNet (9 input channels: latents, mask, masked image); it needs"
                + " an init image and a mask";
        assertUsage(noMask, "--model", model.toString(), "--prompt", "x", "--out", out.toString());
        assertUsage(noMask, "--model", model.toString(), "--prompt", "x", "--init-image", init, "--out", out.toString());
    }

    private static void assertUsage(String message, String... args) {
        String[] all = new String[args.length + 3];
        all[0] = "generate";
        System.arraycopy(args, 0, all, 1, args.length);
        all[args.length + 1] = "--backend";
        all[args.length + 2] = "cpu";
        CliRun r = CliRun.run(all);
        assertEquals(2, r.exit(), r.err());
        assertEquals(List.of("error: " + message), r.errLines());
    }

    /** Largest difference of the PNG's 8-bit pixels from the record's image_01 (as numpy's round × 255). */
    private static int maxPixelDiff(byte[] png, String record) throws IOException {
        return maxPixelDiff(png, SafeTensors.readAll(SET.resolve(record + ".safetensors")));
    }

    private static int maxPixelDiff(byte[] png, Map<String, Tensor> rec) {
        return Png.maxPixelDiff(png, rec.get("image_01").toFloatArray()); // [1, 3, 16, 16]
    }
}
