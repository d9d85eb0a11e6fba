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
    private static CpuBackend backend;

    @BeforeAll
    static void start() { backend = new CpuBackend(2); }

    @AfterAll
    static void stop() { backend.close(); }

    static Path set() {
        Path p = Path.of(System.getProperty("pd.home", "..")).resolve("reference/sdxl");
        assertTrue(Files.isRegularFile(p.resolve("model_index.json")), "reference/sdxl missing at " + p.toAbsolutePath());
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
        replay("loop_euler_cfg5", new GenerationRequest("a photograph of an astronaut riding a horse", "", 4, 5.0, null, 42,
                0, 0, 1, 0, RngKind.TORCH));
    }

    @Test
    void negativePromptAndBatchGiveDiffusersImages() {
        replay("loop_euler_a_cfg5_negative", new GenerationRequest("a photograph of an astronaut riding a horse", "blurry",
                3, 5.0, "Euler a", 7, 0, 0, 2, 0, RngKind.TORCH));
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

    private void replay(String loop, GenerationRequest request) {
        Map<String, Tensor> ref = SafeTensors.readAll(set().resolve(loop + ".safetensors"));
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(set(), backend)) {
            Denoising d = p.begin(request);
            while (!d.finished()) p.step(List.of(d));
            Tensor image = Latents.denormalize(p.decode(d.latents()));                  // [B, 3, 16, 16]
            Reference.Error err = Reference.assertClose("sdxl " + loop + " image_01", ref.get("image_01"), image, 1e-4);
            assertTrue(err.maxAbs() < 1e-4, err.toString());
            Reference.assertClose("sdxl " + loop + " final latents", ref.get("final_latents"), d.latents(), 1e-4);
        }
    }
}
