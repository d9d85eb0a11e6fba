package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;

import static dev.panamadiffusion.pipeline.Gaussian.gaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GraphedUNet's host-side logic on a host backend with CUDA-graph semantics ({@link RecordingBackend} over the
 * deterministic naive backend) and the tiny reference UNet: replays give exactly the eager results on new inputs, one recording per shape, least recently used
 * out, no forward-pass code on replayed steps.
 */
class GraphedUNetTest {
    private Arena arena;
    private RecordingBackend backend;
    private UNet2DConditionModel unet;
    private EagerUNet eager;

    @BeforeEach
    void load() {
        arena = Arena.ofShared();
        backend = new RecordingBackend(new NaiveBackend());
        unet = UNet2DConditionModel.load(Reference.tiny().resolve("unet"), backend, arena);
        eager = new EagerUNet(unet, backend);
    }

    @AfterEach
    void close() {
        backend.close();
        arena.close();
    }

    private static double[] times(double... t) { return t; }

    /** Predicts with {@code graphed} and checks the result is bit for bit the eager pass's. */
    private float[] predictBoth(GraphedUNet graphed, Tensor sample, double[] t, Tensor context) {
        float[] got = graphed.predict(sample, t, context).toFloatArray();
        float[] expected = eager.predict(sample, t, context).toFloatArray();
        assertArrayEquals(expected, got, "graphed vs eager at t " + Arrays.toString(t) + " for " + sample);
        return got;
    }

    @Test
    void replaysGiveTheEagerResultOnEveryNewInput() {
        Tensor contextA = backend.upload(gaussian(10, 2, 77, 32));
        Tensor contextB = backend.upload(gaussian(11, 2, 77, 32));
        double[][] steps = {times(999, 999), times(500, 500), times(10, 20), times(1, 1)};
        try (GraphedUNet graphed = new GraphedUNet(unet, backend, 2)) {
            float[] previous = null;
            for (int i = 0; i < steps.length; i++) {
                Tensor sample = gaussian(i, 2, 4, 8, 8);
                Tensor context = i % 2 == 0 ? contextA : contextB;
                int callsBefore = backend.opCalls();
                float[] got = graphed.predict(sample, steps[i], context).toFloatArray();
                int calls = backend.opCalls() - callsBefore;
                if (i == 0) assertTrue(calls > 0, "the first step runs the forward pass");
                else assertEquals(0, calls, "step " + i + " ran forward-pass ops instead of a replay");
                float[] expected = eager.predict(sample, steps[i], context).toFloatArray();
                assertArrayEquals(expected, got, "step " + i);
                if (previous != null) assertFalse(Arrays.equals(previous, got), "step " + i + " repeated the last output");
                previous = got;
            }
            assertEquals(1, graphed.captures());
            assertEquals(3, graphed.replays());
        }
    }

    @Test
    void callerTensorsAreNeitherKeptNorOverwritten() {
        Tensor context = backend.upload(gaussian(10, 2, 77, 32));
        Tensor sample = gaussian(1, 2, 4, 8, 8);
        float[] sampleValues = sample.toFloatArray();
        float[] contextValues = backend.download(context).toFloatArray();
        try (GraphedUNet graphed = new GraphedUNet(unet, backend, 2)) {
            predictBoth(graphed, sample, times(999, 999), context);
            predictBoth(graphed, gaussian(2, 2, 4, 8, 8), times(500, 500), backend.upload(gaussian(12, 2, 77, 32)));
            assertArrayEquals(sampleValues, sample.toFloatArray(), "the first sample was written into");
            assertArrayEquals(contextValues, backend.download(context).toFloatArray(), "the first context was written into");
        }
    }

    @Test
    void oneRecordingPerShapeLeastRecentlyUsedOut() {
        Tensor context2 = backend.upload(gaussian(10, 2, 77, 32));
        Tensor context1 = backend.upload(gaussian(11, 1, 77, 32));
        UNetShape a = new UNetShape(2, 4, 8, 8, 77, 32), b = new UNetShape(1, 4, 8, 8, 77, 32),
                c = new UNetShape(2, 4, 16, 16, 77, 32);
        try (GraphedUNet graphed = new GraphedUNet(unet, backend, 2)) {
            predictBoth(graphed, gaussian(1, 2, 4, 8, 8), times(900, 900), context2);   // a: recorded
            predictBoth(graphed, gaussian(2, 2, 4, 8, 8), times(800, 800), context2);   // a: replayed
            predictBoth(graphed, gaussian(3, 1, 4, 8, 8), times(700), context1);        // b: recorded
            predictBoth(graphed, gaussian(4, 2, 4, 8, 8), times(600, 600), context2);   // a: replayed, now newest
            assertEquals(List.of(b, a), graphed.cachedShapes());
            predictBoth(graphed, gaussian(5, 2, 4, 16, 16), times(500, 500), context2); // c: recorded, b out
            assertEquals(List.of(a, c), graphed.cachedShapes());
            assertEquals(3, graphed.captures());
            assertEquals(2, backend.graphsOpen(), "the evicted graph is closed");
            predictBoth(graphed, gaussian(6, 1, 4, 8, 8), times(400), context1);        // b again: re-recorded, a out
            assertEquals(List.of(c, b), graphed.cachedShapes());
            assertEquals(4, graphed.captures());
            assertEquals(2, graphed.replays());
        }
        assertEquals(0, backend.graphsOpen(), "close releases every graph");
    }

    @Test
    void contextLengthIsPartOfTheShape() {
        try (GraphedUNet graphed = new GraphedUNet(unet, backend, 4)) {
            predictBoth(graphed, gaussian(1, 2, 4, 8, 8), times(999, 999), backend.upload(gaussian(10, 2, 77, 32)));
            predictBoth(graphed, gaussian(2, 2, 4, 8, 8), times(999, 999), backend.upload(gaussian(11, 2, 12, 32)));
            predictBoth(graphed, gaussian(3, 2, 4, 8, 8), times(400, 400), backend.upload(gaussian(12, 2, 12, 32)));
            assertEquals(2, graphed.captures());
            assertEquals(1, graphed.replays());
        }
    }

    @Test
    void mismatchedInputsFailBeforeAnythingRuns() {
        try (GraphedUNet graphed = new GraphedUNet(unet, backend, 2)) {
            Tensor context = backend.upload(gaussian(10, 2, 77, 32));
            int calls = backend.opCalls();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> graphed.predict(gaussian(1, 2, 4, 8, 8), times(999), context));
            assertTrue(e.getMessage().contains("1 timesteps for a batch of 2"), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> graphed.predict(gaussian(1, 1, 4, 8, 8), times(999), context));
            assertEquals(calls, backend.opCalls());
            assertEquals(0, graphed.captures());
        }
    }

    @Test
    void closedRunnerRefusesToPredict() {
        GraphedUNet graphed = new GraphedUNet(unet, backend, 1);
        Tensor context = backend.upload(gaussian(10, 2, 77, 32));
        graphed.predict(gaussian(1, 2, 4, 8, 8), times(999, 999), context);
        graphed.close();
        assertEquals(0, backend.graphsOpen());
        assertThrows(IllegalStateException.class, () -> graphed.predict(gaussian(1, 2, 4, 8, 8), times(9, 9), context));
        assertThrows(IllegalArgumentException.class, () -> new GraphedUNet(unet, backend, 0));
    }

    @Test
    void releasingRecordingsClosesEveryGraphAndTheNextStepRecordsAnew() {
        Tensor context = backend.upload(gaussian(10, 2, 77, 32));
        try (GraphedUNet graphed = new GraphedUNet(unet, backend, 3)) {
            predictBoth(graphed, gaussian(1, 2, 4, 8, 8), times(900, 900), context);
            predictBoth(graphed, gaussian(2, 2, 4, 16, 16), times(900, 900), context);
            assertEquals(2, backend.graphsOpen());
            assertTrue(graphed.recordingNanos() > 0, "recording time is counted");
            graphed.releaseRecordings();
            assertEquals(0, backend.graphsOpen(), "every graph is closed");
            assertEquals(List.of(), graphed.cachedShapes());
            assertEquals(2, graphed.evictions());
            predictBoth(graphed, gaussian(3, 2, 4, 8, 8), times(800, 800), context);
            assertEquals(3, graphed.captures(), "the shape is recorded again");
            assertEquals(1, backend.graphsOpen());
        }
    }

    @Test
    void theCacheSizeComesFromItsProperty() {
        String old = System.getProperty(GraphedUNet.MAX_GRAPHS_PROPERTY);
        try {
            System.clearProperty(GraphedUNet.MAX_GRAPHS_PROPERTY);
            assertEquals(GraphedUNet.DEFAULT_MAX_GRAPHS, ((GraphedUNet) UNetRunner.create(unet, backend)).maxGraphs());
            System.setProperty(GraphedUNet.MAX_GRAPHS_PROPERTY, " 5 ");
            GraphedUNet five = (GraphedUNet) UNetRunner.create(unet, backend);
            assertEquals(5, five.maxGraphs());
            Tensor context = backend.upload(gaussian(10, 1, 77, 32));
            for (int side = 2; side <= 14; side += 2) five.predict(gaussian(side, 1, 4, side, side), times(500), context);
            assertEquals(5, backend.graphsOpen(), "five shapes kept of seven");
            assertEquals(2, five.evictions());
            five.close();
            for (String bad : List.of("0", "-1", "two")) {
                System.setProperty(GraphedUNet.MAX_GRAPHS_PROPERTY, bad);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> UNetRunner.create(unet, backend));
                assertEquals("-Dpd.cuda.graphs.max=" + bad + " must be a whole number of at least 1", e.getMessage());
            }
        } finally {
            if (old == null) System.clearProperty(GraphedUNet.MAX_GRAPHS_PROPERTY);
            else System.setProperty(GraphedUNet.MAX_GRAPHS_PROPERTY, old);
        }
    }

    @Test
    void createPicksGraphsOnGraphBackendsUnlessTurnedOff() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            assertInstanceOf(EagerUNet.class, UNetRunner.create(unet, cpu));
        }
        assertInstanceOf(GraphedUNet.class, UNetRunner.create(unet, backend));
        String old = System.getProperty(UNetRunner.GRAPHS_PROPERTY);
        try {
            System.setProperty(UNetRunner.GRAPHS_PROPERTY, "false");
            assertInstanceOf(EagerUNet.class, UNetRunner.create(unet, backend));
        } finally {
            if (old == null) System.clearProperty(UNetRunner.GRAPHS_PROPERTY);
            else System.setProperty(UNetRunner.GRAPHS_PROPERTY, old);
        }
    }
}
