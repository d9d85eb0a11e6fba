package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pipeline API on the tiny reference model: guidance rows, batching, progress, cancellation, results. */
class StableDiffusionPipelineTest {
    private static final Path REFERENCE = Path.of(System.getProperty("pd.reference", "missing"));
    @TempDir
    static Path tmp;
    private static CountingBackend backend;
    private static StableDiffusionPipeline pipeline;

    @BeforeAll
    static void load() throws IOException {
        assertTrue(Files.isDirectory(REFERENCE.resolve("tiny")), "reference data missing: " + REFERENCE);
        Path model = tmp.resolve("tiny");
        Path tiny = REFERENCE.resolve("tiny");
        for (String c : List.of("text_encoder", "unet", "vae")) copy(tiny.resolve(c), model.resolve(c));
        copy(tiny.resolve("scheduler_ddim"), model.resolve("scheduler"));
        // the real CLIP tokenizer, ids folded into the tiny text encoder's vocabulary as the reference data did
        Path tok = Files.createDirectories(model.resolve("tokenizer"));
        String vocab = Files.readString(REFERENCE.resolve("tokenizer/vocab.json"));
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        var real = json.readTree(vocab);
        var folded = json.createObjectNode();
        real.fields().forEachRemaining(e -> {
            int id = e.getValue().asInt();
            folded.put(e.getKey(), id == 49406 ? 998 : id == 49407 ? 999 : id % 997 + 1);
        });
        json.writeValue(tok.resolve("vocab.json").toFile(), folded);
        Files.copy(REFERENCE.resolve("tokenizer/merges.txt"), tok.resolve("merges.txt"));
        Files.writeString(model.resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionPipeline\"}");
        backend = new CountingBackend(new CpuBackend(2));
        pipeline = StableDiffusionPipeline.load(model, backend);
    }

    @AfterAll
    static void close() {
        if (pipeline != null) pipeline.close();
        if (backend != null) backend.close();
    }

    @Test
    void describesTheModel() {
        assertEquals("tiny", pipeline.modelName());
        assertEquals("DDIM", pipeline.defaultSampler());
        assertEquals(16, pipeline.defaultSize());
        assertEquals(8, pipeline.sizeRule().multiple());
    }

    @Test
    void guidanceRunsTwoUNetRowsPerImageAndNoGuidanceOne() {
        GenerationRequest r = GenerationRequest.of("a horse").withSteps(2).withSeed(1).withBatchSize(3);
        backend.unetRows.clear();
        pipeline.generate(r, null, null);
        assertEquals(List.of(6L, 6L), backend.unetRows, "[uncond × 3; cond × 3] per step");
        backend.unetRows.clear();
        pipeline.generate(r.withGuidanceScale(1), null, null);
        assertEquals(List.of(3L, 3L), backend.unetRows, "guidance ≤ 1: the prompt rows alone");
    }

    @Test
    void imageOfABatchIsTheSameAsAloneWhenItsNoiseIs() {
        // one randn([2, 4, 8, 8]) begins with the numbers of randn([1, 4, 8, 8]): the first image of a batch of two
        // is the single image of the same seed, to the bit (every CPU op gives an image the same bits batched or alone)
        GenerationRequest one = GenerationRequest.of("a horse").withSteps(3).withSeed(42);
        GenerationResult single = pipeline.generate(one, null, null);
        Rgb8Image alone = single.images().getFirst();
        GenerationResult two = pipeline.generate(one.withBatchSize(2), null, null);
        assertArrayEquals(single.latents().toFloatArray(), two.latents().slice(0, 0, 1).contiguous().toFloatArray(),
                "first of batch vs alone: the latents");
        assertEquals(0, maxDiff(alone, two.images().get(0)), "first of batch vs alone: the pixels");
        assertTrue(maxDiff(two.images().get(0), two.images().get(1)) > 8, "the second image has its own noise");
        assertEquals(List.of(42L, 42L), two.seeds());
        assertTrue(two.infotexts().get(1).endsWith("Batch size: 2, Batch pos: 1"), two.infotexts().get(1));
    }

    @Test
    void progressAfterEveryStepAndCancellationBetweenSteps() {
        List<String> calls = new ArrayList<>();
        GenerationRequest r = GenerationRequest.of("a horse").withSteps(4).withSeed(3);
        pipeline.generate(r, (step, steps) -> calls.add(step + "/" + steps), CancellationToken.none());
        assertEquals(List.of("1/4", "2/4", "3/4", "4/4"), calls);

        CancellationToken token = new CancellationToken();
        calls.clear();
        backend.unetRows.clear();
        CancellationException e = assertThrows(CancellationException.class, () -> pipeline.generate(r, (step, steps) -> {
            calls.add(step + "/" + steps);
            if (step == 2) token.cancel();
        }, token));
        assertEquals(List.of("1/4", "2/4"), calls);
        assertEquals(2, backend.unetRows.size(), "no UNet call after the cancellation");
        assertTrue(e.getMessage().contains("before step 3 of 4"), e.getMessage());
    }

    /**
     * A cancellation that comes while the UNet runs stops the step at the next block boundary (here right after
     * {@code conv_in}), not after the whole forward pass: what lets a server drop a large request within about a second.
     */
    @Test
    void cancellationInsideAUNetStepStopsAtTheNextBlock() {
        CancellationToken token = new CancellationToken();
        List<String> calls = new ArrayList<>();
        backend.unetRows.clear();
        backend.opsAfterCancel.set(0);
        backend.onUNetConvIn = () -> {
            if (backend.unetRows.size() == 2) { // conv_in of the second step
                token.cancel();
                backend.cancelled = token;
            }
        };
        try {
            CancellationException e = assertThrows(CancellationException.class, () -> pipeline.generate(
                    GenerationRequest.of("a horse").withSteps(4).withSeed(3), (step, steps) -> calls.add(step + "/" + steps), token));
            assertEquals(List.of("1/4"), calls, "the second step did not finish");
            assertEquals(0, backend.opsAfterCancel.get(), "ops of the UNet after the cancellation");
            assertTrue(e.getMessage().contains("during a UNet step"), e.getMessage());
        } finally {
            backend.onUNetConvIn = () -> {};
            backend.cancelled = null;
        }
        // a request of a batch with one that is not cancelled goes on: the step is abandoned only when all are
        assertEquals(1, pipeline.generate(GenerationRequest.of("a horse").withSteps(1).withSeed(3), null, new CancellationToken()).size());
    }

    @Test
    void randomSeedIsReportedAndSizesDefaultToTheModel() {
        GenerationResult r = pipeline.generate(GenerationRequest.of("a horse").withSteps(1), null, null);
        long seed = r.seeds().getFirst();
        assertTrue(seed >= 0 && seed < 1L << 32, "seed " + seed);
        assertTrue(r.infotexts().getFirst().contains("Seed: " + seed + ", Size: 16x16, Model: tiny"), r.infotexts().getFirst());
        Rgb8Image img = r.images().getFirst();
        assertEquals(16, img.width());
        // the seed reproduces the image
        Rgb8Image again = pipeline.generate(GenerationRequest.of("a horse").withSteps(1).withSeed(seed), null, null).images().getFirst();
        assertEquals(0, maxDiff(img, again));
    }

    @Test
    void invalidRequestsAndSamplersAreRejectedBeforeAnyWork() {
        backend.unetRows.clear();
        InvalidRequestException bad = assertThrows(InvalidRequestException.class,
                () -> pipeline.generate(GenerationRequest.of("x").withSize(20, 16).withSteps(0), null, null));
        assertEquals(List.of(new InvalidRequestException.Problem("steps", "must be between 1 and 1000, got 0"),
                new InvalidRequestException.Problem("width", "20 is not a multiple of 8 (try 16 or 24)")), bad.problems());
        IllegalArgumentException sampler = assertThrows(IllegalArgumentException.class,
                () -> pipeline.generate(GenerationRequest.of("x").withSampler("Heun"), null, null));
        assertTrue(sampler.getMessage().contains("Heun"), sampler.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> pipeline.generate(GenerationRequest.of("x").withClipSkip(3), null, null)); // 2 layers
        assertTrue(backend.unetRows.isEmpty());
    }

    @Test
    void promptsLongerThanTheTextEncoderAreCutWithAWarning() {
        String longPrompt = "a horse ".repeat(40).strip(); // 80 tokens
        GenerationResult r = pipeline.generate(GenerationRequest.of(longPrompt).withSteps(1).withSeed(1), null, null);
        assertEquals(List.of("the prompt is 80 tokens long; the text encoder reads the first 75 and ignores the rest"),
                r.warnings());
        assertEquals(List.of(), pipeline.generate(GenerationRequest.of("a horse").withSteps(1).withSeed(1), null, null)
                .warnings());
    }

    @Test
    void clipSkipAndJavaRngChangeTheImage() {
        GenerationRequest r = GenerationRequest.of("a photograph of an astronaut").withSteps(2).withSeed(5);
        Rgb8Image base = pipeline.generate(r, null, null).images().getFirst();
        assertTrue(maxDiff(base, pipeline.generate(r.withClipSkip(1), null, null).images().getFirst()) > 0);
        GenerationResult java = pipeline.generate(r.withRng(RngKind.JAVA), null, null);
        assertTrue(maxDiff(base, java.images().getFirst()) > 8);
        assertTrue(java.infotexts().getFirst().contains("RNG: Java"));
    }

    private static int maxDiff(Rgb8Image a, Rgb8Image b) {
        int m = 0;
        for (int i = 0; i < a.rgb().length; i++) m = Math.max(m, Math.abs((a.rgb()[i] & 0xff) - (b.rgb()[i] & 0xff)));
        return m;
    }

    private static void copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path f : s.toList()) Files.copy(f, to.resolve(f.getFileName().toString()));
        }
    }

    /** The CPU backend, recording the batch size of every UNet call (its conv_in: 4 → 32 channels, 3×3). */
    @Test
    void givenNoiseAndGeneratorReproduceTheSeededRunAndTheObserverSeesEveryStep() {
        GenerationRequest r = GenerationRequest.of("a horse").withSteps(3).withSeed(7).withBatchSize(2).withSampler("Euler a");
        Denoising seeded = pipeline.begin(r);
        List<StepObserver.Step> seen = new ArrayList<>();
        seeded.observe(seen::add);
        while (!seeded.finished()) pipeline.step(List.of(seeded));

        // diffusers' latents= and generator= arguments: the same numbers the seed would have drawn
        var generator = new dev.panamadiffusion.rng.TorchCpuGenerator(7);
        Tensor noise = generator.randn(2, 4, 8, 8);                                     // [B, 4, h, w]
        Denoising given = pipeline.begin(r, new PipelineInputs(null, null, noise, generator));
        while (!given.finished()) pipeline.step(List.of(given));
        assertTrue(java.util.Arrays.equals(seeded.latents().toFloatArray(), given.latents().toFloatArray()));

        assertEquals(3, seen.size());
        for (int i = 0; i < 3; i++) {
            StepObserver.Step s = seen.get(i);
            assertEquals(i, s.index());
            assertEquals(seeded.scheduler().timesteps()[i], s.timestep());
            assertEquals(List.of(4L, 4L, 8L, 8L), dims(s.modelInput()), "[uncond; cond] rows");
            assertEquals(List.of(4L, 4L, 8L, 8L), dims(s.noisePred()));
            assertEquals(List.of(2L, 4L, 8L, 8L), dims(s.guided()));
            float[] u = s.noisePred().slice(0, 0, 2).contiguous().toFloatArray();
            float[] c = s.noisePred().slice(0, 2, 4).contiguous().toFloatArray();
            float[] g = s.guided().toFloatArray();
            for (int k = 0; k < g.length; k++) assertEquals(u[k] + 7.5f * (c[k] - u[k]), g[k], 1e-5f * (1 + Math.abs(g[k])));
        }
        assertTrue(java.util.Arrays.equals(seen.get(2).latents().toFloatArray(), seeded.latents().toFloatArray()));

        // a list of prompts as embeddings: one row per image; a wrong row count is refused
        Tensor one = Tensor.fromFloats(new float[77 * 32], 1, 77, 32);
        Tensor three = Tensor.fromFloats(new float[3 * 77 * 32], 3, 77, 32);
        assertThrows(IllegalArgumentException.class, () -> pipeline.begin(r, new PipelineInputs(three, three, null, null)));
        assertThrows(IllegalArgumentException.class, () -> pipeline.begin(r, new PipelineInputs(one, null, null, null)),
                "guidance needs negative embeddings");
        assertThrows(IllegalArgumentException.class,
                () -> pipeline.begin(r, new PipelineInputs(null, null, Tensor.fromFloats(new float[16], 1, 4, 2, 2), null)));
    }

    private static List<Long> dims(Tensor t) { return java.util.Arrays.stream(t.shape()).boxed().toList(); }

    static final class CountingBackend implements Backend {
        final Backend d;
        final List<Long> unetRows = new ArrayList<>();
        volatile Runnable onUNetConvIn = () -> {};
        volatile CancellationToken cancelled;
        final java.util.concurrent.atomic.AtomicInteger opsAfterCancel = new java.util.concurrent.atomic.AtomicInteger();

        CountingBackend(Backend d) { this.d = d; }

        private void op() {
            CancellationToken c = cancelled;
            if (c != null && c.isCancelled()) opsAfterCancel.incrementAndGet();
        }

        @Override public String name() { return d.name(); }
        @Override public Tensor upload(Tensor host) { return d.upload(host); }
        @Override public Tensor download(Tensor t) { return d.download(t); }
        @Override public Tensor linear(Tensor x, Tensor w, Tensor b) { op(); return d.linear(x, w, b); }
        @Override public Tensor conv2d(Tensor x, Tensor w, Tensor b, int stride, int padding) {
            op();
            boolean convIn = w.dim(0) == 32 && w.dim(1) == 4 && w.dim(2) == 3;
            if (convIn) unetRows.add(x.dim(0));
            Tensor out = d.conv2d(x, w, b, stride, padding);
            if (convIn) onUNetConvIn.run();
            return out;
        }
        @Override public Tensor pad2d(Tensor x, int l, int r, int t, int b) { return d.pad2d(x, l, r, t, b); }
        @Override public Tensor groupNorm(Tensor x, int g, Tensor gamma, Tensor beta, float eps, boolean silu) {
            op();
            return d.groupNorm(x, g, gamma, beta, eps, silu);
        }
        @Override public Tensor layerNorm(Tensor x, Tensor g, Tensor b, float eps) { return d.layerNorm(x, g, b, eps); }
        @Override public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
            op();
            return d.attention(q, k, v, heads, causal);
        }
        @Override public Tensor silu(Tensor x) { return d.silu(x); }
        @Override public Tensor gelu(Tensor x) { return d.gelu(x); }
        @Override public Tensor quickGelu(Tensor x) { return d.quickGelu(x); }
        @Override public Tensor geglu(Tensor x) { return d.geglu(x); }
        @Override public Tensor add(Tensor a, Tensor b) { return d.add(a, b); }
        @Override public Tensor addChannelwise(Tensor x, Tensor v) { return d.addChannelwise(x, v); }
        @Override public Tensor scale(Tensor x, float s) { return d.scale(x, s); }
        @Override public Tensor upsampleNearest2x(Tensor x) { return d.upsampleNearest2x(x); }
        @Override public Tensor concatChannels(Tensor a, Tensor b) { return d.concatChannels(a, b); }
        @Override public Tensor toTokens(Tensor x) { return d.toTokens(x); }
        @Override public Tensor fromTokens(Tensor x, long h, long w) { return d.fromTokens(x, h, w); }
        @Override public Tensor embedding(Tensor table, Tensor ids) { return d.embedding(table, ids); }
        @Override public void close() { d.close(); }
    }
}
