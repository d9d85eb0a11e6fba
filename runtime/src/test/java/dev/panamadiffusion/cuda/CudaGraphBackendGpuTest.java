package dev.panamadiffusion.cuda;

import dev.panamadiffusion.backend.GraphBackend;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** CudaBackend as a {@link GraphBackend}: copyInto across layouts, graphs fed through it, events and arena peak. */
@Tag("gpu")
class CudaGraphBackendGpuTest {
    private static CudaBackend cuda;
    private final SplittableRandom random = new SplittableRandom(99);

    @BeforeAll
    static void start() {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
        cuda = new CudaBackend(512L << 20);
    }

    @AfterAll
    static void stop() {
        if (cuda != null) cuda.close();
    }

    /** f16-representable values, so that a round trip through the device is exact. */
    private Tensor rand(long... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = Float.float16ToFloat(Float.floatToFloat16((float) random.nextDouble(-4, 4)));
        return Tensor.fromFloats(v, shape);
    }

    @Test
    void copyIntoKeepsTheDestinationAndAcceptsAnySourceLayout() {
        Tensor host = rand(2, 3, 5, 7);
        Tensor image = cuda.upload(host);                            // channels-last
        Tensor rowMajorSrc = cuda.upload(rand(2, 3, 5, 7).reshape(2, 105)).reshape(2, 3, 5, 7); // row-major NCHW
        Tensor dst = cuda.upload(rand(2, 3, 5, 7));                  // channels-last destination
        long address = dst.storage().address();
        cuda.copyInto(image, dst);                                   // same layout: one memcpy
        assertArrayEquals(host.toFloatArray(), cuda.download(dst).toFloatArray());
        cuda.copyInto(rowMajorSrc, dst);                             // row-major into channels-last
        assertArrayEquals(cuda.download(rowMajorSrc).toFloatArray(), cuda.download(dst).toFloatArray());
        assertEquals(address, dst.storage().address(), "the destination keeps its storage");

        Tensor tokens = cuda.upload(rand(2, 6, 4));
        Tensor transposed = cuda.upload(rand(2, 4, 6)).transpose(1, 2);  // [2, 6, 4], not contiguous
        cuda.copyInto(transposed, tokens);
        assertArrayEquals(cuda.download(transposed).toFloatArray(), cuda.download(tokens).toFloatArray());
        assertThrows(IllegalArgumentException.class, () -> cuda.copyInto(tokens, cuda.upload(rand(2, 6, 5))));
        assertThrows(IllegalArgumentException.class, () -> cuda.copyInto(transposed, transposed));
    }

    @Test
    void graphReadsItsInputsAtEachReplay() {
        Tensor x = cuda.upload(rand(1, 8, 4, 4));
        Tensor gamma = cuda.upload(rand(8)), beta = cuda.upload(rand(8));
        Tensor[] out = new Tensor[1];
        try (GraphBackend.Graph graph = cuda.captureGraph(
                () -> out[0] = cuda.silu(cuda.groupNorm(cuda.add(x, x), 4, gamma, beta, 1e-5f, false)))) {
            for (int i = 0; i < 3; i++) {
                Tensor input = rand(1, 8, 4, 4);
                cuda.copyInto(cuda.upload(input), x);
                graph.replay();
                Tensor u = cuda.upload(input);
                Tensor expected = cuda.download(cuda.silu(cuda.groupNorm(cuda.add(u, u), 4, gamma, beta, 1e-5f, false)));
                assertArrayEquals(expected.toFloatArray(), cuda.download(out[0]).toFloatArray(), 0f, "replay " + i);
            }
        }
    }

    @Test
    void eventsOnTheBackendStreamTimeQueuedWork() {
        Tensor x = cuda.upload(rand(2, 64, 32, 32));
        try (CudaEvent start = CudaEvent.create(); CudaEvent end = CudaEvent.create()) {
            cuda.record(start);
            for (int i = 0; i < 10; i++) x = cuda.silu(x);
            cuda.record(end);
            end.synchronize();
            float ms = CudaEvent.elapsedMillis(start, end);
            assertTrue(ms > 0 && ms < 10_000, "elapsed " + ms + " ms");
        }
    }

    @Test
    void arenaPeakCountsFromTheLastReset() {
        cuda.synchronize();
        cuda.resetArenaPeak();
        long before = cuda.arenaUsed();
        Tensor big = cuda.upload(Tensor.zeros(64, 1024, 256));       // 32 MiB of f16
        assertTrue(cuda.arenaPeak() >= before + (32L << 20), "peak " + cuda.arenaPeak() + " after " + before);
        long[] mem = cuda.deviceMemory();
        assertTrue(mem[0] > 0 && mem[1] >= mem[0] && mem[1] - mem[0] >= cuda.arenaCapacity(), java.util.Arrays.toString(mem));
        assertEquals(64 * 1024 * 256, big.numel());
    }
}
