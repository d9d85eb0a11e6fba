package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.api.EngineOptions;
import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.WeightPrecision;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BackendFactoryTest {
    @Test
    void cpuByName() {
        try (Backend b = BackendFactory.create("CPU", msg -> { throw new AssertionError("no log expected: " + msg); })) {
            assertEquals("cpu", b.name());
        }
    }

    @Test
    void theCpuBackendTakesAWeightPrecisionAndCudaRefusesReducedOnes() {
        for (WeightPrecision p : WeightPrecision.values()) {
            try (Backend b = BackendFactory.create("cpu", p, msg -> { throw new AssertionError("no log expected: " + msg); })) {
                assertEquals(p, ((CpuBackend) b).weights());
            }
        }
        try (Backend b = BackendFactory.create("cpu", null, msg -> { })) {
            assertEquals(WeightPrecision.fromProperty(), ((CpuBackend) b).weights(), "null: the backend's default");
        }
        for (String cuda : new String[] {"cuda", "cuda-emu"}) { // refused before CUDA is even looked for
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> BackendFactory.create(cuda, WeightPrecision.BF16, msg -> { }));
            assertEquals("--weights bf16 is for the cpu backend: backend " + cuda + " keeps its weights in f16; use --backend cpu,"
                    + " or leave --weights out", e.getMessage());
        }
        assertEquals(WeightPrecision.INT8, EngineOptions.defaults(java.nio.file.Path.of("m")).withWeights(WeightPrecision.INT8)
                .withMaxBatch(2).weights(), "EngineOptions keeps the precision through its withers");
        assertEquals(null, EngineOptions.defaults(java.nio.file.Path.of("m")).weights());
    }

    @Test
    void unknownNameIsOneClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BackendFactory.create("tpu"));
        assertEquals("unknown backend 'tpu' (use cpu, cuda, cuda-emu or auto)", e.getMessage());
    }

    @Test
    void cudaEmuRunsTheCudaBackendOnTheEmulatorAndAutoNeverPicksIt() {
        dev.panamadiffusion.cuda.CudaProbe.probe();  // binds this JVM as -Dpd.cuda.driver says (auto in the build)
        if (dev.panamadiffusion.cuda.CudaProbe.boundDriver() == dev.panamadiffusion.cuda.CudaDriver.REAL) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> BackendFactory.create("cuda-emu"));
            assertTrue(e.getMessage().contains("needs a new process"), e.getMessage());
            return;
        }
        dev.panamadiffusion.cuda.CudaStatus emu = dev.panamadiffusion.cuda.CudaProbe.probe(dev.panamadiffusion.cuda.CudaDriver.EMULATOR);
        if (!emu.available()) { // built with -Dpd.emulator.skip=true: cuda-emu refuses in one clear line
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> BackendFactory.create("cuda-emu"));
            assertEquals("backend cuda-emu: " + emu.message(), e.getMessage());
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "the CUDA emulator is not built here: " + emu.message());
        }
        try (Backend b = BackendFactory.create("cuda-emu", msg -> { throw new AssertionError("no log expected: " + msg); })) {
            assertEquals("cuda", b.name());
            assertTrue(((dev.panamadiffusion.cuda.CudaBackend) b).status().deviceName().contains("emulator"));
        }
        String why = BackendFactory.cudaUnavailableReason();
        assertTrue(why != null && why.contains("emulator"), String.valueOf(why));
        List<String> log = new ArrayList<>();
        try (Backend b = BackendFactory.create("auto", log::add)) {
            assertEquals("cpu", b.name());
        }
    }

    /**
     * The factory's default {@code Cuda} is this process's own probes: the same status and bound driver that
     * {@code CudaProbe} gives (whatever this machine has: a GPU, the emulator, or neither).
     */
    @Test
    void theProcesssCudaIsThisJvmsProbe() {
        dev.panamadiffusion.cuda.CudaStatus status = BackendFactory.Cuda.PROCESS.probe();
        assertEquals(dev.panamadiffusion.cuda.CudaProbe.probe(), status);
        dev.panamadiffusion.cuda.CudaDriver bound = BackendFactory.Cuda.PROCESS.boundDriver();
        org.junit.jupiter.api.Assertions.assertNotNull(bound, "bound by the probe");
        assertEquals(dev.panamadiffusion.cuda.CudaProbe.boundDriver(), bound);
        dev.panamadiffusion.cuda.CudaStatus emulator = BackendFactory.Cuda.PROCESS.probeEmulator();
        assertEquals(dev.panamadiffusion.cuda.CudaProbe.probe(dev.panamadiffusion.cuda.CudaDriver.EMULATOR), emulator);
        org.junit.jupiter.api.Assertions.assertNotNull(emulator.message());
    }

    /** The fall-back note is short where there is simply no GPU, and says why where a GPU was found but is unusable. */
    @Test
    void autoNoteIsOneShortLine() {
        assertEquals("note: no CUDA GPU found; using the CPU backend", BackendFactory.autoNote(
                new dev.panamadiffusion.cuda.CudaStatus(false, "CUDA unavailable: libcuda.so.1 (the NVIDIA driver) not found in 9 places"
                        + " searched (/a, /b, /c, /d, /e, /f, ...); set -Dpd.cuda.libs=DIR or PD_CUDA_LIBS", "", 0, 0, 0, 0),
                "CUDA unavailable: libcuda.so.1 (the NVIDIA driver) not found"));
        assertEquals("note: the CUDA GPU Tesla T4 is unusable (compute capability 7.5); using the CPU backend", BackendFactory.autoNote(
                new dev.panamadiffusion.cuda.CudaStatus(false, "x", "Tesla T4", 7, 5, 1L << 34, 12000), "CUDA unavailable: compute capability 7.5"));
        // a GPU that works, in a JVM bound to the emulator
        assertEquals("note: CUDA is unavailable (this JVM is bound to the CUDA emulator); using the CPU backend", BackendFactory.autoNote(
                new dev.panamadiffusion.cuda.CudaStatus(true, "CUDA: emulator", "emulator", 8, 0, 1L << 30, 12000),
                "CUDA unavailable: this JVM is bound to the CUDA emulator"));
    }

    @Test
    void autoFallsBackToTheCpuWithOneLineWhenCudaIsUnusable() {
        String why = BackendFactory.cudaUnavailableReason();
        List<String> log = new ArrayList<>();
        try (Backend b = BackendFactory.create("auto", log::add)) {
            if (why == null) {
                assertEquals("cuda", b.name());
                assertEquals(List.of(), log);
            } else {
                assertEquals("cpu", b.name());
                assertEquals(1, log.size(), log.toString());
                assertTrue(log.get(0).startsWith("note: ") && log.get(0).endsWith("using the CPU backend"), log.get(0));
                assertTrue(!why.isBlank() && !why.contains("\n"), why);
            }
        }
        if (why != null) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> BackendFactory.create("cuda"));
            assertEquals("backend cuda: " + why, e.getMessage());
        }
    }
}
