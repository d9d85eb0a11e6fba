package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A batch with per-image seeds (AUTOMATIC1111's and stable-diffusion.cpp's numbering, diffusers' list of generators):
 * image i is the image a batch of one makes from seed + i, on an ancestral sampler too (its step noise comes from
 * the image's own stream), and says so in its seed and infotext; on the tiny reference model.
 */
class PerImageSeedsTest {
    @TempDir
    static Path tmp;
    private static StableDiffusionPipeline pipeline;

    @BeforeAll
    static void load() throws Exception {
        Path model = ReferenceModelFolder.assemble(Reference.tiny().getParent(), tmp.resolve("tiny-sd"), "ddim",
                ReferenceModelFolder.Tokenizer.TINY_BPE);
        pipeline = StableDiffusionPipeline.load(model, new NaiveBackend());
    }

    @AfterAll
    static void close() {
        if (pipeline != null) pipeline.close();
    }

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
