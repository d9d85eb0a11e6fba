package dev.panamadiffusion.cuda;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The probe reports an absent or broken CUDA as one clear message and never throws; the CPU backend keeps working
 * in the same JVM. Runs everywhere: on a GPU machine the default probe is available and the backend starts.
 */
class CudaProbeTest {
    @TempDir
    Path tmp;

    @Test
    void noDriverFound() {
        CudaStatus s = CudaProbe.probe(CudaLibraries.search(List.of(tmp)));
        assertFalse(s.available());
        assertTrue(s.message().startsWith("CUDA unavailable: libcuda.so.1 (the NVIDIA driver) not found"), s.message());
        assertTrue(s.message().contains("pd.cuda.libs") && s.message().contains("PD_CUDA_LIBS"), s.message());
        assertFalse(s.message().contains("\n"), "one line");
    }

    @Test
    void driverThatIsNotALibrary() throws IOException {
        Path fake = Files.writeString(tmp.resolve("libcuda.so.1"), "not an ELF file");
        CudaStatus s = CudaProbe.probe(CudaLibraries.search(List.of(tmp)));
        assertFalse(s.available());
        assertTrue(s.message().startsWith("CUDA unavailable: could not load " + fake.toAbsolutePath()), s.message());
    }

    @Test
    void defaultProbeIsCachedAndConsistentWithTheBackend() {
        CudaStatus s = CudaProbe.probe();
        assertSame(s, CudaProbe.probe());
        if (s.available()) {
            assertTrue(s.message().startsWith("CUDA: "), s.message());
            try (CudaBackend cuda = new CudaBackend(256L << 20)) {
                assertEquals("cuda", cuda.name());
            }
        } else {
            assertTrue(s.message().startsWith("CUDA unavailable: "), s.message());
            CudaException e = assertThrows(CudaException.class, CudaBackend::new);
            assertEquals(s.message(), e.getMessage());
        }
    }

    @Test
    void cpuBackendWorksAfterTheProbe() {
        CudaProbe.probe();
        if (!CudaProbe.probe().available()) assertThrows(CudaException.class, () -> new CudaBackend(1L << 20));
        try (CpuBackend cpu = new CpuBackend(1)) {
            Tensor y = cpu.add(Tensor.fromFloats(new float[] {1, 2, 3}, 3), Tensor.fromFloats(new float[] {10, 20, 30}, 3));
            assertArrayEquals(new float[] {11, 22, 33}, y.toFloatArray());
        }
    }
}
