package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CancellationException;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The checkpoint between blocks ({@code forward(..., checkpoint)}): called after {@code conv_in}, each down block, the
 * mid block and each up block, without changing the output; a throw from it abandons the pass there. And what
 * {@code forwardProjected} refuses as a time projection.
 */
class UNet2DConditionModelCheckpointTest {
    @Test
    void theCheckpointRunsBetweenBlocksAndCanAbandonThePass() {
        Path tiny = Reference.tiny();
        Map<String, Tensor> io = SafeTensors.readAll(tiny.resolve("unet_io.safetensors"));
        Backend backend = new NaiveBackend();
        try (Arena arena = Arena.ofConfined()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(tiny.resolve("unet"), backend, arena);
            Tensor sample = io.get("sample"), context = io.get("encoder_hidden_states");
            double[] ts = UNet2DConditionModelTest.timesteps(io.get("timesteps"));
            int blocks = unet.config().numBlocks();
            int[] calls = {0};
            Tensor out = backend.download(unet.forward(sample, ts, context, () -> calls[0]++));
            assertEquals(1 + blocks + 1 + blocks, calls[0], "conv_in, " + blocks + " down blocks, the mid block, " + blocks + " up blocks");
            Reference.assertClose("UNet with a checkpoint", io.get("out"), out, UNet2DConditionModelTest.TOLERANCE);
            for (int stop = 1; stop <= 2 + 2 * blocks; stop++) {
                int at = stop;
                int[] seen = {0};
                assertThrows(CancellationException.class, () -> unet.forward(sample, ts, context, () -> {
                    if (++seen[0] == at) throw new CancellationException("stop at " + at);
                }));
                assertEquals(stop, seen[0], "nothing runs past the throwing checkpoint");
            }
        }
    }

    @Test
    void forwardProjectedRefusesATimeProjectionOfTheWrongShape() {
        Path tiny = Reference.tiny();
        Backend backend = new NaiveBackend();
        try (Arena arena = Arena.ofConfined()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(tiny.resolve("unet"), backend, arena);
            int c0 = unet.config().blockOutChannels()[0];
            int d = unet.config().crossAttentionDim()[0];
            Tensor sample = Tensor.zeros(2, 4, 8, 8), context = Tensor.zeros(2, 7, d);
            String want = "UNet time projection must be [2, " + c0 + "], got ";
            for (Tensor bad : new Tensor[] {Tensor.zeros(2 * c0), Tensor.zeros(1, c0), Tensor.zeros(2, c0 + 1), Tensor.zeros(2, c0, 1)}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> unet.forwardProjected(sample, bad, context));
                assertTrue(e.getMessage().startsWith(want), e.getMessage());
            }
            Tensor tp = unet.timeProjection(new double[] {1, 2});
            Tensor ok = unet.forwardProjected(sample, tp, context);
            assertArrayEquals(new long[] {2, 4, 8, 8}, backend.download(ok).shape());
            // the sample and context checks of forward() hold for forwardProjected itself
            assertSampleRefused(() -> unet.forwardProjected(Tensor.zeros(2, 3, 8, 8), tp, context), "UNet sample must be [B, 4, h, w]");
            assertSampleRefused(() -> unet.forwardProjected(sample, tp, Tensor.zeros(2, 7, d + 1)), "UNet encoder_hidden_states must be [2, L, " + d + "]");
            // added conditioning for a UNet without addition_embed_type
            assertSampleRefused(() -> unet.forwardProjected(sample, tp, Tensor.zeros(2, 4 * c0), context),
                    "UNet: added conditioning given, but the config has no addition_embed_type");
        }
    }

    private static void assertSampleRefused(org.junit.jupiter.api.function.Executable call, String prefix) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
    }

    @Test
    void forwardRefusesEveryMisshapenInputBeforeUsingIt() {
        Path tiny = Reference.tiny();
        Backend backend = new NaiveBackend();
        try (Arena arena = Arena.ofConfined()) {
            UNet2DConditionModel unet = UNet2DConditionModel.load(tiny.resolve("unet"), backend, arena);
            int d = unet.config().crossAttentionDim()[0];
            Tensor ctx = Tensor.zeros(1, 7, d);
            double[] one = {1};
            assertSampleRefused(() -> unet.forward(Tensor.zeros(), one, ctx), "UNet sample must be [B, 4, h, w]");
            assertSampleRefused(() -> unet.forward(Tensor.zeros(1, 4, 8), one, ctx), "UNet sample must be [B, 4, h, w]");
            assertSampleRefused(() -> unet.forward(Tensor.zeros(1, 4, 8, 9), one, ctx), "UNet sample 8x9 is not a multiple of 2");
            assertSampleRefused(() -> unet.forward(Tensor.zeros(1, 4, 8, 8), one, Tensor.zeros(7, d)), "UNet encoder_hidden_states must be [1, L, " + d + "]");
            assertSampleRefused(() -> unet.forward(Tensor.zeros(1, 4, 8, 8), one, Tensor.zeros(2, 7, d)), "UNet encoder_hidden_states must be [1, L, " + d + "]");
            assertSampleRefused(() -> unet.forward(Tensor.zeros(1, 4, 8, 8), new double[] {1, 2}, ctx), "UNet: 2 timesteps for a batch of 1");
            // a timestep condition or added conditioning the config has no place for
            assertSampleRefused(() -> unet.conditionedTimeProjection(one, Tensor.zeros(1, 8)),
                    "UNet: a timestep condition was given but the config has no time_cond_proj_dim");
            assertSampleRefused(() -> unet.addedEmbedding(Tensor.zeros(1, 8)), "UNet: added conditioning given");
            assertNull(unet.addedEmbedding(null));
            assertEquals("this UNet has no time_cond_proj_dim",
                    assertThrows(IllegalStateException.class, () -> unet.guidanceEmbedding(new double[] {7})).getMessage());
            assertEquals("this UNet has no text_time added conditioning",
                    assertThrows(IllegalStateException.class, () -> unet.addEmbeds(Tensor.zeros(1, 8), Tensor.zeros(1, 6))).getMessage());
            assertEquals("this UNet has no text_time added conditioning",
                    assertThrows(IllegalStateException.class, () -> unet.addEmbeds(Tensor.zeros(1, 8), null)).getMessage());
            assertEquals("this UNet has no text_time added conditioning",
                    assertThrows(IllegalStateException.class, () -> unet.config().textEmbedsDim()).getMessage());
            assertEquals("this UNet has no text_time added conditioning",
                    assertThrows(IllegalStateException.class, () -> unet.config().textEmbedsDim(5)).getMessage());
            // the LoRA-patchable weights by diffusers key
            assertTrue(unet.params().containsKey("conv_in.weight"), unet.params().keySet().toString());
            assertTrue(unet.params().containsKey("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"));
            assertTrue(unet.config().toString().startsWith("UNet2DConditionConfig[in=4, out=4, blocks=["), unet.config().toString());
        }
    }

    @Test
    void guidanceScaleEmbeddingWidths() {
        // half = dim / 2 frequencies, at least 2 (the step divides by half - 1): width 4 is the smallest
        Tensor four = UNet2DConditionModel.guidanceScaleEmbedding(new double[] {0}, 4);
        assertArrayEquals(new float[] {0, 0, 1, 1}, four.toFloatArray());
        assertThrows(IllegalArgumentException.class, () -> UNet2DConditionModel.guidanceScaleEmbedding(new double[] {1}, 3));
    }
}
