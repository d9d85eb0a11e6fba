package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The pipeline on a backend with graph replay ({@link RecordingBackend}, CUDA-graph semantics on the host) draws the
 * same pixels as on the same backend without it, for single generations and for continuous batching, where the UNet's
 * row count changes between steps.
 */
class GraphedPipelineTest {
    @TempDir
    static Path tmp;

    private static List<Rgb8Image> run(StableDiffusionPipeline pipeline) {
        List<Rgb8Image> images = new ArrayList<>();
        GenerationRequest guided = GenerationRequest.of("a red cube").withSteps(4).withGuidanceScale(7.5).withSeed(7);
        images.addAll(pipeline.generate(guided, null, null).images());
        // two requests batched step by step: 2 + 1 rows, then 1 row once the first one has finished
        Denoising a = pipeline.begin(guided.withSteps(2).withSeed(8));
        Denoising b = pipeline.begin(GenerationRequest.of("a blue sphere").withSteps(3).withGuidanceScale(1).withSeed(9));
        while (!b.finished()) {
            List<Denoising> group = new ArrayList<>();
            if (!a.finished()) group.add(a);
            group.add(b);
            pipeline.step(group);
        }
        images.addAll(pipeline.finish(a).images());
        images.addAll(pipeline.finish(b).images());
        return images;
    }

    @Test
    void graphReplayDrawsTheEagerPixels() throws IOException {
        Path model = ReferenceModelFolder.assemble(Reference.tiny().getParent(), tmp.resolve("tiny"), "ddim",
                ReferenceModelFolder.Tokenizer.TINY_BPE);
        List<Rgb8Image> eager, graphed;
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(model, new NaiveBackend())) {
            eager = run(p);
        }
        RecordingBackend recording = new RecordingBackend(new NaiveBackend());
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(model, recording)) {
            graphed = run(p);
            assertEquals(2, recording.graphsOpen(), "graphs for 2 and 3 rows stay, the 1-row graph was evicted");
        }
        assertEquals(0, recording.graphsOpen(), "closing the pipeline closes its graphs");
        assertEquals(eager.size(), graphed.size());
        for (int i = 0; i < eager.size(); i++) assertArrayEquals(eager.get(i).rgb(), graphed.get(i).rgb(), "image " + i);
    }
}
