package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.testing.TinyModel;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * The same request gives the same bits every time in one JVM, before and after the JIT compiles the CPU kernels
 * (the Vector API's own exp and lane reductions differ between the two, which once made runs 3 to 6 differ).
 */
class DeterminismTest {
    @Test
    void sameSeedSameLatentsAcrossJitTiers(@TempDir Path tmp) throws Exception {
        Path model = TinyModel.assemble(tmp.resolve("tiny-sd"), "euler_a", TinyModel.Tokenizer.TINY_BPE);
        GenerationRequest r = GenerationRequest.of("a horse").withNegativePrompt("blurry").withSteps(3).withSeed(42)
                .withSize(32, 16).withBatchSize(2).withSampler("Euler a");
        try (CpuBackend backend = new CpuBackend(); StableDiffusionPipeline p = StableDiffusionPipeline.load(model, backend)) {
            float[] first = null;
            byte[] firstPixels = null;
            for (int run = 0; run < 12; run++) {
                Denoising d = p.begin(r);
                while (!d.finished()) p.step(java.util.List.of(d));
                float[] latents = d.latents().toFloatArray();
                byte[] pixels = p.finish(d).images().get(1).rgb();
                if (first == null) {
                    first = latents;
                    firstPixels = pixels;
                } else {
                    assertArrayEquals(first, latents, "run " + run + " latents");
                    assertArrayEquals(firstPixels, pixels, "run " + run + " pixels");
                }
            }
        }
    }
}
