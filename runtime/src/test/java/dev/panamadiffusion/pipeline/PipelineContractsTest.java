package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.OutOfDeviceMemoryException;
import dev.panamadiffusion.backend.Abort;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * StableDiffusionPipeline's documented contracts on the tiny model: the load overloads keep their limits, a pipeline
 * over components refuses what it lacks (VAE, text encoder, an SDXL UNet for requires_aesthetics_score), cancellation
 * reaches into a UNet step, the listener hears the step count first, running out of device memory drops the runner's
 * recordings and names the request, and the elapsed seconds are a duration.
 */
class PipelineContractsTest {
    @TempDir
    static Path tmp;
    private static final NaiveBackend backend = new NaiveBackend();
    private static Arena arena;
    private static UNet2DConditionModel unet;
    private static SchedulerConfig ddim;
    private static Path model;

    @BeforeAll
    static void load() throws Exception {
        arena = Arena.ofShared();
        unet = UNet2DConditionModel.load(Reference.tiny().resolve("unet"), backend, arena);
        ddim = SchedulerConfig.read(Reference.tiny().resolve("scheduler_ddim").resolve("scheduler_config.json"));
        model = ReferenceModelFolder.assemble(Reference.tiny().getParent(), tmp.resolve("tiny-sd"), "ddim",
                ReferenceModelFolder.Tokenizer.TINY_BPE);
    }

    @AfterAll
    static void close() { arena.close(); }

    private static Tensor embeds() {
        float[] v = new float[77 * 32];
        for (int i = 0; i < v.length; i++) v[i] = (float) Math.sin(i * 0.37);
        return Tensor.fromFloats(v, 1, 77, 32);
    }

    /** Unguided (no negative embeddings needed), three DDIM steps at 16×16. */
    private static GenerationRequest request() {
        return GenerationRequest.of("").withSteps(3).withGuidanceScale(1.0).withSeed(5).withSize(16, 16);
    }

    private static PipelineInputs given() { return new PipelineInputs(embeds(), null, null, null); }

    /** An eager runner that does {@code during} inside every UNet call, before the pass. */
    private static final class Hooked implements UNetRunner {
        final EagerUNet inner = new EagerUNet(unet, backend);
        final List<Runnable> during = new ArrayList<>();
        Runnable checkpoint;
        int releases;

        @Override
        public Tensor predict(Tensor sample, double[] t, Tensor cond, Tensor add, Tensor context) {
            return predict(sample, t, cond, add, context, () -> {});
        }

        @Override
        public Tensor predict(Tensor sample, double[] t, Tensor cond, Tensor add, Tensor context, Runnable checkpoint) {
            this.checkpoint = checkpoint;
            for (Runnable r : during) r.run();
            return inner.predict(sample, t, cond, add, context);
        }

        @Override
        public void releaseRecordings() { releases++; }
    }

    @Test
    void loadOverloadsKeepTheirLimits() {
        RequestLimits limits = RequestLimits.DEFAULT;
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(model, backend, limits)) {
            assertSame(limits, p.limits());
            assertFalse(p.refiner(), "an SD 1.x model is no refiner");
            assertEquals(1000, p.schedulerConfig().numTrainTimesteps(), "the tiny DDIM config's num_train_timesteps");
        }
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(ModelFolder.open(model), backend)) {
            assertSame(RequestLimits.DEFAULT, p.limits());
            assertEquals("tiny-sd", p.modelName());
        }
    }

    @Test
    void componentsRefuseWhatTheyLack() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StableDiffusionPipeline.fromComponents(
                backend, unet, new EagerUNet(unet, backend), null, ddim, "DDIM", true));
        assertEquals("requires_aesthetics_score needs a UNet with SDXL's text_time conditioning", e.getMessage());
        try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, new EagerUNet(unet, backend), null,
                ddim, "DDIM")) {
            assertFalse(p.refiner());
            IllegalStateException s = assertThrows(IllegalStateException.class, () -> p.begin(request()));
            assertEquals("this pipeline has no text encoder: give prompt embeddings", s.getMessage());
            s = assertThrows(IllegalStateException.class, () -> p.decode(Tensor.fromFloats(new float[4 * 64], 1, 4, 8, 8)));
            assertEquals("this pipeline has no VAE", s.getMessage());
            s = assertThrows(IllegalStateException.class, () -> p.encode(Tensor.fromFloats(new float[3 * 256], 1, 3, 16, 16)));
            assertEquals("this pipeline has no VAE", s.getMessage());
            Rgb8Image image = new Rgb8Image(16, 16, new byte[16 * 16 * 3]);
            s = assertThrows(IllegalStateException.class,
                    () -> p.begin(request().withSteps(4), given().withInitImage(new InitImage(image, 0.5))));
            assertEquals("this pipeline has no VAE to encode an init image", s.getMessage());
            IllegalArgumentException both = assertThrows(IllegalArgumentException.class, () -> p.begin(request(),
                    given().withInitImage(new InitImage(image, 0.5)).withImageLatents(Tensor.fromFloats(new float[4 * 64], 1, 4, 8, 8))));
            assertEquals("give an init image or its latents, not both", both.getMessage());
        }
    }

    @Test
    void cancellingDuringAStepAbandonsItAtTheNextCheckpoint() {
        Hooked runner = new Hooked();
        CancellationToken token = CancellationToken.none();
        runner.during.add(token::cancel);
        runner.during.add(() -> runner.checkpoint.run());
        try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, runner, null, ddim, "DDIM")) {
            CancellationException e = assertThrows(CancellationException.class, () -> p.generate(request(), given(), null, token));
            assertEquals("generation cancelled during a UNet step", e.getMessage());
        }
    }

    @Test
    void cancellingDuringAStepStopsTheBackendsOwnChecks() {
        // the CPU backend polls Abort.current() between the chunks of a parallel op
        Hooked runner = new Hooked();
        CancellationToken token = CancellationToken.none();
        runner.during.add(token::cancel);
        runner.during.add(() -> Abort.check(Abort.current()));
        try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, runner, null, ddim, "DDIM")) {
            CancellationException e = assertThrows(CancellationException.class, () -> p.generate(request(), given(), null, token));
            assertEquals("generation cancelled during a UNet step", e.getMessage());
        }
    }

    @Test
    void theListenerHearsTheStepCountFirst() {
        List<String> told = new ArrayList<>();
        ProgressListener listener = new ProgressListener() {
            @Override
            public void onBegun(int steps) { told.add("begun " + steps); }

            @Override
            public void onStep(int step, int steps) { told.add(step + "/" + steps); }
        };
        try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, new EagerUNet(unet, backend), null,
                ddim, "DDIM")) {
            Denoising d = p.begin(request(), given());
            p.step(List.of(d));   // steps without finish: the result needs a VAE
            assertEquals(1, d.stepsDone());
        }
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(model, backend)) {
            long t0 = System.nanoTime();
            GenerationResult r = p.generate(GenerationRequest.of("a cube").withSteps(3).withGuidanceScale(1.0).withSeed(5).withSize(16, 16), listener, null);
            double wall = (System.nanoTime() - t0) / 1e9;
            assertEquals(List.of("begun 3", "1/3", "2/3", "3/3"), told);
            assertTrue(r.seconds() > 0 && r.seconds() <= wall, r.seconds() + " s reported of " + wall + " s");
        }
    }

    @Test
    void runningOutOfDeviceMemoryDropsTheRecordingsAndNamesTheRequest() {
        Hooked runner = new Hooked();
        runner.during.add(() -> { throw new OutOfDeviceMemoryException("arena full", -1, -1, -1); });
        try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, runner, null, ddim, "DDIM")) {
            OutOfDeviceMemoryException e = assertThrows(OutOfDeviceMemoryException.class,
                    () -> p.generate(request().withBatchSize(2), given(), null, null));
            assertEquals("out of device memory generating 2 16x16 images: arena full", e.getMessage());
            assertEquals("arena full", e.getCause().getMessage());
            assertEquals(1, runner.releases, "the runner's recordings are dropped");
            e = assertThrows(OutOfDeviceMemoryException.class, () -> p.generate(request(), given(), null, null));
            assertEquals("out of device memory generating a 16x16 image: arena full", e.getMessage());
            assertEquals(2, runner.releases);
        }
    }

    @Test
    void aDenoisingTakesNoTokenAndNoObserver() {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet, new EagerUNet(unet, backend), null,
                ddim, "DDIM")) {
            Denoising d = p.begin(request(), given());
            assertEquals(5, d.request().seed());
            assertEquals(16, d.request().width());
            d.cancelWith(null);
            d.observe(null);
            p.step(List.of(d));
            assertEquals(1, d.stepsDone());
        }
    }

    @Test
    void closingALoadedPipelineReleasesItsWeights() {
        StableDiffusionPipeline p = StableDiffusionPipeline.load(model, backend);
        p.begin(request());   // works while open
        p.close();
        // the weights lived in the pipeline's arena: nothing can read them any more
        assertThrows(IllegalStateException.class, () -> p.begin(request()));
    }

    @Test
    void runningOutOfDeviceMemoryReclaimsTheBackendsMemory() {
        // a backend with device memory: the naive one's operations, counting reclaims
        AtomicInteger reclaims = new AtomicInteger();
        dev.panamadiffusion.backend.Backend device = (dev.panamadiffusion.backend.Backend) java.lang.reflect.Proxy.newProxyInstance(
                getClass().getClassLoader(),
                new Class<?>[] {dev.panamadiffusion.backend.Backend.class, dev.panamadiffusion.backend.DeviceMemory.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("reclaimDeviceMemory")) {
                        reclaims.incrementAndGet();
                        return 0L;
                    }
                    try {
                        return method.invoke(backend, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        Hooked runner = new Hooked();
        runner.during.add(() -> { throw new OutOfDeviceMemoryException("arena full", -1, -1, -1); });
        try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(device, unet, runner, null, ddim, "DDIM")) {
            assertThrows(OutOfDeviceMemoryException.class, () -> p.generate(request(), given(), null, null));
            assertEquals(1, reclaims.get(), "unreachable tensors' device memory is returned before the failure is told");
        }
    }
}
