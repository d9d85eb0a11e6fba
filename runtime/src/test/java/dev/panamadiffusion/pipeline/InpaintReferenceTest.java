package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Inpainting with an ordinary 4-channel UNet against diffusers 0.27.2's {@code StableDiffusionInpaintPipeline} (the
 * repository's {@code reference/inpaint}, tools/refgen/gen_inpaint.py): the binarized mask and its latent-size
 * version, every step's blended latents, the final latents and the image, on the CPU backend at 1e-4 relative.
 */
class InpaintReferenceTest {
    private static final double TOLERANCE = 1e-4;
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

    @ParameterizedTest
    @ValueSource(strings = {"inpaint_ddim_s1", "inpaint_ddim_s0.75", "inpaint_euler_s1", "inpaint_euler_s0.75",
            "inpaint_euler_a_s0.75"})
    void matchesDiffusers(String name) {
        Map<String, Tensor> f = SafeTensors.readAll(SET.resolve(name + ".safetensors"));
        String scheduler = name.substring("inpaint_".length(), name.lastIndexOf("_s"));
        double strength = Double.parseDouble(Float.toString(f.get("strength").getFloat(0)));
        InitImage init = new InitImage(image, strength, mask);
        assertEquals(0.0, Img2ImgReferenceTest.relError(init.maskPixels(), f.get("mask")), "mask processor");
        assertEquals(0.0, Img2ImgReferenceTest.relError(init.maskLatents(1, 8, 8), f.get("mask_latents")), "interpolate");
        int steps = (int) f.get("num_inference_steps").getLong(0);
        GenerationRequest r = new GenerationRequest("", "", steps, f.get("guidance_scale").getFloat(0), null,
                f.get("noise_seed").getLong(0), 0, 0, 1, 0, RngKind.TORCH);
        List<String> failures = new ArrayList<>();
        double[] worst = {0};
        try (StableDiffusionPipeline p = set.pipeline(scheduler)) {
            Denoising d = p.begin(r, new PipelineInputs(f.get("cond_emb"), f.get("uncond_emb"), null, null, init));
            assertEquals(f.get("timesteps").numel(), d.totalSteps(), "steps that run");
            d.observe(step -> check(failures, worst, "step " + step.index(), step.latents(), f.get("step" + step.index() + "_latents_out")));
            while (!d.finished()) p.step(List.of(d));
            check(failures, worst, "final latents", d.latents(), f.get("final_latents"));
            check(failures, worst, "image_01", Latents.denormalize(p.decode(d.latents())), f.get("image_01"));
        }
        System.out.printf("%s: worst relative error %.3g%n", name, worst[0]);
        assertTrue(failures.isEmpty(), name + ": " + failures);
    }

    private static void check(List<String> failures, double[] worst, String what, Tensor actual, Tensor expected) {
        double err = Img2ImgReferenceTest.relError(actual, expected);
        worst[0] = Math.max(worst[0], err);
        if (!(err <= TOLERANCE)) failures.add(what + ": " + err);
    }
}
