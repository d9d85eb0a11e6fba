package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Inpainting with a blurred mask and {@code padding_mask_crop} ({@link MaskOptions}) against diffusers 0.27.2's
 * {@code StableDiffusionInpaintPipeline} given {@code mask_processor.blur(mask, n)} and {@code padding_mask_crop=p}
 * (the repository's {@code reference/inpaint} {@code _blur}/{@code _crop} runs, tools/refgen/gen_inpaint_masks.py),
 * through {@link StableDiffusionPipeline#generate}: the final latents at 1e-4 and the overlaid picture within one
 * level; and the same runs without the options do not match, so the options are what makes them match.
 */
class InpaintMaskReferenceTest {
    private static final Path SET = InpaintSet.DIR;
    private static InpaintSet set;
    private static Rgb8Image image, mask;

    @BeforeAll
    static void load() {
        set = InpaintSet.open();
        image = set.image();
        mask = set.mask();
    }

    @AfterAll
    static void close() {
        if (set != null) set.close();
    }

    /** The run of {@code name} with {@code options}: its final latents and pictures. */
    private static Object[] run(Map<String, Tensor> f, String scheduler, MaskOptions options) {
        double strength = Double.parseDouble(Float.toString(f.get("strength").getFloat(0)));
        GenerationRequest r = new GenerationRequest("", "", (int) f.get("num_inference_steps").getLong(0),
                f.get("guidance_scale").getFloat(0), null, f.get("noise_seed").getLong(0), 0, 0, 1, 0, RngKind.TORCH);
        try (StableDiffusionPipeline p = set.pipeline(scheduler)) {
            Denoising d = p.begin(r, new PipelineInputs(f.get("cond_emb"), f.get("uncond_emb"), null, null,
                    new InitImage(image, strength, mask, options)));
            while (!d.finished()) p.step(List.of(d));
            return new Object[] {d.latents(), p.finish(d).images().get(0)};
        }
    }

    @ParameterizedTest
    @CsvSource({"inpaint_ddim_s0.75_blur2, ddim", "inpaint_ddim_s0.75_crop1, ddim", "inpaint_euler_s1_blur1_crop1, euler"})
    void matchesDiffusersOnlyWithTheOptions(String name, String scheduler) {
        Map<String, Tensor> f = SafeTensors.readAll(SET.resolve(name + ".safetensors"));
        MaskOptions options = new MaskOptions(f.get("mask_blur").getFloat(0), (int) f.get("mask_crop_padding").getLong(0));
        assertNotEquals(MaskOptions.NONE, options);
        Object[] with = run(f, scheduler, options);
        assertTrue(Img2ImgReferenceTest.relError((Tensor) with[0], f.get("final_latents")) <= 1e-4, name + " final latents");
        if (f.containsKey("image_overlay")) assertTrue(maxLevelDiff((Rgb8Image) with[1], f.get("image_overlay")) <= 1, name + " picture");
        Object[] without = run(f, scheduler, MaskOptions.NONE);
        boolean latentsDiffer = Img2ImgReferenceTest.relError((Tensor) without[0], f.get("final_latents")) > 1e-2;
        boolean pictureDiffers = f.containsKey("image_overlay") && maxLevelDiff((Rgb8Image) without[1], f.get("image_overlay")) > 8;
        assertTrue(latentsDiffer || pictureDiffers, name + " matches diffusers even without its mask options");
    }

    /** The largest difference, in 8-bit levels, between {@code picture} and the first of {@code expected} [B, H, W, 3]. */
    private static int maxLevelDiff(Rgb8Image picture, Tensor expected) {
        int worst = 0;
        for (int i = 0; i < picture.rgb().length; i++) {
            worst = Math.max(worst, (int) Math.abs((picture.rgb()[i] & 0xff) - expected.getLong(i)));
        }
        return worst;
    }

    @Test
    void blankMaskWithCropIsRefusedByName() {
        InitImage blank = new InitImage(image, 0.75, new Rgb8Image(16, 16, new byte[16 * 16 * 3]), new MaskOptions(4, 32));
        var problems = blank.problems(8, 16, 16);
        assertEquals(1, problems.size(), problems.toString());
        assertEquals("mask", problems.get(0).field());
        assertThrows(IllegalArgumentException.class, () -> new MaskOptions(-1, -1));
        assertThrows(IllegalArgumentException.class, () -> new MaskOptions(0, -2));
    }
}
