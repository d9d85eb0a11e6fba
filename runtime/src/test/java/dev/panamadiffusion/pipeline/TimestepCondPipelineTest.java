package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.schedulers.SchedulerConfig;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The pipeline on an LCM-distilled UNet ({@code time_cond_proj_dim}, the repository's {@code reference/few-step/lcm_w}):
 * guidance runs no CFG but conditions each request's rows on its own w embedding, also when requests with different
 * guidance share a UNet batch, and through graph replay.
 */
class TimestepCondPipelineTest {
    private static final Path SET = Path.of(System.getProperty("pd.home", "..")).resolve("reference/few-step/lcm_w");

    /** Final latents of requests (guidance, seed) run alone, then all in one UNet batch per step. */
    private static Tensor[][] run(Backend backend, double[] guidance, long seed) {
        assertTrue(Files.isDirectory(SET), "missing " + SET + " (-Dpd.home)");
        Map<String, Tensor> loop = SafeTensors.readAll(SET.resolve("loop_lcm_cfg8.safetensors"));
        SchedulerConfig config = SchedulerConfig.read(SET.resolve("scheduler_lcm/scheduler_config.json"));
        try (Arena arena = Arena.ofConfined()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(SET.resolve("unet"), backend, arena);
            try (StableDiffusionPipeline p = StableDiffusionPipeline.fromComponents(backend, unet,
                    UNetRunner.create(unet, backend), null, config, "LCM")) {
                PipelineInputs inputs = new PipelineInputs(loop.get("cond_emb"), null, null, null);
                Tensor[][] out = new Tensor[2][guidance.length];
                Denoising[] together = new Denoising[guidance.length];
                for (int i = 0; i < guidance.length; i++) {
                    GenerationRequest r = new GenerationRequest("", "", 4, guidance[i], null, seed, 64, 64, 1, 0, RngKind.TORCH);
                    Denoising alone = p.begin(r, inputs);
                    assertFalse(alone.guided(), "no classifier-free guidance on a w-embedding UNet");
                    assertEquals(1, alone.rows());
                    assertArrayEquals(new long[] {1, 256}, alone.timestepCond().shape());
                    while (!alone.finished()) p.step(List.of(alone));
                    out[0][i] = alone.latents();
                    together[i] = p.begin(r, inputs);
                }
                while (!together[0].finished()) p.step(List.of(together));
                for (int i = 0; i < guidance.length; i++) out[1][i] = together[i].latents();
                return out;
            }
        }
    }

    @Test
    void eachRequestKeepsItsOwnGuidanceEmbedding() {
        double[] guidance = {8, 2, 8};
        Tensor[][] eager = run(new NaiveBackend(), guidance, 14);
        Map<String, Tensor> loop = SafeTensors.readAll(SET.resolve("loop_lcm_cfg8.safetensors"));
        float[] ref = loop.get("final_latents").toFloatArray();
        float[] got = eager[0][0].toFloatArray();
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < ref.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(got[i] - ref[i]));
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
        }
        assertTrue(maxDiff / maxRef < 1e-4, "guidance 8, seed 14 vs diffusers: " + maxDiff / maxRef);
        assertFalse(java.util.Arrays.equals(eager[0][0].toFloatArray(), eager[0][1].toFloatArray()),
                "w = 7 and w = 1 give different latents from the same seed");
        assertArrayEquals(eager[0][0].toFloatArray(), eager[0][2].toFloatArray());
        for (int i = 0; i < guidance.length; i++) {
            assertArrayEquals(eager[0][i].toFloatArray(), eager[1][i].toFloatArray(), "request " + i + " alone vs batched");
        }
        Tensor[][] graphed = run(new RecordingBackend(new NaiveBackend()), guidance, 14);
        for (int i = 0; i < guidance.length; i++) {
            assertArrayEquals(eager[0][i].toFloatArray(), graphed[0][i].toFloatArray(), "request " + i + " graph replay");
            assertArrayEquals(eager[1][i].toFloatArray(), graphed[1][i].toFloatArray(), "request " + i + " batched, graphs");
        }
    }
}
