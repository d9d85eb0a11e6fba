package dev.panamadiffusion.api;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.pipeline.InvalidRequestException;
import dev.panamadiffusion.pipeline.StableDiffusionPipeline;
import dev.panamadiffusion.testing.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The engine on the tiny reference model: batching across requests gives each request the pipeline's own result. */
class DiffusionEngineTest {
    private static Path dir;
    private static Path model;

    @BeforeAll
    static void assemble() throws Exception {
        dir = Files.createTempDirectory("pd-engine");
        model = TinyModel.assemble(dir.resolve("tiny-sd"), "dpmpp2m", TinyModel.Tokenizer.TINY_BPE);
    }

    @AfterAll
    static void cleanUp() throws Exception {
        TinyModel.deleteTree(dir);
    }

    static List<GenerationRequest> mixedRequests() {
        return List.of(
                GenerationRequest.of("a red horse").withSteps(5).withSeed(1).withSize(16, 16),
                GenerationRequest.of("a blue cat").withNegativePrompt("blurry").withSteps(3).withSeed(2).withSize(16, 16)
                        .withSampler("Euler a").withGuidanceScale(4.0),
                GenerationRequest.of("a green bird").withSteps(4).withSeed(3).withSize(16, 16).withGuidanceScale(1.0)
                        .withBatchSize(2).withSampler("DDIM"),
                GenerationRequest.of("a tall tower").withSteps(4).withSeed(4).withSize(24, 16).withSampler("LMS"),
                GenerationRequest.of("a small boat").withSteps(6).withSeed(5).withSize(16, 16).withSampler("PNDM"));
    }

    @Test
    void batchedRequestsMatchThePipelineOneByOne() throws Exception {
        List<GenerationRequest> requests = mixedRequests();
        List<GenerationResult> alone = new ArrayList<>();
        try (CpuBackend backend = new CpuBackend(); StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(model, backend)) {
            for (GenerationRequest r : requests) alone.add(pipeline.generate(r, null, null));
        }
        try (DiffusionEngine engine = DiffusionEngine.open(EngineOptions.defaults(model).withBackend("cpu").withMaxBatch(16))) {
            // hold the engine thread on a first request so that all the others are queued and admitted together
            CountDownLatch gate = new CountDownLatch(1);
            Generation blocker = engine.submit(GenerationRequest.of("gate").withSteps(2).withSize(16, 16).withSeed(9), (s, n) -> {
                try {
                    gate.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            List<Generation> gens = new ArrayList<>();
            for (GenerationRequest r : requests) gens.add(engine.submit(r));
            gate.countDown();
            blocker.result().get(60, TimeUnit.SECONDS);
            for (int i = 0; i < requests.size(); i++) {
                GenerationResult got = gens.get(i).result().get(120, TimeUnit.SECONDS);
                GenerationResult want = alone.get(i);
                assertEquals(want.infotexts(), got.infotexts());
                assertEquals(want.size(), got.size());
                for (int k = 0; k < want.size(); k++) assertSamePixels(want.images().get(k), got.images().get(k), "request " + i + " image " + k);
            }
            String metrics = engine.prometheusMetrics();
            // some UNet call carried more than one request: rows > 2 (guided single image = 2 rows)
            assertTrue(bucket(metrics, "pd_unet_batch_rows_bucket{le=\"2.0\"}") < bucket(metrics, "pd_unet_batch_rows_bucket{le=\"+Inf\"}"), metrics);
        }
    }

    @Test
    void cancellationDropsOnlyThatRequest() throws Exception {
        try (DiffusionEngine engine = DiffusionEngine.open(EngineOptions.defaults(model).withBackend("cpu"))) {
            CountDownLatch started = new CountDownLatch(1);
            Generation slow = engine.submit(GenerationRequest.of("slow").withSteps(150).withSize(64, 64).withSeed(1), (s, n) -> started.countDown());
            Generation quick = engine.submit(GenerationRequest.of("quick").withSteps(3).withSize(64, 64).withSeed(2));
            assertTrue(started.await(60, TimeUnit.SECONDS));
            slow.cancel();
            assertThrows(CancellationException.class, () -> slow.result().get(60, TimeUnit.SECONDS));
            assertEquals(Progress.State.CANCELLED, slow.progress().state());
            assertEquals(1, quick.result().get(60, TimeUnit.SECONDS).size());
            assertTrue(slow.progress().stepsDone() < 150);
        }
    }

    @Test
    void invalidRequestsAndAFullQueueAreRefusedAtSubmit() throws Exception {
        try (DiffusionEngine engine = DiffusionEngine.open(EngineOptions.defaults(model).withBackend("cpu").withQueueCapacity(2)
                .withLimits(256, 50, 4))) {
            InvalidRequestException bad = assertThrows(InvalidRequestException.class,
                    () -> engine.submit(GenerationRequest.of("x").withSize(20, 16).withSteps(51).withSampler("Heun++")));
            assertTrue(bad.problems().stream().anyMatch(p -> p.field().equals("width") && p.message().startsWith("20 is not a multiple of 8")), bad.getMessage());
            assertTrue(bad.problems().stream().anyMatch(p -> p.field().equals("steps") && p.message().startsWith("must be between 1 and 50")), bad.getMessage());
            assertTrue(bad.problems().stream().anyMatch(p -> p.field().equals("sampler")), bad.getMessage());
            assertTrue(bad.getMessage().contains("steps must be between 1 and 50, got 51") && !bad.getMessage().contains("1000"), bad.getMessage());
            assertThrows(InvalidRequestException.class, () -> engine.submit(GenerationRequest.of("x").withSize(512, 16)));
            assertThrows(InvalidRequestException.class, () -> engine.submit(GenerationRequest.of("x").withBatchSize(5)));

            CountDownLatch gate = new CountDownLatch(1);
            Generation running = engine.submit(GenerationRequest.of("hold").withSteps(2).withSize(16, 16), (s, n) -> {
                try {
                    gate.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (engine.running().isEmpty()) {
                assertTrue(System.nanoTime() < deadline);
                Thread.sleep(5);
            }
            // the engine admits waiting requests only between steps: 2 fit the queue, the third is refused
            List<Generation> waiting = new ArrayList<>();
            waiting.add(engine.submit(GenerationRequest.of("a").withSteps(1).withSize(16, 16)));
            waiting.add(engine.submit(GenerationRequest.of("b").withSteps(1).withSize(16, 16)));
            EngineBusyException busy = assertThrows(EngineBusyException.class,
                    () -> engine.submit(GenerationRequest.of("c").withSteps(1).withSize(16, 16)));
            assertTrue(busy.retryAfterSeconds() >= 1);
            gate.countDown();
            running.result().get(60, TimeUnit.SECONDS);
            for (Generation g : waiting) g.result().get(60, TimeUnit.SECONDS);
            assertTrue(engine.prometheusMetrics().contains("pd_requests_rejected_total 1"));
        }
    }

    @Test
    void closeCancelsWhatIsPending() throws Exception {
        DiffusionEngine engine = DiffusionEngine.open(EngineOptions.defaults(model).withBackend("cpu"));
        Generation g = engine.submit(GenerationRequest.of("long").withSteps(150).withSize(64, 64));
        engine.close();
        assertThrows(CancellationException.class, () -> g.result().get(60, TimeUnit.SECONDS));
        assertThrows(IllegalStateException.class, () -> engine.submit(GenerationRequest.of("late")));
    }

    static double bucket(String metrics, String series) {
        for (String line : metrics.split("\n")) {
            if (line.startsWith(series + " ")) return Double.parseDouble(line.substring(series.length() + 1));
        }
        throw new AssertionError("no " + series + " in\n" + metrics);
    }

    static void assertSamePixels(Rgb8Image want, Rgb8Image got, String what) {
        assertEquals(want.width(), got.width(), what);
        assertEquals(want.height(), got.height(), what);
        byte[] a = want.rgb();
        byte[] b = got.rgb();
        int worst = 0;
        for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] & 0xff) - (b[i] & 0xff)));
        assertTrue(worst <= 1, what + ": pixels differ by up to " + worst + " levels");
    }
}
