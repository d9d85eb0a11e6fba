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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code generate --init-image --mask} with {@code --mask-blur} and {@code --mask-crop-padding}: diffusers' pictures
 * for a mask blurred by {@code mask_processor.blur} and for {@code padding_mask_crop} (reference/inpaint's
 * {@code _blur}/{@code _crop} runs), and the options' usage errors.
 */
class InpaintMaskCliTest {
    private static final Path SET = Path.of(System.getProperty("pd.home", "..")).resolve("reference/inpaint");
    private static final String PROMPT = "a photograph of an astronaut riding a horse";

    private static CliRun generate(Path model, Path out, String scheduler, String strength, String seed, String... extra) {
        List<String> args = new ArrayList<>(List.of("generate", "--model", model.toString(), "--prompt", PROMPT,
                "--negative-prompt", "blurry", "--init-image", SET.resolve("init.png").toString(),
                "--mask", SET.resolve("mask.png").toString(), "--scheduler", scheduler, "--steps", "8", "--seed", seed,
                "--strength", strength, "--backend", "cpu", "--out", out.toString()));
        args.addAll(List.of(extra));
        return CliRun.run(args.toArray(String[]::new));
    }

    /** {@code --mask-blur 2}: diffusers' picture for the blurred mask (binarized for the run); without it, another. */
    @Test
    void maskBlurPaintsDiffusersPicture(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("ddim"), "ddim", TinyModel.Tokenizer.FOLDED_CLIP);
        Map<String, Tensor> rec = SafeTensors.readAll(SET.resolve("inpaint_ddim_s0.75_blur2.safetensors"));
        Path out = tmp.resolve("blur.png");
        CliRun r = generate(model, out, "DDIM", "0.75", "31", "--mask-blur", "2");
        assertEquals(0, r.exit(), r.err());
        int diff = Png.maxPixelDiff(Files.readAllBytes(out), rec.get("image_01").toFloatArray());
        assertTrue(diff <= 1, "pixels differ from diffusers' blurred-mask inpainting by " + diff);
        Path plain = tmp.resolve("plain.png");
        assertEquals(0, generate(model, plain, "DDIM", "0.75", "31").exit());
        assertTrue(Png.maxPixelDiff(Files.readAllBytes(plain), rec.get("image_01").toFloatArray()) > 4, "the blur changes nothing");
    }

    /** {@code --mask-blur 1 --mask-crop-padding 1}: diffusers' padding_mask_crop picture, after apply_overlay. */
    @Test
    void maskCropPaddingPaintsDiffusersOverlay(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("euler"), "euler", TinyModel.Tokenizer.FOLDED_CLIP);
        Map<String, Tensor> rec = SafeTensors.readAll(SET.resolve("inpaint_euler_s1_blur1_crop1.safetensors"));
        Path out = tmp.resolve("crop.png");
        CliRun r = generate(model, out, "Euler", "1", "31", "--mask-blur", "1", "--mask-crop-padding", "1");
        assertEquals(0, r.exit(), r.err());
        assertTrue(overlayDiff(Files.readAllBytes(out), rec) <= 1, "pixels differ from diffusers' overlay");
        Path whole = tmp.resolve("whole.png");
        assertEquals(0, generate(model, whole, "Euler", "1", "31", "--mask-blur", "1").exit());
        assertTrue(overlayDiff(Files.readAllBytes(whole), rec) > 8, "the crop changes nothing");
    }

    /** The largest difference of the PNG's pixels from the record's {@code image_overlay} [1, H, W, 3]. */
    private static int overlayDiff(byte[] png, Map<String, Tensor> rec) {
        byte[] rgb = Png.rgb(png);
        Tensor want = rec.get("image_overlay");
        int worst = 0;
        for (int i = 0; i < rgb.length; i++) worst = Math.max(worst, (int) Math.abs((rgb[i] & 0xff) - want.getLong(i)));
        return worst;
    }

    @Test
    void optionsNeedAMaskAndARange(@TempDir Path tmp) throws IOException {
        Path model = TinyModel.assemble(tmp.resolve("ddim"), "ddim", TinyModel.Tokenizer.FOLDED_CLIP);
        String out = tmp.resolve("x.png").toString(), init = SET.resolve("init.png").toString();
        String mask = SET.resolve("mask.png").toString();
        assertUsage("--mask-blur needs --mask (it prepares the mask)", "--model", model.toString(), "--prompt", "x",
                "--init-image", init, "--mask-blur", "4", "--out", out);
        assertUsage("--mask-crop-padding needs --mask (it prepares the mask)", "--model", model.toString(), "--prompt", "x",
                "--mask-crop-padding", "32", "--out", out);
        assertUsage("--mask-blur must be in [0, 256], got -1.0", "--model", model.toString(), "--prompt", "x",
                "--init-image", init, "--mask", mask, "--mask-blur", "-1", "--out", out);
        assertUsage("--mask-crop-padding must be in [0, 16384], got -2", "--model", model.toString(), "--prompt", "x",
                "--init-image", init, "--mask", mask, "--mask-crop-padding", "-2", "--out", out);
        assertUsage("--masked-content needs --mask (it prepares the mask)", "--model", model.toString(), "--prompt", "x",
                "--init-image", init, "--masked-content", "fill", "--out", out);
        assertUsage("--masked-content: unknown masked content 'blur' (use original, fill, latent-noise or latent-nothing)",
                "--model", model.toString(), "--prompt", "x", "--init-image", init, "--mask", mask, "--masked-content", "blur",
                "--out", out);
        Path black = tmp.resolve("black.png");
        PngWriter.write(black, new Rgb8Image(16, 16, new byte[16 * 16 * 3]), Map.of());
        assertUsage("--mask marks nothing (every pixel black), so there is no region to inpaint at full resolution (mask crop"
                + " padding / inpaint_full_res)", "--model", model.toString(), "--prompt", "x", "--init-image", init,
                "--mask", black.toString(), "--mask-crop-padding", "8", "--out", out);
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
}
