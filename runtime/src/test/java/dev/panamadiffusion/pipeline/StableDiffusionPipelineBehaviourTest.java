package dev.panamadiffusion.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What {@link StableDiffusionPipeline} promises around the denoising itself, on the tiny reference model (UNet
 * sample size 8, VAE scale 2, 77 tokens, hidden size 32): progress and cancellation, resolved sizes and seeds,
 * prompt-length warnings, given embeddings and latents, sampler names, per-image seeds, and its refusals.
 */
class StableDiffusionPipelineBehaviourTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path tmp;
    private static Path model;
    private static StableDiffusionPipeline pipeline;
    private static final NaiveBackend backend = new NaiveBackend();

    @BeforeAll
    static void load() throws Exception {
        model = ReferenceModelFolder.assemble(Reference.tiny().getParent(), tmp.resolve("tiny-sd"), "ddim",
                ReferenceModelFolder.Tokenizer.TINY_BPE);
        pipeline = StableDiffusionPipeline.load(model, backend);
    }

    @AfterAll
    static void close() {
        if (pipeline != null) pipeline.close();
    }

    private static GenerationRequest small() { return small("a red cube"); }

    private static GenerationRequest small(String prompt) {
        return GenerationRequest.of(prompt).withSteps(3).withGuidanceScale(7.5).withSeed(5).withSize(16, 16);
    }

    @Test
    void describesItsModel() {
        assertEquals("tiny-sd", pipeline.modelName());
        assertEquals(model, pipeline.folder().dir());
        assertEquals("DDIM", pipeline.defaultSampler());
        assertEquals(16, pipeline.defaultSize()); // sample size 8 times the VAE's scale 2
        assertEquals(new SizeRule(2, 1), pipeline.sizeRule());
        assertEquals(new SizeRule(2, 1), StableDiffusionPipeline.sizeRule(pipeline.folder()));
        assertSame(backend, pipeline.backend());
    }

    @Test
    void progressIsToldAfterEveryStepAndCancellationSaysWhere() {
        List<String> told = new ArrayList<>();
        GenerationResult r = pipeline.generate(small(), (step, steps) -> told.add(step + "/" + steps), null);
        assertEquals(List.of("1/3", "2/3", "3/3"), told);
        assertEquals(1, r.size());
        assertEquals(16, r.images().get(0).width());
        assertEquals(List.of(5L), r.seeds());
        assertTrue(r.infotexts().get(0).contains("Sampler: DDIM"), r.infotexts().get(0));
        assertTrue(r.seconds() > 0, "elapsed seconds " + r.seconds());

        CancellationToken token = CancellationToken.none();
        token.cancel();
        CancellationException e = assertThrows(CancellationException.class, () -> pipeline.generate(small(), null, token));
        assertEquals("generation cancelled after encoding the prompt", e.getMessage());

        CancellationToken later = CancellationToken.none();
        List<Integer> steps = new ArrayList<>();
        e = assertThrows(CancellationException.class, () -> pipeline.generate(small(), (step, n) -> {
            steps.add(step);
            if (step == 2) later.cancel();
        }, later));
        assertEquals("generation cancelled before step 3 of 3", e.getMessage());
        assertEquals(List.of(1, 2), steps);

        CancellationToken atEnd = CancellationToken.none();
        e = assertThrows(CancellationException.class, () -> pipeline.generate(small(), (step, n) -> {
            if (step == n) atEnd.cancel();
        }, atEnd));
        assertEquals("generation cancelled before decoding", e.getMessage());
    }

    @Test
    void resolveFillsInTheDefaultSizeAndARandomSeed() {
        GenerationRequest r = pipeline.resolve(GenerationRequest.of("x").withSize(0, 0).withSeed(-1));
        assertEquals(16, r.width());
        assertEquals(16, r.height());
        assertTrue(r.seed() >= 0 && r.seed() < (1L << 32), "seed " + r.seed());
        GenerationRequest given = pipeline.resolve(GenerationRequest.of("x").withSize(24, 0).withSeed(0));
        assertEquals(24, given.width());
        assertEquals(16, given.height());
        assertEquals(0, given.seed());
        assertEquals(8, pipeline.resolve(GenerationRequest.of("x").withSize(0, 8).withSeed(3)).height());
        InvalidRequestException bad = assertThrows(InvalidRequestException.class,
                () -> pipeline.resolve(GenerationRequest.of("x").withSize(6, 16)));
        assertTrue(bad.getMessage().contains("width 6"), bad.getMessage());
    }

    @Test
    void warnsWhenAPromptIsTooLongForTheTextEncoder() {
        String words75 = "ab ".repeat(75).strip(); // one token per word: 75 fit between the start and end tokens
        assertEquals(List.of(), pipeline.begin(small(words75)).warnings);
        Denoising d = pipeline.begin(small(words75 + " cd").withNegativePrompt(words75 + " cd ef"));
        assertEquals(List.of("the prompt is 76 tokens long; the text encoder reads the first 75 and ignores the rest",
                "the negative prompt is 77 tokens long; the text encoder reads the first 75 and ignores the rest"), d.warnings);
        Denoising unguided = pipeline.begin(small().withGuidanceScale(1).withNegativePrompt(words75 + " cd"));
        assertEquals(List.of(), unguided.warnings, "without guidance the negative prompt is never read");
    }

    @Test
    void theBatchSharesOneSeedAndTheLatentsHaveTheModelsShape() {
        Denoising d = pipeline.begin(small().withBatchSize(2).withSize(24, 16));
        assertArrayEquals(new long[] {2, 4, 8, 12}, d.latents().shape());
        assertEquals(4, d.rows());
        assertTrue(d.guided(), "guidance 7.5 runs classifier-free guidance: conditional and unconditional rows");
        Denoising unguided = pipeline.begin(small().withBatchSize(2).withGuidanceScale(1));
        assertEquals(2, unguided.rows());
        assertFalse(unguided.guided(), "diffusers guides only above 1");
        while (!d.finished()) pipeline.step(List.of(d));
        GenerationResult r = pipeline.finish(d);
        assertEquals(List.of(5L, 5L), r.seeds());
        assertEquals(24, r.images().get(1).width());
        assertEquals(16, r.images().get(1).height());
        assertNotEquals(r.infotexts().get(0), r.infotexts().get(1), "each image's infotext names its batch position");
    }

    @Test
    void stepAndFinishRefuseWhatTheyCannotDo() {
        Denoising d = pipeline.begin(small().withSteps(1));
        assertEquals("decode before the last step", assertThrows(IllegalStateException.class, () -> pipeline.finish(d)).getMessage());
        pipeline.step(List.of());
        assertEquals(0, d.stepsDone(), "an empty group does nothing");
        pipeline.step(List.of(d));
        assertTrue(d.finished());
        assertEquals("step on a finished generation",
                assertThrows(IllegalStateException.class, () -> pipeline.step(List.of(d))).getMessage());
        Denoising wide = pipeline.begin(small().withSize(24, 16));
        Denoising square = pipeline.begin(small());
        assertEquals("latent shapes differ within one UNet batch",
                assertThrows(IllegalArgumentException.class, () -> pipeline.step(List.of(square, wide))).getMessage());
        assertEquals(0, square.stepsDone());
    }

    @Test
    void givenEmbeddingsAndLatentsAreCheckedAndUsed() {
        Tensor one = Tensor.fromFloats(new float[77 * 32], 1, 77, 32);
        Tensor two = Tensor.fromFloats(new float[2 * 77 * 32], 2, 77, 32);
        GenerationRequest unguided = small().withGuidanceScale(1).withBatchSize(2);
        GenerationRequest guided = small().withBatchSize(2);
        assertEquals(2, pipeline.begin(unguided, new PipelineInputs(one, null, null, null)).rows());
        assertEquals(2, pipeline.begin(unguided, new PipelineInputs(two, null, null, null)).rows());
        assertEquals(4, pipeline.begin(guided, new PipelineInputs(one, two, null, null)).rows());
        assertEquals("guidance with given prompt embeddings needs negative prompt embeddings too",
                assertThrows(IllegalArgumentException.class, () -> pipeline.begin(guided, new PipelineInputs(one, null, null, null))).getMessage());
        assertEquals("prompt embeddings have 3 rows for a batch of 2",
                assertThrows(IllegalArgumentException.class, () -> pipeline.begin(unguided,
                        new PipelineInputs(Tensor.fromFloats(new float[3 * 77 * 32], 3, 77, 32), null, null, null))).getMessage());
        assertEquals("negative prompt embeddings must be [1 or B, L, D], got [77, 32]",
                assertThrows(IllegalArgumentException.class, () -> pipeline.begin(guided,
                        new PipelineInputs(one, Tensor.fromFloats(new float[77 * 32], 77, 32), null, null))).getMessage());
        assertEquals("prompt embeddings [2, 77, 32] and negative prompt embeddings [2, 76, 32] differ in shape",
                assertThrows(IllegalArgumentException.class, () -> pipeline.begin(guided,
                        new PipelineInputs(one, Tensor.fromFloats(new float[76 * 32], 1, 76, 32), null, null))).getMessage());

        float[] noise = new float[2 * 4 * 8 * 8];
        for (int i = 0; i < noise.length; i++) noise[i] = (i % 7) - 3;
        Denoising d = pipeline.begin(unguided, new PipelineInputs(null, null, Tensor.fromFloats(noise, 2, 4, 8, 8), null));
        float sigma = (float) d.scheduler().initNoiseSigma();
        float[] latents = d.latents().toFloatArray();
        for (int i = 0; i < noise.length; i++) assertEquals(noise[i] * sigma, latents[i], 1e-6f);
        assertEquals("given latents are [1, 4, 8, 8] but the request needs [2, 4, 8, 8]",
                assertThrows(IllegalArgumentException.class, () -> pipeline.begin(unguided,
                        new PipelineInputs(null, null, Tensor.fromFloats(new float[4 * 64], 1, 4, 8, 8), null))).getMessage());
    }

    @Test
    void samplerNamesAreCanonicalAndUnknownOnesNameTheField() {
        GenerationResult r = pipeline.generate(small().withSteps(1).withSampler("  euler A "), null, null);
        assertTrue(r.infotexts().get(0).contains("Sampler: Euler a,"), r.infotexts().get(0));
        InvalidRequestException e = assertThrows(InvalidRequestException.class,
                () -> pipeline.scheduler(small().withSampler("no such sampler")));
        assertEquals("sampler", e.problems().get(0).field(), e.getMessage());
        assertEquals(3, pipeline.scheduler(small()).timesteps().length);
    }

    private static JsonNode config(String json) throws Exception { return JSON.readTree(json); }

    @Test
    void samplerNameOfEachDiffusersScheduler() throws Exception {
        assertEquals("DDIM", StableDiffusionPipeline.samplerName(config("{\"_class_name\": \"DDIMScheduler\"}")));
        assertEquals("PNDM", StableDiffusionPipeline.samplerName(config("{\"_class_name\": \"PNDMScheduler\"}")));
        assertEquals("Euler", StableDiffusionPipeline.samplerName(config("{\"_class_name\": \"EulerDiscreteScheduler\"}")));
        assertEquals("Euler Karras", StableDiffusionPipeline.samplerName(config(
                "{\"_class_name\": \"EulerDiscreteScheduler\", \"use_karras_sigmas\": true}")));
        assertEquals("Euler", StableDiffusionPipeline.samplerName(config(
                "{\"_class_name\": \"EulerDiscreteScheduler\", \"use_karras_sigmas\": false}")));
        assertEquals("Euler a", StableDiffusionPipeline.samplerName(config("{\"_class_name\": \"EulerAncestralDiscreteScheduler\"}")));
        assertEquals("DPM++ 2M", StableDiffusionPipeline.samplerName(config("{\"_class_name\": \"DPMSolverMultistepScheduler\"}")));
        assertEquals("DPM++ 2M Karras", StableDiffusionPipeline.samplerName(config(
                "{\"_class_name\": \"DPMSolverMultistepScheduler\", \"use_karras_sigmas\": true}")));
        assertEquals("LMS", StableDiffusionPipeline.samplerName(config("{\"_class_name\": \"LMSDiscreteScheduler\"}")));
        assertEquals("LMS Karras", StableDiffusionPipeline.samplerName(config(
                "{\"_class_name\": \"LMSDiscreteScheduler\", \"use_karras_sigmas\": true}")));
        assertEquals("UniPCMultistepScheduler", StableDiffusionPipeline.samplerName(config("{\"_class_name\": \"UniPCMultistepScheduler\"}")));
        assertEquals("unknown", StableDiffusionPipeline.samplerName(config("{}")));
    }

    @Test
    void refusesModelsItCannotRun() throws Exception {
        Path sdxl = tmp.resolve("sdxl");
        ReferenceModelFolder.copyDir(model, sdxl);
        com.fasterxml.jackson.databind.node.ObjectNode index = (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(sdxl.resolve("model_index.json").toFile());
        index.put("_class_name", "StableDiffusionXLPipeline");
        index.set("text_encoder_2", JSON.readTree("[\"transformers\", \"CLIPTextModelWithProjection\"]"));
        JSON.writeValue(sdxl.resolve("model_index.json").toFile(), index);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StableDiffusionPipeline.load(sdxl, new NaiveBackend()));
        // an SDXL index is run as SDXL: here its second tokenizer and text encoder are missing, which the error names
        assertTrue(e.getMessage().contains("tokenizer_2"), e.getMessage());

    }

    // ---- per-image seeds (A1111's and stable-diffusion.cpp's numbering, diffusers' list of generators): image i is
    // the image a batch of one makes from seed + i, on an ancestral sampler too, and says so in its seed and infotext

    private static GenerationRequest request(String sampler) {
        return GenerationRequest.of("a red cube").withSteps(3).withGuidanceScale(7.5).withSeed(70).withSize(16, 16)
                .withSampler(sampler);
    }

    @Test
    void eachImageOfABatchIsTheImageItsOwnSeedMakesAlone() {
        for (String sampler : List.of("Euler a", "DPM++ 2M")) {
            GenerationResult batch = pipeline.generate(request(sampler).withBatchSize(3).withSeedPerImage(true), null, null);
            assertEquals(List.of(70L, 71L, 72L), batch.seeds());
            for (int i = 0; i < 3; i++) {
                GenerationResult alone = pipeline.generate(request(sampler).withSeed(70 + i), null, null);
                float[] got = batch.latents().slice(0, i, i + 1).contiguous().toFloatArray();  // [1, 4, 8, 8]
                float[] want = alone.latents().toFloatArray();
                double worst = 0, scale = 0;
                for (int k = 0; k < want.length; k++) {
                    worst = Math.max(worst, Math.abs(got[k] - want[k]));
                    scale = Math.max(scale, Math.abs(want[k]));
                }
                assertTrue(worst <= 1e-5 * scale, sampler + ", image " + i + ": worst difference " + worst + " of " + scale);
                assertArrayEquals(alone.images().get(0).rgb(), batch.images().get(i).rgb(), sampler + ", image " + i);
                assertTrue(batch.infotexts().get(i).contains("Seed: " + (70 + i) + ","), batch.infotexts().get(i));
            }
        }
    }

    @Test
    void oneDrawForTheBatchIsNotThat() {
        GenerationResult shared = pipeline.generate(request("Euler a").withBatchSize(3), null, null);
        GenerationResult alone = pipeline.generate(request("Euler a").withSeed(71), null, null);
        assertEquals(List.of(70L, 70L, 70L), shared.seeds(), "the batch's one seed, with its position in the infotext");
        assertTrue(shared.infotexts().get(1).contains("Seed: 70,") && shared.infotexts().get(1).contains("Batch pos: 1"),
                shared.infotexts().get(1));
        Tensor second = shared.latents().slice(0, 1, 2).contiguous();
        assertFalse(java.util.Arrays.equals(alone.latents().toFloatArray(), second.toFloatArray()));
    }
}
