package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.image.ImageFiles;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Inpainting with a 9-channel inpainting UNet against diffusers 0.27.2's {@code StableDiffusionInpaintPipeline} (the
 * repository's {@code reference/inpaint9}, tools/refgen/gen_inpaint9.py): every step's 9-channel UNet input (scaled
 * latents, mask, masked-image latents), both halves of the UNet output, the guided prediction and the latents, then the
 * final latents and the image, on the CPU backend at 1e-4 relative.
 */
class Inpaint9ReferenceTest {
    private static final double TOLERANCE = 1e-4;
    static final Path SET = Path.of(System.getProperty("pd.home", "..")).resolve("reference/inpaint9");
    private static Arena arena;
    private static Backend backend;
    private static UNet2DConditionModel unet;
    private static AutoencoderKL vae;

    @BeforeAll
    static void load() {
        assertTrue(Files.isDirectory(SET), "missing " + SET + " (-Dpd.home)");
        arena = Arena.ofShared();
        backend = new CpuBackend(2);
        unet = UNet2DConditionModel.load(SET.resolve("unet"), backend, arena);
        vae = AutoencoderKL.load(Path.of(System.getProperty("pd.reference"), "tiny", "vae"), backend, arena);
    }

    @AfterAll
    static void close() {
        if (backend != null) backend.close();
        if (arena != null) arena.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"inpaint_ddim_s1", "inpaint_ddim_s0.75", "inpaint_euler_s1", "inpaint_dpmpp2m_s0.6",
            "inpaint_euler_a_s0.75_b2"})
    void matchesDiffusers(String name) throws IOException {
        double[] worst = {0};
        List<String> failures = replay(backend, unet, vae, name, TOLERANCE, worst);
        System.out.printf("%s: worst relative error %.3g%n", name, worst[0]);
        assertTrue(failures.isEmpty(), name + ": " + failures);
    }

    @Test
    void refusesTheInpaintingUNetWithoutAMask() throws IOException {
        Map<String, Tensor> f = SafeTensors.readAll(SET.resolve("inpaint_ddim_s1.safetensors"));
        SchedulerConfig config = SchedulerConfig.read(SET.resolve("scheduler_ddim/scheduler_config.json"));
        Rgb8Image image = ImageFiles.readRgb(SET.resolve("init.png"));
        GenerationRequest r = new GenerationRequest("", "", 4, 7.5, null, 1, 16, 16, 1, 0, RngKind.TORCH);
        try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, UNetRunner.create(unet, backend),
                vae, config, "ddim")) {
            for (InitImage init : new InitImage[] {null, new InitImage(image, 0.5)}) {
                InvalidRequestException e = assertThrows(InvalidRequestException.class,
                        () -> p.begin(r, new PipelineInputs(f.get("cond_emb"), f.get("uncond_emb"), null, null, init)));
                assertEquals("mask", e.problems().get(0).field());
                assertTrue(e.getMessage().contains("9 input channels"), e.getMessage());
            }
        }
    }

    /** Replays {@code name} of the set on {@code backend}; the failures beyond {@code tolerance} (relative), none when it matches. */
    static List<String> replay(Backend backend, UNet2DConditionModel unet, AutoencoderKL vae, String name, double tolerance,
                               double[] worst) throws IOException {
        Map<String, Tensor> f = SafeTensors.readAll(SET.resolve(name + ".safetensors"));
        String scheduler = name.substring("inpaint_".length(), name.indexOf("_s", "inpaint_".length() + 2));
        SchedulerConfig config = SchedulerConfig.read(SET.resolve("scheduler_" + scheduler).resolve("scheduler_config.json"));
        double strength = Double.parseDouble(Float.toString(f.get("strength").getFloat(0)));
        InitImage init = new InitImage(ImageFiles.readRgb(SET.resolve("init.png")), strength,
                ImageFiles.readRgb(SET.resolve("mask.png")));
        int steps = (int) f.get("num_inference_steps").getLong(0);
        int batch = Math.toIntExact(f.get("final_latents").dim(0));
        GenerationRequest r = new GenerationRequest("", "", steps, f.get("guidance_scale").getFloat(0), null,
                f.get("noise_seed").getLong(0), 0, 0, batch, 0, RngKind.TORCH);
        List<String> failures = new ArrayList<>();
        check(failures, worst, tolerance, "mask", init.maskPixels(), f.get("mask"));
        try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, UNetRunner.create(unet, backend),
                vae, config, scheduler)) {
            Denoising d = p.begin(r, new PipelineInputs(f.get("cond_emb"), f.get("uncond_emb"), null, null, init));
            assertEquals(f.get("timesteps").numel(), d.totalSteps(), "steps that run");
            d.observe(step -> {
                String k = "step" + step.index() + "_";
                check(failures, worst, tolerance, k + "model_input", step.modelInput(), f.get(k + "model_input"));
                check(failures, worst, tolerance, k + "noise_uncond", step.noisePred().slice(0, 0, batch), f.get(k + "noise_uncond"));
                check(failures, worst, tolerance, k + "noise_text", step.noisePred().slice(0, batch, 2L * batch), f.get(k + "noise_text"));
                check(failures, worst, tolerance, k + "guided", step.guided(), f.get(k + "guided"));
                check(failures, worst, tolerance, k + "latents_out", step.latents(), f.get(k + "latents_out"));
            });
            while (!d.finished()) p.step(List.of(d));
            check(failures, worst, tolerance, "final latents", d.latents(), f.get("final_latents"));
            check(failures, worst, tolerance, "image_01", Latents.denormalize(p.decode(d.latents())), f.get("image_01"));
        }
        return failures;
    }

    private static void check(List<String> failures, double[] worst, double tolerance, String what, Tensor actual, Tensor expected) {
        double err = Img2ImgReferenceTest.relError(actual.contiguous(), expected);
        worst[0] = Math.max(worst[0], err);
        if (!(err <= tolerance)) failures.add(what + ": " + err);
    }
}
