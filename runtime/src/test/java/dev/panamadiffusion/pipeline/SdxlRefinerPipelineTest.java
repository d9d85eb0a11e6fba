package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.image.ImageFiles;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.verify.CheckResult;
import dev.panamadiffusion.verify.Tolerances;
import dev.panamadiffusion.verify.Verifier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The SDXL refiner against reference/sdxl-refiner (tools/refgen/gen_sdxl_refiner.py, diffusers'
 * {@code StableDiffusionXLImg2ImgPipeline} with {@code requires_aesthetics_score}): every check of
 * {@code pdiff verify reference/sdxl-refiner} on the CPU (the folder and its single-file twin), and the whole pipeline
 * from prompt strings (text_encoder_2 alone, the 5 time ids with aesthetic scores, an encoded empty negative prompt) to
 * diffusers' pixels; text to image refused.
 */
class SdxlRefinerPipelineTest {
    private static final String PROMPT = "a photograph of an astronaut riding a horse";
    private static CpuBackend backend;

    @BeforeAll
    static void start() { backend = new CpuBackend(2); }

    @AfterAll
    static void stop() { backend.close(); }

    static Path set() { return SdxlPipelineTest.referenceModel("sdxl-refiner"); }

    static Path file() { return set().resolve("single-file/tiny-sdxl-refiner.safetensors"); }

    @Test
    void verifyPassesEveryCheckOnTheCpu() {
        List<CheckResult> results = new Verifier(backend, Tolerances.f32()).runAll(set());
        for (CheckResult r : results) assertTrue(r.passed(), r.name() + ": " + r.detail());
        assertTrue(results.size() >= 55, results.size() + " checks");
        for (String name : List.of("text_encoder_2 hidden_state_penultimate", "unet t=[10,500]", "vae decode",
                "img2img_euler_a_s0.5_b2 add_embeds (pooled, negative_add_time_ids, add_time_ids)",
                "img2img_euler_a_s0.5_b2 image_01", "img2img_euler_s0.3 image_01", "img2img_euler_s0.5 image_01",
                "inpaint_euler_s0.75 add_embeds (pooled, negative_add_time_ids, add_time_ids)", "inpaint_euler_s0.75 image_01",
                "single-file/unet t=[10,500]", "single-file/text_encoder_2 text_embeds", "single-file/img2img_euler_s0.6 image_01")) {
            assertTrue(results.stream().anyMatch(r -> r.name().equals(name)), name);
        }
    }

    @Test
    void defaultsAreTheRefinersOnes() {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(set(), backend)) {
            assertTrue(p.refiner());
            assertTrue(p.modelLimits().sdxl() && p.modelLimits().refiner());
            assertEquals(5.0, p.defaultGuidance());          // StableDiffusionXLImg2ImgPipeline's guidance_scale
            assertEquals(32, p.defaultSize());                // unet sample_size 16 × VAE scale 2
            assertEquals("Euler", p.defaultSampler());
            assertEquals(2, p.modelLimits().textLayers());    // text_encoder_2's 3 layers: hidden_states[-(k + 2)]
            assertNull(p.folder().index().components().get("text_encoder"));
        }
        RequestLimits.Model m = StableDiffusionPipeline.modelLimits(ModelFolder.open(set()));
        assertTrue(m.refiner() && m.sdxl());
        assertEquals(2, m.textLayers());
    }

    @Test
    void defaultScoresAndNoNegativePromptGiveDiffusersImage() throws IOException {
        // the pipeline's defaults: strength 0.3 of 10 steps, aesthetic 6 / 2.5, "" encoded as the negative prompt
        replay(set(), "img2img_euler_s0.3", new GenerationRequest(PROMPT, "", 10, 5.0, null, 41, 0, 0, 1, 0, RngKind.TORCH), 0.3);
    }

    @Test
    void scoresSizesNegativeSizesAndABatchGiveDiffusersImages() throws IOException {
        // gen_sdxl_refiner.py's img2img_euler_a_s0.5_b2: diffusers' (h, w) and (top, left) tuples as Size(w, h), Crop(top, left)
        SdxlOptions o = SdxlOptions.NONE.withSizes(new SdxlOptions.Size(24, 40), new SdxlOptions.Crop(4, 12), null)
                .withNegativeSizes(new SdxlOptions.Size(56, 8), new SdxlOptions.Crop(6, 2), null).withAestheticScores(7.5, 1.5);
        replay(set(), "img2img_euler_a_s0.5_b2", new GenerationRequest(PROMPT, "blurry", 6, 5.0, "Euler a", 43, 0, 0, 2, 0,
                RngKind.TORCH, o), 0.5);
    }

    @Test
    void withoutGuidanceTheRefinerRunsThePromptAlone() throws IOException {
        replay(set(), "img2img_euler_s0.5", new GenerationRequest(PROMPT, "", 4, 1.0, null, 44, 0, 0, 1, 0, RngKind.TORCH), 0.5);
    }

    @Test
    void denoisingEndAndStartSplitTheScheduleAsDiffusers() {
        // the refiner from the base's denoising_end latents (gen_sdxl_refiner.py's img2img_euler_s0.3_start0.6)
        Map<String, Tensor> ref = SafeTensors.readAll(set().resolve("img2img_euler_s0.3_start0.6.safetensors"));
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(set(), backend)) {
            GenerationRequest r = new GenerationRequest(PROMPT, "blurry", 10, 5.0, null, 47, 0, 0, 1, 0, RngKind.TORCH,
                    SdxlOptions.NONE.withDenoising(0.6, null));
            Denoising d = p.begin(r, PipelineInputs.NONE.withImageLatents(ref.get("given_image_latents")));
            assertEquals(6, d.beginIndex());                  // timesteps 901 … 1: those below round(1000 − 600) = 400
            assertEquals(4, d.totalSteps());
            while (!d.finished()) p.step(List.of(d));
            Reference.Error err = Reference.assertClose("refiner from latents image_01", ref.get("image_01"),
                    Latents.denormalize(p.decode(d.latents())), 1e-4);
            assertTrue(err.maxAbs() < 1e-4, err.toString());
            // denoising_end on the refiner too: 0.8 stops before the timesteps fall below 200
            Denoising e = p.begin(r.withSdxl(SdxlOptions.NONE.withDenoising(0.6, 0.8)),
                    PipelineInputs.NONE.withImageLatents(ref.get("given_image_latents")));
            assertEquals(6, e.beginIndex());
            assertEquals(2, e.totalSteps());                  // 301, 201
            InvalidRequestException x = assertThrows(InvalidRequestException.class, () -> p.begin(r.withSdxl(SdxlOptions.NONE)
                    .withSeed(1), PipelineInputs.NONE.withImageLatents(ref.get("given_image_latents"))));
            assertEquals("denoisingStart", x.problems().get(0).field());
            InvalidRequestException y = assertThrows(InvalidRequestException.class,
                    () -> p.begin(r.withSdxl(SdxlOptions.NONE.withDenoising(0.8, 0.6)), PipelineInputs.NONE));
            assertEquals("denoisingStart", y.problems().get(0).field());
            assertTrue(y.getMessage().contains("must be below denoisingEnd"), y.getMessage());
        }
    }

    @Test
    void theSingleFileIsTheFolder() throws IOException {
        ModelFolder f = ModelFolder.open(file());
        assertEquals("StableDiffusionXLImg2ImgPipeline", f.index().className());
        assertTrue(f.index().flag("requires_aesthetics_score", false));
        assertFalse(f.index().flag("force_zeros_for_empty_prompt", true));
        assertEquals(List.of("unet", "vae", "text_encoder_2", "tokenizer_2", "scheduler"), List.copyOf(f.index().components().keySet()));
        assertFalse(f.has("text_encoder") || f.has("tokenizer"));
        assertEquals("SDXL refiner", f.checkpoint().family());
        assertEquals(8, f.config("unet").get("addition_time_embed_dim").asInt());   // (72 − 32) / 5
        // embeddings given (the file holds no tokenizer the tiny vocabulary fits): the loop of the folder's set
        Map<String, Tensor> ref = SafeTensors.readAll(set().resolve("img2img_euler_s0.6.safetensors"));
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(file(), backend)) {
            assertTrue(p.refiner());
            PipelineInputs in = new PipelineInputs(ref.get("cond_emb"), ref.get("uncond_emb"), null, null,
                    new InitImage(ImageFiles.readRgb(set().resolve("init.png")), 0.6))
                    .withPooled(ref.get("cond_pooled"), ref.get("uncond_pooled"));
            Denoising d = p.begin(new GenerationRequest("", "", 5, 5.0, null, 42, 0, 0, 1, 0, RngKind.TORCH), in);
            while (!d.finished()) p.step(List.of(d));
            Reference.Error err = Reference.assertClose("refiner file image_01", ref.get("image_01"),
                    Latents.denormalize(p.decode(d.latents())), 1e-4);
            assertTrue(err.maxAbs() < 1e-4, err.toString());
        }
    }

    @Test
    void textToImageAndFieldsTheRefinerDoesNotReadAreRefused() {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(set(), backend)) {
            InvalidRequestException e = assertThrows(InvalidRequestException.class,
                    () -> p.begin(GenerationRequest.of(PROMPT).withSeed(1).withSteps(2)));
            assertEquals("initImage", e.problems().get(0).field());
            assertTrue(e.getMessage().contains("SDXL refiner") && e.getMessage().contains("no text-to-image pipeline"), e.getMessage());
            InvalidRequestException f = assertThrows(InvalidRequestException.class, () -> p.begin(GenerationRequest.of(PROMPT)
                    .withSeed(1).withSteps(2).withSdxl(SdxlOptions.NONE.withPrompt2("x").withSizes(null, null, new SdxlOptions.Size(8, 8))),
                    PipelineInputs.of(new InitImage(ImageFiles.readRgb(set().resolve("init.png")), 0.5))));
            assertEquals(List.of("prompt2", "targetSize"), f.problems().stream().map(InvalidRequestException.Problem::field).toList());
        }
    }

    private static void replay(Path model, String run, GenerationRequest request, double strength) throws IOException {
        Map<String, Tensor> ref = SafeTensors.readAll(set().resolve(run + ".safetensors"));
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(model, backend)) {
            Denoising d = p.begin(request, PipelineInputs.of(new InitImage(ImageFiles.readRgb(set().resolve("init.png")), strength)));
            while (!d.finished()) p.step(List.of(d));
            Tensor image = Latents.denormalize(p.decode(d.latents()));                  // [B, 3, 32, 32]
            Reference.Error err = Reference.assertClose("refiner " + run + " image_01", ref.get("image_01"), image, 1e-4);
            assertTrue(err.maxAbs() < 1e-4, err.toString());
            Reference.assertClose("refiner " + run + " final latents", ref.get("final_latents"), d.latents(), 1e-4);
        }
    }
}
