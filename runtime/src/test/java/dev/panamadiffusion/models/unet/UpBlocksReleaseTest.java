package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.io.ModelFiles;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.models.ReleaseLedger;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The memory hand-back of the up blocks ({@code Backend.release}), on a backend that keeps the books
 * ({@link ReleaseLedger}): a block releases each skip connection it takes and each of its own intermediates once the
 * next op has read it, never the caller's input x nor its own output, and reads nothing it released. Only results
 * smaller than a feature map (the time-embedding projection, the text's keys and values: below the CPU pool's
 * minimum) may be left to the collector. The tiny UNet's blocks: up 0 is an UpBlock2D with an upsampler, up 1 a
 * CrossAttnUpBlock2D without one (the last block); the other two cases are built from the same weights.
 */
class UpBlocksReleaseTest {
    private static final int H = 4, W = 4, L = 3;

    private record Run(Tensor x, List<Tensor> skips, Tensor out, List<Tensor> leftOver) {}

    private static Map<String, Tensor> weights(Arena arena) {
        return new LinkedHashMap<>(ModelFiles.loadWeights(Reference.tiny().resolve("unet"), arena));
    }

    private static UNet2DConditionConfig config() {
        return UNet2DConditionConfig.read(Reference.tiny().resolve("unet/config.json"));
    }

    private static Tensor values(ReleaseLedger ledger, long... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = (float) Math.sin(0.7 * i + shape.length);
        return ledger.scale(ledger.upload(Tensor.fromFloats(v, shape)), 1f); // an op result: one the ledger can see released
    }

    /** Runs {@code block} on x [1, prevOut, H, W] and skips of {@code skipChannels} (taken from the end), as the UNet does. */
    private static Run run(ReleaseLedger ledger, UNetUpBlock block, int prevOut, int... skipChannels) {
        UNet2DConditionConfig c = config();
        Tensor x = values(ledger, 1, prevOut, H, W);
        Tensor temb = values(ledger, 1, c.timeEmbedDim());
        Tensor context = values(ledger, 1, L, c.crossAttentionDim()[0]);
        Tensor below = values(ledger, 1, 32, H, W); // a deeper block's skip: not this block's to take
        List<Tensor> residuals = new ArrayList<>(List.of(below));
        List<Tensor> skips = new ArrayList<>();
        for (int ch : skipChannels) {
            Tensor s = values(ledger, 1, ch, H, W);
            residuals.add(s);
            skips.add(s);
        }
        int mark = ledger.mark();
        Tensor out = block.forward(x, residuals, temb, context);
        assertEquals(List.of(below), residuals, "the block takes exactly its skips, from the end");
        assertFalse(ledger.isReleased(below), "a skip the block did not take");
        assertFalse(ledger.isReleased(temb) || ledger.isReleased(context), "temb and context are the caller's");
        List<Tensor> left = new ArrayList<>();
        for (Tensor t : ledger.liveSince(mark)) if (t != out) left.add(t);
        return new Run(x, skips, out, left);
    }

    private static void assertHandsBack(ReleaseLedger ledger, Run r, long[] outShape) {
        assertArrayEquals(outShape, r.out().shape());
        assertFalse(ledger.isReleased(r.x()), "x is the caller's: the UNet releases it after the block");
        assertFalse(ledger.isReleased(r.out()), "the output is the caller's");
        for (Tensor s : r.skips()) assertTrue(ledger.isReleased(s), "a skip the block took is released: " + s);
        long featureMap = 32L * H * W; // the smallest activation here
        for (Tensor t : r.leftOver()) {
            assertTrue(t.numel() < featureMap, "an intermediate of feature-map size left to the collector: " + t);
        }
    }

    @Test
    void upBlock2DWithAnUpsamplerReleasesItsSkipsAndIntermediates() {
        ReleaseLedger ledger = new ReleaseLedger();
        try (Arena arena = Arena.ofConfined()) {
            Weights w = Weights.of(weights(arena), ledger, "tiny unet");
            // up 0: prev 64 (mid block), out 64, last skip 32 (down block 0); two resnets (layers_per_block + 1)
            UpBlock2D block = new UpBlock2D(w.pp("up_blocks").pp(0), config(), 0, 64, 32, 64, true);
            // residuals end [..., down 0's 32-channel output, down 1's 64-channel resnet]: taken last first
            Run r = run(ledger, block, 64, 32, 64);
            assertHandsBack(ledger, r, new long[] {1, 64, 2 * H, 2 * W});
        }
    }

    @Test
    void upBlock2DAsTheLastBlockReturnsItsLastResnetsOutput() {
        ReleaseLedger ledger = new ReleaseLedger();
        try (Arena arena = Arena.ofConfined()) {
            Weights w = Weights.of(weights(arena), ledger, "tiny unet");
            UpBlock2D block = new UpBlock2D(w.pp("up_blocks").pp(0), config(), 0, 64, 32, 64, false);
            Run r = run(ledger, block, 64, 32, 64);
            assertHandsBack(ledger, r, new long[] {1, 64, H, W});
        }
    }

    @Test
    void crossAttnUpBlock2DAsTheLastBlockReleasesItsSkipsAndIntermediates() {
        ReleaseLedger ledger = new ReleaseLedger();
        try (Arena arena = Arena.ofConfined()) {
            Weights w = Weights.of(weights(arena), ledger, "tiny unet");
            // up 1: prev 64, out 32, last skip 32 (conv_in's output); no upsampler
            CrossAttnUpBlock2D block = new CrossAttnUpBlock2D(w.pp("up_blocks").pp(1), config(), 1, 64, 32, 32, false);
            Run r = run(ledger, block, 64, 32, 32);
            assertHandsBack(ledger, r, new long[] {1, 32, H, W});
        }
    }

    @Test
    void crossAttnUpBlock2DWithAnUpsamplerReleasesWhatItUpsampled() {
        ReleaseLedger ledger = new ReleaseLedger();
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> weights = weights(arena);
            // the tiny UNet's CrossAttnUpBlock2D is its last; give it the upsampler a deeper one has
            float[] k = new float[32 * 32 * 9];
            for (int i = 0; i < k.length; i++) k[i] = (float) Math.cos(i) / 100;
            weights.put("up_blocks.1.upsamplers.0.conv.weight", Tensor.fromFloats(k, 32, 32, 3, 3));
            weights.put("up_blocks.1.upsamplers.0.conv.bias", Tensor.zeros(32));
            Weights w = Weights.of(weights, ledger, "tiny unet with an upsampler in up 1");
            CrossAttnUpBlock2D block = new CrossAttnUpBlock2D(w.pp("up_blocks").pp(1), config(), 1, 64, 32, 32, true);
            Run r = run(ledger, block, 64, 32, 32);
            assertHandsBack(ledger, r, new long[] {1, 32, 2 * H, 2 * W});
        }
    }

    @Test
    void theWholeUNetReadsNothingItReleasedAndStillMatchesDiffusers() {
        Map<String, Tensor> io = SafeTensors.readAll(Reference.tiny().resolve("unet_io.safetensors"));
        ReleaseLedger ledger = new ReleaseLedger();
        try (Arena arena = Arena.ofConfined()) {
            Path dir = Reference.tiny().resolve("unet");
            UNet2DConditionModel unet = UNet2DConditionModel.load(dir, ledger, arena);
            Tensor sample = ledger.scale(ledger.upload(io.get("sample")), 1f);
            Tensor context = ledger.scale(ledger.upload(io.get("encoder_hidden_states")), 1f);
            int mark = ledger.mark();
            Tensor out = unet.forward(sample, UNet2DConditionModelTest.timesteps(io.get("timesteps")), context);
            Reference.assertClose("UNet on the ledger", io.get("out"), ledger.download(out), UNet2DConditionModelTest.TOLERANCE);
            assertFalse(ledger.isReleased(sample) || ledger.isReleased(context), "the inputs are the caller's");
            long featureMap = sample.dim(0) * 32L * (sample.dim(2) / 2) * (sample.dim(3) / 2); // the smallest activation
            for (Tensor t : ledger.liveSince(mark)) {
                assertTrue(t == out || t.numel() < featureMap, "an activation left to the collector: " + t);
            }
        }
    }
}
