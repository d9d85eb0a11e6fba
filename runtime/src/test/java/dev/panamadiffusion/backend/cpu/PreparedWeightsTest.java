package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link CpuBackend#prepareWeights}: packs every linear and convolution weight ahead, exactly as a first use would, and
 * hands back the mapped pages of weights read from a file.
 */
class PreparedWeightsTest {
    private final SplittableRandom random = new SplittableRandom(7);

    private Tensor rand(long... shape) {
        float[] a = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < a.length; i++) a[i] = (float) (random.nextDouble() * 2 - 1);
        return Tensor.fromFloats(a, shape);
    }

    @Test
    void packsEveryLinearAndConvWeightAndNothingElse() {
        try (CpuBackend cpu = new CpuBackend(2)) {
            List<Tensor> weights = List.of(rand(37, 40), rand(8, 3, 3, 3), rand(300, 70), rand(16, 8, 1, 1),
                    rand(5),                                  // a bias or norm: not packed
                    rand(4, 6).to(DType.F16),                 // packed from an f32 conversion made for it
                    rand(6, 4).transpose(0, 1));              // strided: converted at each use, nothing to keep
            cpu.prepareWeights(weights);
            assertEquals(5, cpu.cachedWeights());
            long expected = Packed.bytes(37, 40, Microkernel.NR) + Packed.bytes(8, 27, Microkernel.MR)
                    + Packed.bytes(300, 70, Microkernel.NR) + Packed.bytes(16, 8, Microkernel.MR) + Packed.bytes(4, 6, Microkernel.NR);
            assertEquals(expected, cpu.cachedWeightBytes());
            cpu.prepareWeights(weights);
            assertEquals(5, cpu.cachedWeights(), "preparing again packs nothing new");
            cpu.linear(rand(3, 40), weights.get(0), null);
            cpu.conv2d(rand(1, 3, 5, 5), weights.get(1), null, 1, 1);
            cpu.linear(rand(3, 6), weights.get(5), null);
            assertEquals(5, cpu.cachedWeights(), "the ops use the prepared panels");
        }
    }

    @Test
    void preparedResultsAreBitIdenticalToLazyPacking() {
        Tensor w = rand(300, 257), b = rand(300), x = rand(2, 33, 257);
        Tensor cw = rand(70, 13, 3, 3), cb = rand(70), img = rand(2, 13, 17, 19);
        float[] lazyLinear, lazyConv;
        try (CpuBackend lazy = new CpuBackend(2)) {
            lazyLinear = lazy.linear(x, w, b).toFloatArray();
            lazyConv = lazy.conv2d(img, cw, cb, 2, 1).toFloatArray();
        }
        try (CpuBackend ahead = new CpuBackend(2)) {
            ahead.prepareWeights(List.of(w, cw));
            assertArrayEquals(lazyLinear, ahead.linear(x, w, b).toFloatArray());
            assertArrayEquals(lazyConv, ahead.conv2d(img, cw, cb, 2, 1).toFloatArray());
            assertEquals(2, ahead.cachedWeights());
        }
    }

    @Test
    void releasedWeightsFreeTheirPanelsAndArePackedAgainAtTheirNextUse() {
        Tensor w = rand(300, 257), x = rand(2, 33, 257);
        Tensor cw = rand(70, 13, 3, 3), img = rand(2, 13, 17, 19);
        Tensor other = rand(40, 37);
        try (CpuBackend cpu = new CpuBackend(2)) {
            cpu.prepareWeights(List.of(w, cw, other));
            float[] linear = cpu.linear(x, w, null).toFloatArray();
            float[] conv = cpu.conv2d(img, cw, null, 1, 1).toFloatArray();
            long otherBytes = Packed.bytes(40, 37, Microkernel.NR);
            cpu.releaseWeights(List.of(w, cw));
            assertEquals(1, cpu.cachedWeights(), "only the weight not released stays packed");
            assertEquals(otherBytes, cpu.cachedWeightBytes());
            cpu.releaseWeights(List.of(w, cw)); // again: nothing left to free
            assertEquals(1, cpu.cachedWeights());
            assertArrayEquals(linear, cpu.linear(x, w, null).toFloatArray(), "packed again, the same panels");
            assertArrayEquals(conv, cpu.conv2d(img, cw, null, 1, 1).toFloatArray());
            assertEquals(3, cpu.cachedWeights());
        }
    }

    @Test
    void halfPrecisionWeightsAreUploadedAsTheyAreAndPackedOnceFromTheirValues(@TempDir Path dir) throws IOException {
        assumeTrue(Files.isReadable(Path.of("/proc/self/status")), "Linux only: reads RssFile");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("linear", rand(2048, 4096).to(DType.F16));   // 16 MiB in the file
        tensors.put("conv", rand(64, 32, 3, 3).to(DType.BF16));
        tensors.put("table", rand(50, 8).to(DType.F16));
        tensors.put("bias", rand(64).to(DType.F16));
        Path file = dir.resolve("half.safetensors");
        SafeTensors.write(file, tensors, Map.of());
        Tensor x = rand(3, 4096), img = rand(1, 32, 9, 7);
        Tensor ids = Tensor.fromLongs(new long[] {7, 0, 49, 7}, 4);
        try (Arena arena = Arena.ofShared(); CpuBackend cpu = new CpuBackend(2); CpuBackend f32 = new CpuBackend(2)) {
            SafeTensors file16 = SafeTensors.open(file, arena);
            Tensor linear = cpu.upload(file16.get("linear")), conv = cpu.upload(file16.get("conv"));
            Tensor table = cpu.upload(file16.get("table"));
            assertTrue(linear == file16.get("linear") && conv == file16.get("conv"), "weights kept in their dtype, not copied");
            assertEquals(DType.F32, cpu.upload(file16.get("bias")).dtype(), "rank 1: converted at upload");
            // the reference: the same values converted to f32 up front, as upload did before
            float[] linearRef = f32.linear(x, f32.upload(linear.to(DType.F32)), null).toFloatArray();
            float[] convRef = f32.conv2d(img, f32.upload(conv.to(DType.F32)), null, 1, 1).toFloatArray();
            linear.segment().load();
            long before = rssFile();
            cpu.prepareWeights(List.of(linear, conv));
            long after = rssFile();
            assertEquals(2, cpu.cachedWeights());
            assertEquals(Packed.bytes(2048, 4096, Microkernel.NR) + Packed.bytes(64, 288, Microkernel.MR), cpu.cachedWeightBytes(),
                    "packed as f32 panels, like an f32 weight");
            assertTrue(before - after > 12L << 20, "the f16 file's pages left the process: RssFile " + before + " -> " + after);
            assertArrayEquals(linearRef, cpu.linear(x, linear, null).toFloatArray(), "bit for bit");
            assertArrayEquals(convRef, cpu.conv2d(img, conv, null, 1, 1).toFloatArray());
            assertEquals(2, cpu.cachedWeights(), "computed from the packed panels, not converted again");
            float[] rows = cpu.embedding(table, ids).toFloatArray();
            float[] full = table.to(DType.F32).toFloatArray();
            for (int i = 0; i < 4; i++) {
                int id = (int) ids.getLong(i);
                assertArrayEquals(Arrays.copyOfRange(full, id * 8, id * 8 + 8), Arrays.copyOfRange(rows, i * 8, i * 8 + 8), "row " + i);
            }
            assertThrows(IllegalArgumentException.class, () -> cpu.embedding(table, Tensor.fromLongs(new long[] {50}, 1)));
        }
    }

    /** The file-backed resident memory of this process (Linux), in bytes. */
    private static long rssFile() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("RssFile:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
        throw new IllegalStateException("no RssFile in /proc/self/status");
    }

    @Test
    void mappedWeightPagesAreHandedBackOncePacked(@TempDir Path dir) throws IOException {
        assumeTrue(Files.isReadable(Path.of("/proc/self/status")), "Linux only: reads RssFile");
        Tensor w = rand(2048, 4096); // 32 MiB
        Tensor x = rand(3, 4096);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("w", w);
        Path file = dir.resolve("w.safetensors");
        SafeTensors.write(file, tensors, Map.of());
        float[] expected;
        try (CpuBackend cpu = new CpuBackend(2)) {
            expected = cpu.linear(x, w, null).toFloatArray();
        }
        try (Arena arena = Arena.ofShared(); CpuBackend cpu = new CpuBackend(2)) {
            Tensor mapped = SafeTensors.open(file, arena).get("w");
            assertTrue(mapped.segment().isMapped());
            mapped.segment().load(); // every page resident, as after a first read
            long before = rssFile();
            cpu.prepareWeights(List.of(mapped));
            long after = rssFile();
            assertTrue(before - after > 24L << 20, "the weight's pages left the process: RssFile " + before + " -> " + after);
            assertArrayEquals(expected, cpu.linear(x, mapped, null).toFloatArray(), "computed from the packed panels");
            assertTrue(Arrays.equals(w.toFloatArray(), mapped.toFloatArray()), "and the file reads back as ever");
        }
    }
}
