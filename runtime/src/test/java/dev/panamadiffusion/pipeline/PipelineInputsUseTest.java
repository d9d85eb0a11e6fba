package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.rng.TorchCpuGenerator;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;

import static dev.panamadiffusion.pipeline.Gaussian.gaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * How begin uses what PipelineInputs give in place of its own work (diffusers' {@code generator} and, for SDXL's
 * refiner from a base's latents, the size of those latents when the request gives none).
 */
class PipelineInputsUseTest {
    private static CpuBackend backend;

    @BeforeAll
    static void start() { backend = new CpuBackend(1); }

    @AfterAll
    static void stop() { backend.close(); }

    @Test
    void aGivenGeneratorDrawsTheNoiseInPlaceOfTheSeed() {
        try (Arena arena = Arena.ofShared()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(Reference.tiny().resolve("unet"), backend, arena);
            SchedulerConfig ddim = SchedulerConfig.read(Reference.tiny().resolve("scheduler_ddim").resolve("scheduler_config.json"));
            try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, new EagerUNet(unet, backend), null,
                    ddim, "DDIM")) {
                GenerationRequest r = GenerationRequest.of("").withSteps(3).withGuidanceScale(1.0).withSeed(5).withSize(16, 16);
                Denoising d = p.begin(r, new PipelineInputs(gaussian(1, 1, 77, 32), null, null, new TorchCpuGenerator(123)));
                // DDIM's init_noise_sigma is 1: the latents are the generator's first draw of [1, 4, 2, 2] (no VAE: scale 8)
                assertArrayEquals(new TorchCpuGenerator(123).randn(1, 4, 2, 2).toFloatArray(), d.latents().toFloatArray());
                assertEquals(5, d.request().seed(), "the request keeps its seed for the infotext");
            }
        }
    }

    @Test
    void theRefinerTakesItsSizeFromGivenLatents() {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(SdxlPipelineTest.referenceModel("sdxl-refiner"), backend)) {
            int s = p.sizeRule().vaeScaleFactor();
            int h = p.defaultSize() / s, w = h / 2;   // not the default size, and not square
            GenerationRequest r = new GenerationRequest("a cube", "", 10, 5.0, null, 47, 0, 0, 1, 0, RngKind.TORCH,
                    SdxlOptions.NONE.withDenoising(0.6, null));
            Tensor latents = gaussian(2, 1, 4, h, w);
            Denoising d = p.begin(r, PipelineInputs.NONE.withImageLatents(latents));
            assertEquals(w * s, d.request().width());
            assertEquals(h * s, d.request().height());
            assertArrayEquals(new long[] {1, 4, h, w}, d.latents().shape());
        }
    }
}
