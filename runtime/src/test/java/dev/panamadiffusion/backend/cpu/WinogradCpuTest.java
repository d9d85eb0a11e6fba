package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Winograd F(4x4, 3x3) and F(2x2, 3x3) against the naive {@link Reference} (double accumulation) and against the
 * direct convolution, with errors measured relative to the output's scale (its largest magnitude).
 */
class WinogradCpuTest {
    private static final Parallel PAR = new Parallel(3); // more threads than cores: exercises the pool
    private static final Parallel ONE = new Parallel(1);
    private final SplittableRandom random = new SplittableRandom(7);

    @AfterAll
    static void close() {
        PAR.close();
        ONE.close();
    }

    private float[] uniform(int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (random.nextDouble() * 2 - 1);
        return a;
    }

    private float[] normal(int n, double sd) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (gaussian() * sd);
        return a;
    }

    private double gaussian() { // Box-Muller
        return Math.sqrt(-2 * Math.log(1 - random.nextDouble())) * Math.cos(2 * Math.PI * random.nextDouble());
    }

    /** Winograd convolution of x [n, c, h, w] with wt [o, c, 3, 3] in tiles of {@code tile}, on the given pool. */
    private static float[] winograd(Parallel par, float[] x, int n, int c, int h, int w, float[] wt, int o, float[] b, int pad,
                                    int tile) {
        return winograd(par, x, n, c, h, w, wt, o, b, pad, WinogradCpu.V_FLOATS, WinogradCpu.U_FLOATS, tile);
    }

    /** As above with the given scratch budgets (small ones: many tile groups and filter chunks per call). */
    private static float[] winograd(Parallel par, float[] x, int n, int c, int h, int w, float[] wt, int o, float[] b, int pad,
                                    int vFloats, long uFloats, int tile) {
        Packed pw = Conv2dCpu.packWeight(par, MemorySegment.ofArray(wt), 0, o, c * 9, Arena.ofAuto());
        int ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
        float[] out = new float[n * o * ho * wo];
        WinogradCpu.conv(par, MemorySegment.ofArray(x), 0, n, c, h, w, 1, pw, o, pad, b, MemorySegment.ofArray(out), vFloats,
                uFloats, tile);
        return out;
    }

    private static float[] direct(Parallel par, float[] x, int n, int c, int h, int w, float[] wt, int o, float[] b, int pad) {
        Packed pw = Conv2dCpu.packWeight(par, MemorySegment.ofArray(wt), 0, o, c * 9, Arena.ofAuto());
        int ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
        float[] out = new float[n * o * ho * wo];
        float[] bias = b == null ? null : java.util.Arrays.copyOf(b, pw.nPad());
        Conv2dCpu.conv(par, MemorySegment.ofArray(x), 0, n, c, h, w, pw, 3, 3, 1, pad, bias, MemorySegment.ofArray(out));
        return out;
    }

    /** max |got - want| / max |want|. */
    static double relError(float[] want, float[] got) {
        assertEquals(want.length, got.length, "element count");
        double scale = 0, err = 0;
        for (int i = 0; i < want.length; i++) {
            scale = Math.max(scale, Math.abs(want[i]));
            double e = Math.abs((double) got[i] - want[i]);
            if (!(e <= Double.MAX_VALUE)) return Double.POSITIVE_INFINITY; // NaN or infinite
            err = Math.max(err, e);
        }
        return scale == 0 ? err : err / scale;
    }

    @ParameterizedTest
    @CsvSource({
            // n, c, h, w, o, pad, bias
            "1, 3, 1, 1, 5, 1, true",      // 1x1 image: one tile, mostly padding
            "2, 5, 5, 7, 9, 1, false",     // 5x7: partial tiles at the right and bottom
            "2, 17, 9, 13, 19, 1, true",   // C, O not multiples of the vector width
            "1, 70, 6, 5, 9, 1, true",
            "2, 33, 10, 10, 14, 0, true",  // no padding
            "1, 8, 3, 3, 7, 0, false",     // no padding, a 1x1 output
            "2, 6, 7, 6, 5, 0, true",
            "1, 5, 6, 6, 7, 2, true",      // padding 2
            "2, 300, 7, 9, 13, 1, true",   // two reduction blocks
            "2, 20, 8, 8, 64, 1, true",    // one tile block, output channels split (shared input transform)
            "2, 4, 36, 40, 6, 1, false",   // tile blocks spanning two images
            "2, 3, 66, 70, 7, 1, true",    // many tile blocks
            "1, 64, 16, 16, 70, 1, true"})
    void matchesReferenceAndDirect(int n, int c, int h, int w, int o, int pad, boolean withBias) {
        float[] x = uniform(n * c * h * w), wt = uniform(o * c * 9), b = withBias ? uniform(o) : null;
        float[] want = Reference.conv2d(x, n, c, h, w, wt, o, 3, 3, b, 1, pad);
        for (int tile : new int[] {4, 2}) {
            for (Parallel par : new Parallel[] {PAR, ONE}) {
                float[] got = winograd(par, x, n, c, h, w, wt, o, b, pad, tile);
                double ref = relError(want, got);
                double dir = relError(direct(par, x, n, c, h, w, wt, o, b, pad), got);
                if (ref > 2e-6 * Math.max(1, Math.sqrt(c)) || dir > 2e-6 * Math.max(1, Math.sqrt(c))) {
                    fail("F(" + tile + "x" + tile + ", 3x3): relative error " + ref + " against the reference, " + dir
                            + " against the direct convolution");
                }
            }
        }
    }

    /**
     * Scratch budgets that split one call into several tile groups (each transformed once) and filter chunks (each
     * transformed from the packed weight per group), chunks not a whole number of A panels' rounds, a ragged last
     * group: the same result as one group and one chunk, and as the reference.
     */
    @ParameterizedTest
    @CsvSource({
            // n, c, h, w, o, vFloats (V of how many tile blocks), uFloats (U of how many A panels)
            "2, 20, 30, 26, 40, 1, 1",     // one block per group, one panel per chunk
            "2, 20, 30, 26, 40, 3, 2",     // 3 blocks per group, 2 panels per chunk
            "1, 300, 17, 19, 31, 2, 5",    // two reduction blocks in U and V; 6 panels in chunks of 5 (3 on 3 threads)
            "2, 64, 16, 16, 70, 1, 3"})
    void tileGroupsAndFilterChunksMatchOneOfEach(int n, int c, int h, int w, int o, int groupBlocks, int chunkPanels) {
        float[] x = uniform(n * c * h * w), wt = uniform(o * c * 9), b = uniform(o);
        float[] want = Reference.conv2d(x, n, c, h, w, wt, o, 3, 3, b, 1, 1);
        for (int tile : new int[] {4, 2}) {
            int positions = (tile + 2) * (tile + 2);
            int vBlock = positions * c * WinogradCpu.blockTiles();
            long uPanel = (long) positions * Microkernel.MR * c;
            for (Parallel par : new Parallel[] {PAR, ONE}) {
                float[] whole = winograd(par, x, n, c, h, w, wt, o, b, 1, Integer.MAX_VALUE / 2, Long.MAX_VALUE / 2, tile);
                float[] split = winograd(par, x, n, c, h, w, wt, o, b, 1, groupBlocks * vBlock, chunkPanels * uPanel, tile);
                assertArrayEquals(whole, split, "the same sums in the same order");
                double ref = relError(want, split);
                assertTrue(ref < 2e-6 * Math.sqrt(c), "F(" + tile + "x" + tile + ", 3x3): relative error " + ref);
            }
        }
    }

    /**
     * A padded input larger than its budget is made one band of rows at a time, each group of tiles reading its own
     * band: the same bits as padding it whole, for bands of a tile row or a few, bands across two images, and an input
     * upsampled on the way.
     */
    @ParameterizedTest
    @CsvSource({
            // n, c, h, w, o, pad, up
            "2, 4, 36, 40, 6, 1, 1",    // tile blocks spanning two images
            "2, 3, 66, 70, 7, 1, 1",
            "1, 64, 16, 16, 70, 1, 1",
            "2, 5, 30, 22, 9, 0, 1",    // no padding
            "1, 6, 26, 18, 5, 2, 1",    // padding 2
            "2, 7, 24, 28, 8, 1, 2"})   // upsampled x2
    void aBandedPaddedInputGivesTheSameBitsAsAWholeOne(int n, int c, int h, int w, int o, int pad, int up) {
        float[] x = uniform(n * c * (h / up) * (w / up)), wt = uniform(o * c * 9), b = uniform(o);
        Packed pw = Conv2dCpu.packWeight(PAR, MemorySegment.ofArray(wt), 0, o, c * 9, Arena.ofAuto());
        int ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
        for (int tile : new int[] {4, 2}) {
            float[] whole = new float[n * o * ho * wo];
            WinogradCpu.conv(PAR, MemorySegment.ofArray(x), 0, n, c, h, w, up, pw, o, pad, b, MemorySegment.ofArray(whole),
                    WinogradCpu.V_FLOATS, WinogradCpu.U_FLOATS, tile, Integer.MAX_VALUE);
            int wp = tile * ((wo + tile - 1) / tile) + 2;
            for (int rows : new int[] {1, tile + 2, 2 * tile + 3, 3 * tile + 2}) { // a band's budget, in padded rows
                float[] got = new float[n * o * ho * wo];
                WinogradCpu.conv(PAR, MemorySegment.ofArray(x), 0, n, c, h, w, up, pw, o, pad, b, MemorySegment.ofArray(got),
                        WinogradCpu.V_FLOATS, WinogradCpu.U_FLOATS, tile, c * wp * rows);
                assertArrayEquals(whole, got, "F(" + tile + "x" + tile + "), bands of " + rows + " rows");
            }
        }
        if (up == 1) {
            float[] want = Reference.conv2d(x, n, c, h, w, wt, o, 3, 3, b, 1, pad);
            float[] got = new float[n * o * ho * wo];
            WinogradCpu.conv(PAR, MemorySegment.ofArray(x), 0, n, c, h, w, 1, pw, o, pad, b, MemorySegment.ofArray(got),
                    WinogradCpu.V_FLOATS, WinogradCpu.U_FLOATS, 4, c * (4 * ((wo + 3) / 4) + 2) * 7);
            assertTrue(relError(want, got) < 2e-6 * Math.max(1, Math.sqrt(c)), "banded F(4x4) against the reference");
        }
    }

    /** An input upsampled ×2 (nearest) as it is padded: the same as Winograd of the upsampled input, and the reference. */
    @ParameterizedTest
    @CsvSource({"1, 5, 3, 4, 7, 1", "2, 70, 9, 7, 13, 1", "1, 8, 5, 5, 6, 0", "1, 4, 4, 3, 5, 2"})
    void upsampledInputIsReadInPlace(int n, int c, int h, int w, int o, int pad) {
        float[] x = uniform(n * c * h * w), wt = uniform(o * c * 9), b = uniform(o);
        float[] big = new float[n * c * 4 * h * w]; // nearest ×2
        for (int p = 0; p < n * c; p++)
            for (int y = 0; y < 2 * h; y++)
                for (int xx = 0; xx < 2 * w; xx++) big[(p * 2 * h + y) * 2 * w + xx] = x[(p * h + y / 2) * w + xx / 2];
        float[] want = Reference.conv2d(big, n, c, 2 * h, 2 * w, wt, o, 3, 3, b, 1, pad);
        Packed pw = Conv2dCpu.packWeight(PAR, MemorySegment.ofArray(wt), 0, o, c * 9, Arena.ofAuto());
        int ho = 2 * h + 2 * pad - 2, wo = 2 * w + 2 * pad - 2;
        for (int tile : new int[] {4, 2}) {
            float[] got = new float[n * o * ho * wo];
            WinogradCpu.conv(PAR, MemorySegment.ofArray(x), 0, n, c, 2 * h, 2 * w, 2, pw, o, pad, b, MemorySegment.ofArray(got),
                    WinogradCpu.V_FLOATS, WinogradCpu.U_FLOATS, tile);
            assertArrayEquals(winograd(PAR, big, n, c, 2 * h, 2 * w, wt, o, b, pad, tile), got, "the same as the made input");
            assertTrue(relError(want, got) < 2e-6 * Math.max(1, Math.sqrt(c)), "F(" + tile + "x" + tile + ", 3x3) against the reference");
        }
    }

    /**
     * The accuracy at SD's channel counts: N(0, 1) inputs, N(0, 0.02²) weights, errors relative to the output scale
     * for Winograd and, for comparison, the direct convolution.
     */
    @ParameterizedTest
    @CsvSource({"320", "640", "1280", "512", "256", "128"})
    void accuracyAtModelChannelCounts(int c) {
        int n = 1, h = 12, w = 10, o = 64;
        float[] x = normal(n * c * h * w, 1), wt = normal(o * c * 9, 0.02), b = normal(o, 0.02);
        float[] want = Reference.conv2d(x, n, c, h, w, wt, o, 3, 3, b, 1, 1);
        double dir = relError(want, direct(PAR, x, n, c, h, w, wt, o, b, 1));
        for (int tile : new int[] {4, 2}) {
            double win = relError(want, winograd(PAR, x, n, c, h, w, wt, o, b, 1, tile));
            System.out.printf("winograd F(%dx%d,3x3) C=%d: max relative error %.2e (direct %.2e)%n", tile, tile, c, win, dir);
            assertTrue(win < 1e-4, "relative error " + win);
        }
    }

    @Test
    void appliesOnlyToLarge3x3Stride1() {
        String old = System.getProperty("pd.cpu.winograd");
        try {
            System.clearProperty("pd.cpu.winograd");
            assertTrue(WinogradCpu.applies(2, 320, 64, 64, 320, 3, 3, 1, 1), "on by default");
            System.setProperty("pd.cpu.winograd", "true");
            assertTrue(WinogradCpu.applies(2, 320, 64, 64, 320, 3, 3, 1, 1));
            assertTrue(WinogradCpu.applies(1, 640, 32, 32, 640, 3, 3, 1, 1), "64 tiles");
            assertEquals(4, WinogradCpu.tileSize(32, 32, 1), "64 tiles of 4x4");
            assertEquals(2, WinogradCpu.tileSize(16, 16, 1), "16 tiles of 4x4: F(4x4, 3x3)'s filters cost more, F(2x2, 3x3)'s");
            assertTrue(WinogradCpu.applies(2, 1280, 16, 16, 1280, 3, 3, 1, 1), "64 tiles of 2x2 an image");
            // counted per image: the same image takes the same path (and comes out the same bits) alone or in a batch
            for (int n : new int[] {1, 2, 4, 8, 16}) {
                assertTrue(WinogradCpu.applies(n, 1280, 16, 16, 1280, 3, 3, 1, 1), "batch " + n + " at 16x16");
                assertFalse(WinogradCpu.applies(n, 1280, 8, 8, 1280, 3, 3, 1, 1), "batch " + n + " at 8x8");
                assertTrue(WinogradCpu.applies(n, 640, 32, 32, 640, 3, 3, 1, 1), "batch " + n + " at 32x32");
            }
            System.setProperty("pd.cpu.winograd23", "false");
            assertFalse(WinogradCpu.applies(2, 1280, 16, 16, 1280, 3, 3, 1, 1), "F(2x2, 3x3) switched off");
            assertTrue(WinogradCpu.applies(2, 640, 32, 32, 640, 3, 3, 1, 1), "F(4x4, 3x3) still on");
            System.clearProperty("pd.cpu.winograd23");
            assertTrue(WinogradCpu.applies(1, 512, 64, 64, 512, 3, 3, 1, 1), "VAE");
            assertFalse(WinogradCpu.applies(2, 1280, 8, 8, 1280, 3, 3, 1, 1), "16 tiles of 2x2");
            assertFalse(WinogradCpu.applies(2, 320, 64, 64, 320, 3, 3, 2, 1), "stride 2");
            assertFalse(WinogradCpu.applies(2, 320, 64, 64, 320, 1, 1, 1, 0), "1x1");
            assertFalse(WinogradCpu.applies(2, 4, 64, 64, 320, 3, 3, 1, 1), "4 input channels");
            assertFalse(WinogradCpu.applies(2, 320, 64, 64, 4, 3, 3, 1, 1), "4 output channels");
            assertFalse(WinogradCpu.applies(2, 320, 1, 1, 320, 3, 3, 1, 1), "1x1 image");
            System.setProperty("pd.cpu.winograd", "false");
            assertFalse(WinogradCpu.applies(2, 320, 64, 64, 320, 3, 3, 1, 1), "switched off");
            System.setProperty("pd.cpu.winograd", "always");
            assertTrue(WinogradCpu.applies(1, 3, 1, 1, 2, 3, 3, 1, 1), "forced");
            assertFalse(WinogradCpu.applies(1, 3, 8, 8, 2, 3, 3, 2, 1), "forced, stride 2");
        } finally {
            if (old == null) System.clearProperty("pd.cpu.winograd");
            else System.setProperty("pd.cpu.winograd", old);
        }
    }

    /** A 16x16 plane of 64 channels: the backend takes F(2x2, 3x3), whose sums differ from the direct convolution's and F(4x4, 3x3)'s. */
    @Test
    void backendTakesTwoByTwoTilesOnSixteenBySixteenPlanes() {
        int n = 2, c = 64, h = 16, w = 16, o = 70;
        float[] x = uniform(n * c * h * w), wt = uniform(o * c * 9), b = uniform(o);
        String mode = System.getProperty("pd.cpu.winograd");
        System.setProperty("pd.cpu.winograd", "true");
        try (CpuBackend cpu = new CpuBackend(2)) {
            Tensor got = cpu.conv2d(Tensor.fromFloats(x, n, c, h, w), Tensor.fromFloats(wt, o, c, 3, 3), Tensor.fromFloats(b, o), 1, 1);
            float[] two = winograd(PAR, x, n, c, h, w, wt, o, b, 1, 2);
            assertArrayEquals(two, got.toFloatArray(), "F(2x2, 3x3)'s sums");
            assertFalse(java.util.Arrays.equals(two, winograd(PAR, x, n, c, h, w, wt, o, b, 1, 4)), "not F(4x4, 3x3)'s");
            assertFalse(java.util.Arrays.equals(two, direct(PAR, x, n, c, h, w, wt, o, b, 1)), "not the direct convolution's");
            assertTrue(relError(Reference.conv2d(x, n, c, h, w, wt, o, 3, 3, b, 1, 1), two) < 2e-6 * Math.sqrt(c));
        } finally {
            if (mode == null) System.clearProperty("pd.cpu.winograd");
            else System.setProperty("pd.cpu.winograd", mode);
        }
    }

    @Test
    void backendDispatchesAndSharesTheDirectConvolutionsPackedWeight() {
        int n = 2, c = 64, h = 33, w = 33, o = 66; // 9 x 9 = 81 tiles an image
        float[] x = uniform(n * c * h * w), wt = uniform(o * c * 9), b = uniform(o);
        String mode = System.getProperty("pd.cpu.winograd");
        System.setProperty("pd.cpu.winograd", "true");
        assertTrue(WinogradCpu.applies(n, c, h, w, o, 3, 3, 1, 1), "a Winograd shape");
        try (CpuBackend cpu = new CpuBackend(2)) {
            Tensor xt = Tensor.fromFloats(x, n, c, h, w), wtt = Tensor.fromFloats(wt, o, c, 3, 3), bt = Tensor.fromFloats(b, o);
            Tensor first = cpu.conv2d(xt, wtt, bt, 1, 1);
            Tensor second = cpu.conv2d(xt, wtt, bt, 1, 1);
            assertEquals(1, cpu.cachedWeights());
            assertEquals((long) Packed.pad(o, Microkernel.MR) * c * 9 * 4, cpu.cachedWeightBytes(),
                    "only the direct convolution's packing is kept: no transformed filter (4x the weight)");
            assertArrayEquals(new long[] {n, o, h, w}, first.shape());
            assertArrayEquals(first.toFloatArray(), second.toFloatArray());
            float[] want = Reference.conv2d(x, n, c, h, w, wt, o, 3, 3, b, 1, 1);
            assertTrue(relError(want, first.toFloatArray()) < 2e-5);
            // switched off: the direct convolution reads the same packed weight
            System.setProperty("pd.cpu.winograd", "false");
            Tensor direct = cpu.conv2d(xt, wtt, bt, 1, 1);
            assertEquals(1, cpu.cachedWeights());
            assertFalse(java.util.Arrays.equals(direct.toFloatArray(), first.toFloatArray()), "two different methods");
            assertTrue(relError(want, direct.toFloatArray()) < 2e-6);
        } finally {
            if (mode == null) System.clearProperty("pd.cpu.winograd");
            else System.setProperty("pd.cpu.winograd", mode);
        }
    }
}
