package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.verify.CheckResult;
import dev.panamadiffusion.verify.Tolerances;
import dev.panamadiffusion.verify.Verifier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SDXL base against reference/sdxl (tools/refgen/gen_sdxl.py, diffusers' StableDiffusionXLPipeline): every check of
 * {@code pdiff verify reference/sdxl} on the CPU, and the whole pipeline from prompt strings (both tokenizers and text
 * encoders, the pooled embedding, the time ids, zeros for an empty negative prompt) to diffusers' pixels.
 */
class SdxlPipelineTest {
    private static final String PROMPT = "a photograph of an astronaut riding a horse";
    private static CpuBackend backend;

    @BeforeAll
    static void start() { backend = new CpuBackend(2); }

    @AfterAll
    static void stop() { backend.close(); }

    static Path set() { return referenceModel("sdxl"); }

    /** The repository's {@code reference/<name>} model folder (a model_index.json), or a failure saying where it is missing. */
    static Path referenceModel(String name) {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference").resolve(name);
        assertTrue(Files.isRegularFile(p.resolve("model_index.json")), "reference/" + name + " missing at " + p.toAbsolutePath());
        return p;
    }

    @Test
    void verifyPassesEveryCheckOnTheCpu() {
        List<CheckResult> results = new Verifier(backend, Tolerances.f32()).runAll(set());
        for (CheckResult r : results) assertTrue(r.passed(), r.name() + ": " + r.detail());
        // tokenizer, both text encoders (penultimate, pooled, text_embeds), UNet with added cond, VAE, two loops
        assertTrue(results.size() >= 35, results.size() + " checks");
        assertTrue(results.stream().anyMatch(r -> r.name().equals("text_encoder_2 text_embeds")));
        assertTrue(results.stream().anyMatch(r -> r.name().startsWith("loop_euler_cfg5 add_embeds")));
        // the loops with prompt_2 and size conditioning: their time ids read from the files, every step compared
        assertTrue(results.size() >= 55, results.size() + " checks");
        assertTrue(results.stream().anyMatch(r -> r.name().equals(
                "loop_euler_cfg5_prompt2_sizes add_embeds (pooled, negative_add_time_ids, add_time_ids)")));
        for (String loop : List.of("loop_euler_cfg5_prompt2_sizes", "loop_euler_cfg5_prompt2_crop")) {
            assertTrue(results.stream().anyMatch(r -> r.name().equals(loop + " step 2 (t=1)")), loop);
            assertTrue(results.stream().anyMatch(r -> r.name().equals(loop + " image_01")), loop);
        }
    }

    /**
     * reference/sdxl-img2img (tools/refgen/gen_sdxl_img2img.py): this base through diffusers' SDXL image-to-image and
     * inpainting pipelines, whose time-id rows are blocks (B negative, then B positive) with the positive crop in the
     * negative rows and each negative size on its own. Two of its runs have two images and a lone negative size: with
     * the text-to-image rows they miss by 5% (checked when this set was made), so each step is compared.
     */
    @Test
    void imageToImageAndInpaintingFollowDiffusersTimeIdRows() {
        Path set = set().resolveSibling("sdxl-img2img");
        List<CheckResult> results = new Verifier(backend, Tolerances.f32()).runAll(set);
        for (CheckResult r : results) assertTrue(r.passed(), r.name() + ": " + r.detail());
        for (String run : List.of("img2img_euler_s0.6_b2", "img2img_euler_a_s0.5", "inpaint_euler_s0.75_b2")) {
            assertTrue(results.stream().anyMatch(r -> r.name().equals(run + " step 1")), run);
            assertTrue(results.stream().anyMatch(r -> r.name().equals(run + " image_01")), run);
        }
    }

    /** Each text an encoder cuts is named once, by the field that gave it: the *_2 texts only when given. */
    @Test
    void warnsOncePerCutTextNamingItsField() {
        String longText = (PROMPT + " ").repeat(12).strip();
        GenerationRequest base = new GenerationRequest(longText, longText, 2, 5.0, null, 1, 0, 0, 1, 0, RngKind.TORCH);
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(set(), backend)) {
            assertEquals(List.of("prompt", "negative prompt"), cutFields(p.begin(base).warnings));
            assertEquals(List.of("prompt", "prompt_2", "negative prompt", "negative_prompt_2"), cutFields(p.begin(
                    base.withSdxl(SdxlOptions.NONE.withPrompt2(longText).withNegativePrompt2(longText))).warnings));
            assertEquals(List.of("prompt", "negative prompt"), cutFields(p.begin(
                    base.withSdxl(SdxlOptions.NONE.withPrompt2("short").withNegativePrompt2("short"))).warnings));
            assertEquals(List.of("prompt", "prompt_2"), cutFields(p.begin(base.withGuidanceScale(1)
                    .withSdxl(SdxlOptions.NONE.withPrompt2(longText).withNegativePrompt2(longText))).warnings),
                    "unguided: the negative texts are never read");
            assertEquals(List.of(), p.begin(new GenerationRequest(PROMPT, "blurry", 2, 5.0, null, 1, 0, 0, 1, 0, RngKind.TORCH)).warnings);
        }
    }

    private static List<String> cutFields(List<String> warnings) {
        return warnings.stream().map(w -> {
            assertTrue(w.startsWith("the ") && w.contains(" tokens long; the text encoder reads the first 75"), w);
            return w.substring(4, w.indexOf(" is "));
        }).toList();
    }

    @Test
    void defaultsAreDiffusersSdxlOnes() {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(set(), backend)) {
            assertEquals(5.0, p.defaultGuidance());          // StableDiffusionXLPipeline's guidance_scale
            assertEquals(16, p.defaultSize());                // unet sample_size 8 × VAE scale 2
            assertEquals("Euler", p.defaultSampler());
            assertEquals(2, p.modelLimits().textLayers());    // clip skip k reads hidden_states[-(k + 2)] of 3 layers
        }
    }

    @Test
    void promptWithoutNegativeGivesDiffusersImage() {
        replay("loop_euler_cfg5", new GenerationRequest(PROMPT, "", 4, 5.0, null, 42,
                0, 0, 1, 0, RngKind.TORCH));
    }

    @Test
    void negativePromptAndBatchGiveDiffusersImages() {
        replay("loop_euler_a_cfg5_negative", new GenerationRequest(PROMPT, "blurry",
                3, 5.0, "Euler a", 7, 0, 0, 2, 0, RngKind.TORCH));
    }

    @Test
    void prompt2NegativePrompt2AndEverySizeGiveDiffusersImages() {
        // gen_sdxl.py's loop_euler_cfg5_prompt2_sizes: diffusers' (h, w) and (top, left) tuples as Size(w, h), Crop(top, left)
        SdxlOptions o = new SdxlOptions("a red cube on a wooden table", "low quality", new SdxlOptions.Size(24, 40),
                new SdxlOptions.Crop(4, 12), new SdxlOptions.Size(20, 12), new SdxlOptions.Size(56, 8),
                new SdxlOptions.Crop(6, 2), new SdxlOptions.Size(8, 28));
        replay("loop_euler_cfg5_prompt2_sizes", new GenerationRequest(PROMPT, "blurry", 3, 5.0, null, 11, 0, 0, 2, 0,
                RngKind.TORCH, o));
    }

    @Test
    void prompt2AndACropOnAWideImageGiveDiffusersImage() {
        // no negative prompt: zeros, negative_prompt_2 unused (a warning says so); original = target = (16, 24)
        SdxlOptions o = SdxlOptions.NONE.withPrompt2("a red cube on a wooden table").withNegativePrompt2("low quality")
                .withSizes(null, new SdxlOptions.Crop(8, 4), null);
        List<String> warnings = replay("loop_euler_cfg5_prompt2_crop",
                new GenerationRequest(PROMPT, "", 3, 5.0, null, 3, 24, 16, 1, 0, RngKind.TORCH, o));
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains("negative_prompt_2 is unused"), warnings.get(0));
    }

    @Test
    void prompt2GoesToTheSecondEncoderAndThePooledEmbedding() {
        String other = "a red cube on a wooden table";
        int d1 = 32;                              // text_encoder's hidden_size; text_encoder_2's is 32 too, pooled 32
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(set(), backend)) {
            GenerationRequest base = new GenerationRequest(PROMPT, "blurry", 1, 5.0, null, 1, 0, 0, 1, 0, RngKind.TORCH);
            Denoising a = p.begin(base);
            Denoising b = p.begin(new GenerationRequest(other, "low quality", 1, 5.0, null, 1, 0, 0, 1, 0, RngKind.TORCH));
            Denoising ab = p.begin(base.withSdxl(SdxlOptions.NONE.withPrompt2(other).withNegativePrompt2("low quality")));
            // rows [negative, prompt]; columns [text_encoder | text_encoder_2]; pooled: text_encoder_2's
            for (int row = 0; row < 2; row++) {
                assertColumns(a.hostContext, ab.hostContext, row, 0, d1, "text_encoder reads the first prompts");
                assertColumns(b.hostContext, ab.hostContext, row, d1, 2 * d1, "text_encoder_2 reads the *_2 prompts");
                assertColumns(b.addEmbeds, ab.addEmbeds, row, 0, 32, "the pooled embedding is prompt_2's");
                assertColumns(a.addEmbeds, ab.addEmbeds, row, 32, ab.addEmbeds.dim(1), "time ids' embedding unchanged");
            }
            float[] x = a.hostContext.toFloatArray();
            float[] y = b.hostContext.toFloatArray();
            assertTrue(!java.util.Arrays.equals(x, y), "the two prompts must encode differently for this test to mean anything");
        }
    }

    /** Columns [from, to) of row {@code row} of two host [rows, ..., D] tensors agree within 1e-6. */
    private static void assertColumns(Tensor expected, Tensor actual, int row, long from, long to, String what) {
        long d = expected.dim(expected.rank() - 1);
        long perRow = expected.numel() / expected.dim(0);
        float[] e = expected.toFloatArray();
        float[] v = actual.toFloatArray();
        for (long i = 0; i < perRow; i++) {
            long col = i % d;
            if (col < from || col >= to) continue;
            int k = Math.toIntExact(row * perRow + i);
            assertEquals(e[k], v[k], 1e-6, what + ": row " + row + " element " + i);
        }
    }

    @Test
    void sdxlUNetRefusesToRunWithoutAddedConditioning() {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(set(), backend)) {
            Map<String, Tensor> loop = SafeTensors.readAll(set().resolve("loop_euler_cfg5.safetensors"));
            PipelineInputs noPooled = new PipelineInputs(loop.get("cond_emb"), loop.get("uncond_emb"), null, null);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> p.begin(GenerationRequest.of("x").withSeed(1).withSteps(2), noPooled));
            assertTrue(e.getMessage().contains("pooled"), e.getMessage());
        }
    }

    private List<String> replay(String loop, GenerationRequest request) {
        Map<String, Tensor> ref = SafeTensors.readAll(set().resolve(loop + ".safetensors"));
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(set(), backend)) {
            Denoising d = p.begin(request);
            while (!d.finished()) p.step(List.of(d));
            Tensor image = Latents.denormalize(p.decode(d.latents()));                  // [B, 3, 16, 16]
            Reference.Error err = Reference.assertClose("sdxl " + loop + " image_01", ref.get("image_01"), image, 1e-4);
            assertTrue(err.maxAbs() < 1e-4, err.toString());
            Reference.assertClose("sdxl " + loop + " final latents", ref.get("final_latents"), d.latents(), 1e-4);
            return d.warnings;
        }
    }
}
