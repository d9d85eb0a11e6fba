package dev.panamadiffusion.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static dev.panamadiffusion.pipeline.Gaussian.gaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * begin's less common paths: SDXL from given latents lays its time ids out as diffusers' image-to-image pipelines do,
 * the refiner from an init image with denoising_start ignores the strength, and a step count the scheduler cannot take
 * names the sampler as A1111 spells it.
 */
class PipelineBeginPathsTest {
    private static CpuBackend backend;

    @org.junit.jupiter.api.io.TempDir
    java.nio.file.Path tmp;

    @BeforeAll
    static void start() { backend = new CpuBackend(1); }

    @AfterAll
    static void stop() { backend.close(); }

    private static float[] row(Tensor t, int r) {
        return t.slice(0, r, r + 1).contiguous().toFloatArray();
    }

    @Test
    void sdxlFromGivenLatentsUsesTheImageToImageTimeIdLayout() {
        // StableDiffusionXLImg2ImgPipeline: cat([add_neg_time_ids.repeat(B), add_time_ids.repeat(B)]), i.e. B negative rows
        // then B positive ones, as its embeddings; text to image alternates the time-id rows instead
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(SdxlPipelineTest.set(), backend)) {
            int s = p.sizeRule().vaeScaleFactor(), side = p.defaultSize();
            SdxlOptions o = SdxlOptions.NONE.withDenoising(0.5, null)
                    .withNegativeSizes(new SdxlOptions.Size(side / 2, side / 2), null, new SdxlOptions.Size(side, side));
            GenerationRequest r = new GenerationRequest("a cube", "blurry", 4, 5.0, null, 3, side, side, 2, 0, RngKind.TORCH, o);
            Denoising d = p.begin(r, PipelineInputs.NONE.withImageLatents(gaussian(1, 1, 4, side / s, side / s)));
            Tensor add = d.addEmbeds();
            assertEquals(4, add.dim(0));
            assertArrayEquals(row(add, 0), row(add, 1), "two negative rows first");
            assertArrayEquals(row(add, 2), row(add, 3), "then two positive ones");
            assertFalse(Arrays.equals(row(add, 0), row(add, 2)));
        }
    }

    @Test
    void theRefinerFromAnImageWithDenoisingStartIgnoresTheStrength() {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(SdxlPipelineTest.referenceModel("sdxl-refiner"), backend)) {
            int side = p.defaultSize();
            byte[] rgb = new byte[side * side * 3];
            new Random(4).nextBytes(rgb);
            InitImage init = new InitImage(new Rgb8Image(side, side, rgb), 0.3);
            GenerationRequest r = new GenerationRequest("a cube", "", 10, 1.0, null, 47, 0, 0, 1, 0, RngKind.TORCH,
                    SdxlOptions.NONE.withDenoising(0.6, null));
            Denoising d = p.begin(r, PipelineInputs.of(init));
            assertEquals(6, d.beginIndex(), "denoising_start 0.6 of 10 Euler steps, not strength 0.3's t_start 7");
            while (!d.finished()) p.step(List.of(d));
            String infotext = p.finish(d).infotexts().get(0);
            assertFalse(infotext.contains("Denoising strength"), infotext);
        }
    }

    @Test
    void theRefinersUNetWithoutAVaeStartsFromGivenImageLatents() {
        // fromComponents without a VAE (nothing to decode): the refiner's half of an ensemble needs none, since the
        // base's latents come as they are, unscaled, and the denoising starts at denoising_start
        java.nio.file.Path set = SdxlPipelineTest.referenceModel("sdxl-refiner");
        try (Arena arena = Arena.ofShared()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(set.resolve("unet"), backend, arena);
            SchedulerConfig euler = SchedulerConfig.read(set.resolve("scheduler").resolve("scheduler_config.json"));
            try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, new EagerUNet(unet, backend), null,
                    euler, "Euler", true)) {
                GenerationRequest r = new GenerationRequest("", "", 10, 1.0, null, 47, 32, 32, 1, 0, RngKind.TORCH,
                        SdxlOptions.NONE.withDenoising(0.6, null));
                Tensor latents = gaussian(3, 1, 4, 4, 4);                                            // no VAE: scale 8
                PipelineInputs in = new PipelineInputs(gaussian(1, 1, 77, 64), null, null, null, null, gaussian(2, 1, 32),
                        null, latents);
                Denoising d = p.begin(r, in);
                assertEquals(6, d.beginIndex());
                assertArrayEquals(latents.toFloatArray(), d.latents().toFloatArray(), "the given latents, as given");
                while (!d.finished()) p.step(List.of(d));
                float[] out = d.latents().toFloatArray();
                assertFalse(Arrays.equals(latents.toFloatArray(), out));
                for (float v : out) assertTrue(Float.isFinite(v));
            }
        }
    }

    @Test
    void aStepCountTheSchedulerCannotTakeNamesTheSampler() throws Exception {
        // a schedule of 10 training timesteps cannot be split into 20 steps
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(Files.readString(
                Reference.tiny().resolve("scheduler_ddim").resolve("scheduler_config.json")));
        config.put("num_train_timesteps", 10);
        SchedulerConfig ten = SchedulerConfig.parse(config.toString());
        try (Arena arena = Arena.ofShared()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(Reference.tiny().resolve("unet"), backend, arena);
            try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, new EagerUNet(unet, backend), null,
                    ten, "DDIM")) {
                GenerationRequest r = GenerationRequest.of("").withSteps(20).withGuidanceScale(1.0).withSeed(5).withSize(16, 16);
                PipelineInputs in = new PipelineInputs(gaussian(1, 1, 77, 32), null, null, null);
                InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> p.begin(r, in));
                assertEquals("steps", e.problems().get(0).field());
                assertTrue(e.problems().get(0).message().startsWith("20 do not suit the sampler DDIM: "), e.getMessage());
                e = assertThrows(InvalidRequestException.class, () -> p.begin(r.withSampler(" euler A "), in));
                assertTrue(e.problems().get(0).message().startsWith("20 do not suit the sampler Euler a: "), e.getMessage());
            }
        }
    }

    @Test
    void denoisingStartWithoutTrainTimestepsInTheConfigUsesDiffusersDefault() throws Exception {
        // num_train_timesteps absent: diffusers' default 1000, so denoising_start 0.6 cuts at timestep 400 as before
        java.nio.file.Path m = tmp.resolve("refiner");
        dev.panamadiffusion.verify.ReferenceModelFolder.copyDir(SdxlPipelineTest.referenceModel("sdxl-refiner"), m);
        java.nio.file.Path config = m.resolve("scheduler/scheduler_config.json");
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = (ObjectNode) json.readTree(config.toFile());
        root.remove("num_train_timesteps");
        json.writeValue(config.toFile(), root);
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(m, backend)) {
            int s = p.sizeRule().vaeScaleFactor(), side = p.defaultSize();
            GenerationRequest r = new GenerationRequest("a cube", "", 10, 1.0, null, 47, 0, 0, 1, 0, RngKind.TORCH,
                    SdxlOptions.NONE.withDenoising(0.6, null));
            Denoising d = p.begin(r, PipelineInputs.NONE.withImageLatents(gaussian(1, 1, 4, side / s, side / s)));
            assertEquals(6, d.beginIndex());
        }
    }

    @Test
    void anSdxlLoraReachesBothTextEncoders() {
        java.nio.file.Path file = java.nio.file.Path.of(System.getProperty("pd.home", "..")).resolve("reference/lora/loras/sdxl_kohya.safetensors");
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(SdxlPipelineTest.set(), backend)) {
            GenerationRequest r = new GenerationRequest("a cube", "", 2, 1.0, null, 3, 0, 0, 1, 0, RngKind.TORCH);
            Tensor before = p.begin(r).addEmbeds();
            List<dev.panamadiffusion.lora.LoraSpec> lora = List.of(new dev.panamadiffusion.lora.LoraSpec(file, 1.0));
            p.setLoras(lora);
            assertEquals(lora, p.loras());
            // the pooled embedding (text_encoder_2's projection) in the added conditioning moves with the LoRA
            assertFalse(Arrays.equals(before.toFloatArray(), p.begin(r).addEmbeds().toFloatArray()));
        }
    }
}
