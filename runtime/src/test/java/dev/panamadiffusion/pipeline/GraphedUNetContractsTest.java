package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.panamadiffusion.pipeline.Gaussian.gaussian;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GraphedUNet's contracts beyond plain replay (GraphedUNetTest): SDXL's added conditioning is an input of the replay,
 * any host dtype of sample is taken, weight changes drop the recordings, close reports a failing graph and forgets
 * every shape, the recording time is a duration, and the cache-size property's edge values.
 */
class GraphedUNetContractsTest {
    private Arena arena;
    private RecordingBackend backend;

    @BeforeEach
    void open() {
        arena = Arena.ofShared();
        backend = new RecordingBackend(new NaiveBackend());
    }

    @AfterEach
    void close() {
        backend.close();
        arena.close();
    }

    private UNet2DConditionModel tinyUNet() {
        return UNet2DConditionModel.load(Reference.tiny().resolve("unet"), backend, arena);
    }

    @Test
    void sdxlAddedConditioningIsFedToEveryReplay() {
        Path set = SdxlPipelineTest.referenceModel("sdxl");
        UNet2DConditionModel unet = UNet2DConditionModel.load(set.resolve("unet"), backend, arena);
        EagerUNet eager = new EagerUNet(unet, backend);
        Tensor context = backend.upload(gaussian(10, 1, 77, 64));
        Tensor sample = gaussian(1, 1, 4, 8, 8);
        try (GraphedUNet graphed = new GraphedUNet(unet, backend, 2)) {
            graphed.predict(sample, new double[] {500}, null, gaussian(20, 1, 80), context);   // records
            Tensor other = gaussian(21, 1, 80);
            float[] replayed = graphed.predict(sample, new double[] {500}, null, other, context).toFloatArray();
            assertEquals(1, graphed.replays());
            assertArrayEquals(eager.predict(sample, new double[] {500}, null, other, context).toFloatArray(), replayed,
                    "the replay uses this step's text_embeds and time_ids");
        }
    }

    @Test
    void anF16SampleIsTakenAsItsValues() {
        UNet2DConditionModel unet = tinyUNet();
        EagerUNet eager = new EagerUNet(unet, backend);
        Tensor context = backend.upload(gaussian(10, 1, 77, 32));
        Tensor sample = gaussian(1, 1, 4, 8, 8).to(DType.F16);
        try (GraphedUNet graphed = new GraphedUNet(unet, backend, 2)) {
            float[] first = graphed.predict(sample, new double[] {700}, context).toFloatArray();
            assertArrayEquals(eager.predict(sample.to(DType.F32), new double[] {700}, context).toFloatArray(), first);
            // the checkpointed form (ignored by a whole replay) answers the same
            AtomicInteger checks = new AtomicInteger();
            Tensor viaCheckpoint = graphed.predict(sample, new double[] {700}, context, checks::incrementAndGet);
            assertArrayEquals(first, viaCheckpoint.toFloatArray());
            Tensor viaBoth = graphed.predict(sample, new double[] {700}, null, context, checks::incrementAndGet);
            assertArrayEquals(first, viaBoth.toFloatArray());
        }
    }

    @Test
    void changedWeightsDropEveryRecording() {
        UNet2DConditionModel unet = tinyUNet();
        Tensor context = backend.upload(gaussian(10, 1, 77, 32));
        try (GraphedUNet graphed = new GraphedUNet(unet, backend, 3)) {
            graphed.predict(gaussian(1, 1, 4, 8, 8), new double[] {900}, context);
            graphed.predict(gaussian(2, 1, 4, 16, 16), new double[] {900}, context);
            assertEquals(2, backend.graphsOpen());
            graphed.weightsChanged();
            assertEquals(0, backend.graphsOpen());
            assertEquals(List.of(), graphed.cachedShapes());
            graphed.predict(gaussian(3, 1, 4, 8, 8), new double[] {800}, context);
            assertEquals(3, graphed.captures(), "recorded anew over the new weights");
            assertEquals(0, graphed.replays());
        }
    }

    @Test
    void recordingTimeIsWithinTheWallTime() {
        UNet2DConditionModel unet = tinyUNet();
        Tensor context = backend.upload(gaussian(10, 1, 77, 32));
        try (GraphedUNet graphed = new GraphedUNet(unet, backend, 1)) {
            long t0 = System.nanoTime();
            graphed.predict(gaussian(1, 1, 4, 8, 8), new double[] {900}, context);
            long wall = System.nanoTime() - t0;
            assertTrue(graphed.recordingNanos() > 0 && graphed.recordingNanos() <= wall,
                    graphed.recordingNanos() + " ns recording in " + wall + " ns");
        }
    }

    @Test
    void closeClosesEveryGraphReportsTheFirstFailureAndForgetsTheShapes() {
        UNet2DConditionModel unet = tinyUNet();
        Tensor context = backend.upload(gaussian(10, 1, 77, 32));
        GraphedUNet graphed = new GraphedUNet(unet, backend, 3);
        graphed.predict(gaussian(1, 1, 4, 8, 8), new double[] {900}, context);
        graphed.predict(gaussian(2, 1, 4, 16, 16), new double[] {900}, context);
        backend.failGraphClose();
        IllegalStateException e = assertThrows(IllegalStateException.class, graphed::close);
        assertEquals("graph close failed (1 open)", e.getMessage());
        assertEquals(1, e.getSuppressed().length, "the second graph's failure rides along");
        assertEquals("graph close failed (0 open)", e.getSuppressed()[0].getMessage());
        assertEquals(0, backend.graphsOpen(), "both closed despite the first failure");
        assertEquals(List.of(), graphed.cachedShapes(), "a closed runner holds no recordings");
        graphed.close();   // a second close is a no-op
    }

    @Test
    void closeForgetsTheShapes() {
        UNet2DConditionModel unet = tinyUNet();
        Tensor context = backend.upload(gaussian(10, 1, 77, 32));
        GraphedUNet graphed = new GraphedUNet(unet, backend, 3);
        graphed.predict(gaussian(1, 1, 4, 8, 8), new double[] {900}, context);
        graphed.close();
        assertEquals(0, backend.graphsOpen());
        assertEquals(List.of(), graphed.cachedShapes());
    }

    @Test
    void cacheSizeEdges() {
        String old = System.getProperty(GraphedUNet.MAX_GRAPHS_PROPERTY);
        try {
            System.setProperty(GraphedUNet.MAX_GRAPHS_PROPERTY, "1");
            assertEquals(1, GraphedUNet.maxGraphsSetting(), "one shape is the least allowed");
            System.setProperty(GraphedUNet.MAX_GRAPHS_PROPERTY, "   ");
            assertEquals(GraphedUNet.DEFAULT_MAX_GRAPHS, GraphedUNet.maxGraphsSetting(), "blank is unset");
            System.clearProperty(GraphedUNet.MAX_GRAPHS_PROPERTY);
            assertEquals(GraphedUNet.DEFAULT_MAX_GRAPHS, GraphedUNet.maxGraphsSetting());
        } finally {
            if (old == null) System.clearProperty(GraphedUNet.MAX_GRAPHS_PROPERTY);
            else System.setProperty(GraphedUNet.MAX_GRAPHS_PROPERTY, old);
        }
    }
}
