package dev.panamadiffusion.cuda;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The facades under the backend on a real device: graphs, events, arena reuse, error naming. Skipped without a GPU. */
@Tag("gpu")
class CudaFacadesGpuTest {
    private static void requireGpu() {
        CudaStatus s = CudaProbe.probe();
        assumeTrue(s.available(), s.message());
    }

    private static Tensor ramp(float start, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = start + i;
        return Tensor.fromFloats(v, 2, n / 2);
    }

    @Test
    void capturedGraphReplaysOnNewInputs() {
        requireGpu();
        try (CudaBackend cuda = new CudaBackend(256L << 20)) {
            Tensor x = cuda.upload(ramp(0, 64));
            Tensor[] out = new Tensor[1];
            try (CudaGraph graph = cuda.capture(() -> out[0] = cuda.scale(cuda.add(x, x), 0.5f))) {
                cuda.launch(graph);
                assertArrayEquals(ramp(0, 64).toFloatArray(), cuda.download(out[0]).toFloatArray(), "first replay");
                cuda.copyInto(cuda.upload(ramp(100, 64)), x);
                cuda.launch(graph);
                assertArrayEquals(ramp(100, 64).toFloatArray(), cuda.download(out[0]).toFloatArray(), "replay on new input");
            }
        }
    }

    @Test
    void eventsTimeTheStream() {
        requireGpu();
        try (CudaBackend cuda = new CudaBackend(256L << 20);
             CudaEvent start = CudaEvent.create(); CudaEvent end = CudaEvent.create();
             CudaStream stream = CudaStream.create()) {
            start.record(stream);
            end.record(stream);
            end.synchronize();
            float ms = CudaEvent.elapsedMillis(start, end);
            assertTrue(ms >= 0 && ms < 1000, "elapsed " + ms);
            assertTrue(cuda.status().message().startsWith("CUDA: "), cuda.status().message());
        }
    }

    @Test
    void unreachableTensorsReturnToTheArena() {
        requireGpu();
        try (CudaBackend cuda = new CudaBackend(4L << 20)) {
            Tensor x = cuda.upload(Tensor.zeros(1, 8, 128, 128));  // 256 KiB of f16
            for (int i = 0; i < 200; i++) cuda.silu(x);             // 50 MiB in total through a 4 MiB arena
            cuda.synchronize();
            assertTrue(cuda.arenaUsed() <= 4L << 20);
        }
    }

    @Test
    void failuresNameTheCallAndTheError() {
        requireGpu();
        try (CudaContext ctx = CudaContext.open(0); CudaModule kernels = CudaModule.loadKernels()) {
            CudaException e = assertThrows(CudaException.class, () -> kernels.function("no_such_kernel"));
            assertEquals("cuModuleGetFunction(no_such_kernel)", e.call());
            assertEquals("CUDA_ERROR_NOT_FOUND", e.errorName());
            assertTrue(ctx.multiprocessors() > 0);
            assertTrue(ctx.memoryInfo()[1] > 0);
        }
        try (CudaBackend cuda = new CudaBackend(16L << 20)) {
            var e = assertThrows(dev.panamadiffusion.backend.OutOfDeviceMemoryException.class,
                    () -> cuda.upload(Tensor.zeros(16, 1024, 1024)));
            assertTrue(e.getMessage().startsWith("the device arena is full: "), e.getMessage());
        }
    }
}
