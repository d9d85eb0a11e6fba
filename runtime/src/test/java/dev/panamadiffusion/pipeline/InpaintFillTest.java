package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.MaskFill;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * AUTOMATIC1111's masked content ({@link InpaintFill}) through {@link StableDiffusionPipeline#begin}: "fill" encodes
 * the picture pre-filled by {@link MaskFill} with the (blurred) mask; "latent noise" and "latent nothing" start the
 * masked latents from the run's own noise or from 0, and leave the rest as "fill" does; at strength 1 every mode
 * starts alike. The start latents are read before the first step.
 */
class InpaintFillTest {
    private static InpaintSet set;
    private static Rgb8Image image, mask;
    private static Tensor cond, uncond;

    @BeforeAll
    static void load() {
        set = InpaintSet.open();
        image = set.image();
        mask = set.mask();
        var f = dev.panamadiffusion.io.SafeTensors.readAll(set.dir().resolve("inpaint_ddim_s0.75_blur2.safetensors"));
        cond = f.get("cond_emb");
        uncond = f.get("uncond_emb");
    }

    @AfterAll
    static void close() {
        if (set != null) set.close();
    }

    /** The start latents [1, 4, h, w] of an Euler inpainting of the set's picture at {@code strength}, seed 5. */
    private static float[] start(Rgb8Image picture, double strength, MaskOptions options) {
        GenerationRequest r = new GenerationRequest("", "", 8, 7.5, null, 5, 0, 0, 1, 0, RngKind.TORCH);
        try (StableDiffusionPipeline p = set.pipeline("euler")) {
            Denoising d = p.begin(r, new PipelineInputs(cond, uncond, null, null, new InitImage(picture, strength, mask, options)));
            return d.latents().toFloatArray();
        }
    }

    /** The binarized mask at latent size, [4 · h · w] (one plane per channel), as the runs use it. */
    private static float[] latentMask(int channels, int plane) {
        int side = (int) Math.round(Math.sqrt(plane));
        float[] m = new InitImage(image, 0.75, mask).maskLatents(1, side, side).toFloatArray();
        float[] out = new float[channels * plane];
        for (int c = 0; c < channels; c++) System.arraycopy(m, 0, out, c * plane, plane);
        return out;
    }

    @Test
    void fillEncodesThePictureFilledByMaskFill() {
        MaskOptions blur = new MaskOptions(2, -1, InpaintFill.FILL);
        float[] filled = start(image, 0.75, blur);
        Rgb8Image byHand = MaskFill.fill(image, blur.blurred(mask));
        assertArrayEquals(start(byHand, 0.75, new MaskOptions(2, -1)), filled, "fill = original on the pre-filled picture");
        assertFalse(Arrays.equals(start(image, 0.75, new MaskOptions(2, -1)), filled), "fill changes nothing");
    }

    @Test
    void latentNoiseAndNothingReplaceOnlyTheMaskedLatents() {
        float[] fill = start(image, 0.75, new MaskOptions(0, -1, InpaintFill.FILL));
        float[] nothing = start(image, 0.75, new MaskOptions(0, -1, InpaintFill.LATENT_NOTHING));
        float[] noise = start(image, 0.75, new MaskOptions(0, -1, InpaintFill.LATENT_NOISE));
        float[] m = latentMask(4, fill.length / 4);
        int inside = 0;
        double ratio = Double.NaN;
        for (int i = 0; i < fill.length; i++) {
            if (m[i] == 0) {
                assertEquals(fill[i], nothing[i], "latent nothing outside the mask, element " + i);
                assertEquals(fill[i], noise[i], "latent noise outside the mask, element " + i);
                continue;
            }
            inside++;
            assertNotEquals(fill[i], nothing[i], "latent nothing inside the mask keeps the picture, element " + i);
            // Euler: nothing = σ·n, noise = n + σ·n (the same n): noise / nothing is (1 + σ) / σ everywhere
            double r = noise[i] / (double) nothing[i];
            if (Double.isNaN(ratio)) ratio = r;
            assertEquals(ratio, r, 1e-4 * Math.abs(ratio), "latent noise is the run's own noise, element " + i);
        }
        assertTrue(inside > 0 && inside < fill.length, "the mask covers part of the latents: " + inside);
        assertTrue(ratio > 1, "noise / nothing = (1 + σ) / σ > 1, got " + ratio);
    }

    @Test
    void everyModeStartsFromNoiseAtStrengthOne() {
        float[] original = start(image, 1.0, MaskOptions.NONE);
        for (InpaintFill f : List.of(InpaintFill.FILL, InpaintFill.LATENT_NOISE, InpaintFill.LATENT_NOTHING)) {
            assertArrayEquals(original, start(image, 1.0, new MaskOptions(0, -1, f)), f.label);
        }
    }

    @Test
    void namesAndNumbersAreAutomatic1111s() {
        assertEquals(InpaintFill.FILL, InpaintFill.ofA1111(0));
        assertEquals(InpaintFill.ORIGINAL, InpaintFill.ofA1111(1));
        assertEquals(InpaintFill.LATENT_NOISE, InpaintFill.ofA1111(2));
        assertEquals(InpaintFill.LATENT_NOTHING, InpaintFill.ofA1111(3));
        assertThrows(IllegalArgumentException.class, () -> InpaintFill.ofA1111(4));
        assertThrows(IllegalArgumentException.class, () -> InpaintFill.ofA1111(-1));
        assertEquals(InpaintFill.LATENT_NOISE, InpaintFill.parse("latent-noise"));
        assertEquals(InpaintFill.LATENT_NOTHING, InpaintFill.parse("Latent_Nothing"));
        assertEquals("latent-nothing", InpaintFill.LATENT_NOTHING.cliName());
        assertThrows(IllegalArgumentException.class, () -> InpaintFill.parse("blur"));
    }
}
