package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.lora.LoraSpec;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.verify.ReferenceModelFolder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * setLoras / clearLoras on a pipeline whose UNet steps replay recorded graphs: a LoRA applied after a generation is
 * in the next one (the recordings over the old weights are dropped), exactly as an eager pipeline with the same LoRA
 * gives it, and removing it restores the base result bit for bit.
 */
class PipelineLoraSwapTest {
    @TempDir
    Path tmp;

    private static GenerationRequest request() {
        return GenerationRequest.of("a photograph of an astronaut riding a horse").withSteps(3).withGuidanceScale(7.5)
                .withSeed(5).withSize(16, 16);
    }

    private static float[] latents(StableDiffusionPipeline p) {
        return p.generate(request(), null, null).latents().toFloatArray();
    }

    @Test
    void aLoraAppliedBetweenGenerationsIsInTheNextAndRemovingItRestoresTheBase() throws Exception {
        Path model = ReferenceModelFolder.assemble(Reference.tiny().getParent(), tmp.resolve("tiny-sd"), "ddim",
                ReferenceModelFolder.Tokenizer.TINY_BPE);
        List<LoraSpec> kohya = List.of(new LoraSpec(Path.of(System.getProperty("pd.home", "..")).resolve("reference/lora/loras/kohya.safetensors"), 0.8));
        float[] eagerWithLora;
        try (StableDiffusionPipeline eager = StableDiffusionPipeline.load(model, new NaiveBackend())) {
            eager.setLoras(kohya);
            eagerWithLora = latents(eager);
        }
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(model, new RecordingBackend(new NaiveBackend()))) {
            float[] base = latents(p);
            p.setLoras(kohya);
            assertEquals(kohya, p.loras());
            float[] withLora = latents(p);
            assertFalse(Arrays.equals(base, withLora), "the LoRA moves the result");
            assertArrayEquals(eagerWithLora, withLora, "the replay runs over the LoRA's weights");
            p.clearLoras();
            assertEquals(List.of(), p.loras());
            assertArrayEquals(base, latents(p), "removing restores the base weights");
        }
    }
}
