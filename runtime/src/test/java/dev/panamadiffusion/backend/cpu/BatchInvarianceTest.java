package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * An image comes out of every op the same bits whether it ran alone or batched with others, and whatever the thread
 * count: a server batches requests, and a seed must make the same picture either way (and on any machine). Each op
 * runs on batches of 1 to 5 random images and on 1 to 3 threads; every image of every batch is compared bit for bit
 * with that image run alone on 2 threads. The shapes cross each path's switches: Winograd's tiles per image, the
 * convolution's column chunks that span images and its shared columns, the GEMM's row blocks that straddle images.
 */
class BatchInvarianceTest {
    private static final int[] BATCHES = {1, 2, 3, 5};
    private static final CpuBackend[] BACKENDS = {new CpuBackend(1), new CpuBackend(2), new CpuBackend(3)};
    /** The image alone runs here; the batches run on every backend. */
    private static final CpuBackend ALONE = BACKENDS[1];

    @AfterAll
    static void close() {
        for (CpuBackend b : BACKENDS) b.close();
    }

    /** One op on its batched inputs (each [B, ...], the same B), the backend to run on. */
    private interface Op extends BiFunction<CpuBackend, Tensor[], Tensor> {}

    /**
     * Runs {@code op} on batches of images made by {@code perImage} (one image's inputs, each of leading dimension 1)
     * and checks each image of each batch against the image alone.
     */
    private static void check(String what, long seed, int[] batches, long[][] perImage, Op op) {
        SplittableRandom random = new SplittableRandom(seed);
        int most = Arrays.stream(batches).max().orElseThrow();
        List<float[][]> images = new ArrayList<>(); // images.get(i)[input]
        for (int i = 0; i < most; i++) {
            float[][] inputs = new float[perImage.length][];
            for (int j = 0; j < perImage.length; j++) {
                long n = Arrays.stream(perImage[j]).reduce(1, (a, b) -> a * b);
                inputs[j] = new float[Math.toIntExact(n)];
                for (int e = 0; e < n; e++) inputs[j][e] = (float) (random.nextGaussian());
            }
            images.add(inputs);
        }
        int[][] alone = new int[most][];
        for (int i = 0; i < most; i++) alone[i] = bits(op.apply(ALONE, batch(images.subList(i, i + 1), perImage)));
        for (CpuBackend backend : BACKENDS) {
            for (int b : batches) {
                int[] got = bits(op.apply(backend, batch(images.subList(0, b), perImage)));
                int per = got.length / b;
                for (int i = 0; i < b; i++) {
                    int[] image = Arrays.copyOfRange(got, i * per, (i + 1) * per);
                    int at = Arrays.mismatch(alone[i], image);
                    if (at >= 0) {
                        fail(what + ": image " + i + " of a batch of " + b + " on " + backend.threads() + " threads differs from it alone at "
                                + "element " + at + " of " + per + ": " + Float.intBitsToFloat(image[at]) + " against "
                                + Float.intBitsToFloat(alone[i][at]));
                    }
                }
            }
        }
    }

    private static void check(String what, long[][] perImage, Op op) {
        check(what, what.hashCode(), BATCHES, perImage, op);
    }

    /** The images' inputs stacked along the leading dimension. */
    private static Tensor[] batch(List<float[][]> images, long[][] perImage) {
        Tensor[] out = new Tensor[perImage.length];
        for (int j = 0; j < perImage.length; j++) {
            int per = images.getFirst()[j].length;
            float[] all = new float[per * images.size()];
            for (int i = 0; i < images.size(); i++) System.arraycopy(images.get(i)[j], 0, all, i * per, per);
            long[] shape = perImage[j].clone();
            shape[0] = images.size();
            out[j] = Tensor.fromFloats(all, shape);
        }
        return out;
    }

    private static int[] bits(Tensor t) {
        float[] v = t.toFloatArray();
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) b[i] = Float.floatToRawIntBits(v[i]);
        return b;
    }

    private static Tensor weights(long seed, float scale, long... shape) {
        SplittableRandom random = new SplittableRandom(seed);
        int n = Math.toIntExact(Arrays.stream(shape).reduce(1, (a, b) -> a * b));
        float[] w = new float[n];
        for (int i = 0; i < n; i++) w[i] = (float) (random.nextGaussian() * scale);
        return Tensor.fromFloats(w, shape);
    }

    private static long[] s(long... shape) { return shape; }

    // ---- convolutions ---------------------------------------------------------------------------------------

    /** 3x3, padding 1, over c x h x w images into o channels. */
    private static void conv3x3(int c, int h, int w, int o) {
        Tensor weight = weights(c * 31L + o, 0.1f, o, c, 3, 3), bias = weights(o, 0.1f, o);
        check("conv3x3 " + c + "x" + h + "x" + w + "->" + o, new long[][] {s(1, c, h, w)},
                (cpu, x) -> cpu.conv2d(x[0], weight, bias, 1, 1));
    }

    @Test
    void winogradWhereAnImageHasEnoughTiles() {
        assertWinograd(true, 64, 32, 32, 64);
        conv3x3(64, 32, 32, 64); // 64 tiles of 4x4 an image: F(4x4, 3x3) at every batch size
        assertWinograd(true, 64, 16, 16, 64);
        conv3x3(64, 16, 16, 64); // 16 of 4x4, 64 of 2x2: F(2x2, 3x3) at every batch size
    }

    @Test
    void directWhereAnImageHasTooFewTilesHoweverManyTheBatchHas() {
        assertWinograd(false, 64, 12, 12, 64);
        conv3x3(64, 12, 12, 64); // 36 tiles of 2x2 an image: a batch of 2 has 72
    }

    @Test
    void directColumnsSpanningImages() {
        conv3x3(24, 8, 8, 20);   // 64 pixels an image: chunks span images
        conv3x3(24, 16, 16, 13); // a chunk an image
    }

    @Test
    void directColumnsWithinImages() {
        conv3x3(10, 7, 9, 11); // 63 pixels: chunks stay within images
        conv3x3(5, 3, 2, 7);
    }

    @Test
    void sharedColumnsOnFewPixels() {
        conv3x3(300, 4, 4, 120); // one chunk, 20 weight panels: 4 or more tasks share its columns
        conv3x3(96, 8, 8, 200);
    }

    @Test
    void upsampledStridedAndPointwise() {
        Tensor w3 = weights(3, 0.1f, 70, 66, 3, 3), b3 = weights(4, 0.1f, 70);
        check("upsample2x+conv 66x8x8->70", new long[][] {s(1, 66, 8, 8)}, (cpu, x) -> cpu.upsampleNearest2xConv2d(x[0], w3, b3, 1));
        check("upsample2x+conv 66x16x16->70 (Winograd)", new long[][] {s(1, 66, 16, 16)},
                (cpu, x) -> cpu.upsampleNearest2xConv2d(x[0], w3, b3, 1));
        check("conv stride 2", new long[][] {s(1, 66, 9, 10)}, (cpu, x) -> cpu.conv2d(x[0], w3, b3, 2, 1));
        Tensor w1 = weights(5, 0.1f, 33, 40, 1, 1);
        check("conv 1x1", new long[][] {s(1, 40, 6, 11)}, (cpu, x) -> cpu.conv2d(x[0], w1, null, 1, 0));
    }

    private static void assertWinograd(boolean expected, int c, int h, int w, int o) {
        for (int n : BATCHES) {
            if (WinogradCpu.applies(n, c, h, w, o, 3, 3, 1, 1) != expected) {
                fail("Winograd " + (expected ? "not taken" : "taken") + " for " + n + " x " + c + "x" + h + "x" + w);
            }
        }
    }

    // ---- matrix products and attention ----------------------------------------------------------------------

    @Test
    void linearWhoseRowBlocksStraddleImages() {
        Tensor w = weights(7, 0.05f, 70, 300), bias = weights(8, 0.1f, 70);
        check("linear 77 tokens", new long[][] {s(1, 77, 300)}, (cpu, x) -> cpu.linear(x[0], w, bias));
        Tensor wide = weights(9, 0.05f, 1000, 40);
        check("linear 3 tokens into 1000", new long[][] {s(1, 3, 40)}, (cpu, x) -> cpu.linear(x[0], wide, null));
        Tensor deep = weights(10, 0.05f, 33, 600);
        check("linear 200 tokens, k 600", new long[][] {s(1, 200, 600)}, (cpu, x) -> cpu.linear(x[0], deep, null));
    }

    @Test
    void attention() {
        check("self-attention 100 tokens", new long[][] {s(1, 100, 64), s(1, 100, 64), s(1, 100, 64)},
                (cpu, x) -> cpu.attention(x[0], x[1], x[2], 2, false));
        check("cross-attention 300 over 77", new long[][] {s(1, 300, 80), s(1, 77, 80), s(1, 77, 80)},
                (cpu, x) -> cpu.attention(x[0], x[1], x[2], 2, false));
        check("causal attention 77 tokens", new long[][] {s(1, 77, 48), s(1, 77, 48), s(1, 77, 48)},
                (cpu, x) -> cpu.attention(x[0], x[1], x[2], 3, true));
    }

    // ---- normalisation, elementwise, layout -------------------------------------------------------------------

    @Test
    void normsAndElementwise() {
        Tensor g = weights(11, 1f, 64), b = weights(12, 1f, 64);
        check("groupNorm+silu", new long[][] {s(1, 64, 5, 7)}, (cpu, x) -> cpu.groupNorm(x[0], 8, g, b, 1e-5f, true));
        check("groupNorm", new long[][] {s(1, 64, 9)}, (cpu, x) -> cpu.groupNorm(x[0], 32, g, b, 1e-6f, false));
        check("layerNorm", new long[][] {s(1, 37, 64)}, (cpu, x) -> cpu.layerNorm(x[0], g, b, 1e-5f));
        check("geglu", new long[][] {s(1, 37, 2 * 45)}, (cpu, x) -> cpu.geglu(x[0]));
        check("gelu", new long[][] {s(1, 3, 1001)}, (cpu, x) -> cpu.gelu(x[0]));
        check("quickGelu", new long[][] {s(1, 3, 1001)}, (cpu, x) -> cpu.quickGelu(x[0]));
        check("silu", new long[][] {s(1, 40000)}, (cpu, x) -> cpu.silu(x[0]));
        check("scale", new long[][] {s(1, 40000)}, (cpu, x) -> cpu.scale(x[0], 0.18215f));
        check("add", new long[][] {s(1, 3, 33, 35), s(1, 3, 33, 35)}, (cpu, x) -> cpu.add(x[0], x[1]));
        check("addChannelwise", new long[][] {s(1, 6, 5, 9), s(1, 6)}, (cpu, x) -> cpu.addChannelwise(x[0], x[1]));
        check("concatChannels", new long[][] {s(1, 6, 5, 9), s(1, 4, 5, 9)}, (cpu, x) -> cpu.concatChannels(x[0], x[1]));
        check("toTokens", new long[][] {s(1, 20, 7, 9)}, (cpu, x) -> cpu.toTokens(x[0]));
        check("fromTokens", new long[][] {s(1, 63, 20)}, (cpu, x) -> cpu.fromTokens(x[0], 7, 9));
    }
}
