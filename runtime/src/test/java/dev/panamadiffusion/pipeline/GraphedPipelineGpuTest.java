package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The tiny model's txt2img on the CUDA backend with CUDA-graph UNet steps (the default), against the same with graphs
 * off ({@code -Dpd.cuda.graphs=false}: the same kernels, so within one 8-bit level) and against the CPU backend (f16
 * against f32: a few levels on average). Skipped without a GPU.
 */
@Tag("gpu")
class GraphedPipelineGpuTest {
    @TempDir
    static Path tmp;

    private static List<Rgb8Image> draw(Path model, dev.panamadiffusion.backend.Backend backend) {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(model, backend)) {
            GenerationRequest r = GenerationRequest.of("a red cube").withSteps(6).withGuidanceScale(7.5).withSeed(3).withBatchSize(2);
            return p.generate(r, null, null).images();
        }
    }

    /** {max, mean} absolute difference in 8-bit levels. */
    private static double[] diff(Rgb8Image a, Rgb8Image b) {
        byte[] x = a.rgb(), y = b.rgb();
        assertEquals(x.length, y.length);
        double max = 0, sum = 0;
        for (int i = 0; i < x.length; i++) {
            int d = Math.abs((x[i] & 0xff) - (y[i] & 0xff));
            max = Math.max(max, d);
            sum += d;
        }
        return new double[] {max, sum / x.length};
    }

    @Test
    void graphedStepsDrawTheEagerAndTheCpuPixels() throws IOException {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        Path model = ReferenceModelFolder.assemble(Reference.tiny().getParent(), tmp.resolve("tiny"), "ddim",
                ReferenceModelFolder.Tokenizer.TINY_BPE);
        List<Rgb8Image> cpu, graphed, eager;
        try (CpuBackend backend = new CpuBackend()) {
            cpu = draw(model, backend);
        }
        try (CudaBackend backend = new CudaBackend(1L << 30)) {
            graphed = draw(model, backend);
            String old = System.getProperty(UNetRunner.GRAPHS_PROPERTY);
            System.setProperty(UNetRunner.GRAPHS_PROPERTY, "false");
            try {
                eager = draw(model, backend);
            } finally {
                if (old == null) System.clearProperty(UNetRunner.GRAPHS_PROPERTY);
                else System.setProperty(UNetRunner.GRAPHS_PROPERTY, old);
            }
        }
        for (int i = 0; i < cpu.size(); i++) {
            double[] vsEager = diff(graphed.get(i), eager.get(i)), vsCpu = diff(graphed.get(i), cpu.get(i));
            System.out.printf("[gpu] image %d: graphed vs eager CUDA max %.0f mean %.3f levels; vs CPU max %.0f mean %.3f%n",
                    i, vsEager[0], vsEager[1], vsCpu[0], vsCpu[1]);
            assertTrue(vsEager[0] <= 1, "image " + i + ": graphed vs eager CUDA differ by " + vsEager[0] + " levels");
            assertTrue(vsCpu[1] <= 3, "image " + i + ": CUDA vs CPU differ by " + vsCpu[1] + " levels on average");
        }
    }
}
