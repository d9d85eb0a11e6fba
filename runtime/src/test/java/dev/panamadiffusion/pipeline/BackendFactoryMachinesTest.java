package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.OutOfDeviceMemoryException;
import dev.panamadiffusion.backend.WeightPrecision;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.cuda.CudaDriver;
import dev.panamadiffusion.cuda.CudaStatus;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link BackendFactory} on machines this JVM is not: one with a usable GPU, one with no driver, one whose CUDA
 * emulator does not load, one whose CUDA backend fails to start. The probes and the CUDA backend's constructor are
 * stand-ins; the backend "made" is a marker, so each case checks that the factory returns exactly what it made.
 */
class BackendFactoryMachinesTest {
    private static final CudaStatus GPU = new CudaStatus(true, "CUDA: NVIDIA H200", "NVIDIA H200", 9, 0, 141L << 30, 13000);
    private static final CudaStatus NONE = new CudaStatus(false, "CUDA unavailable: libcuda.so.1 (the NVIDIA driver) not found",
            "", 0, 0, 0, 0);

    private record Machine(CudaStatus probe, CudaStatus emulator, CudaDriver bound, Supplier<Backend> make)
            implements BackendFactory.Cuda {
        @Override public CudaStatus probe() { return probe; }
        @Override public CudaStatus probeEmulator() { return emulator; }
        @Override public CudaDriver boundDriver() { return bound; }
        @Override public Backend newBackend() { return make.get(); }
    }

    private static Machine gpu(Backend made) { return new Machine(GPU, NONE, CudaDriver.REAL, () -> made); }

    private static Machine cpuOnly() {
        return new Machine(NONE, NONE, CudaDriver.REAL, () -> { throw new AssertionError("no CUDA backend on this machine"); });
    }

    @Test
    void aUsableGpuIsWhatCudaAndAutoMake() {
        try (CpuBackend made = new CpuBackend(1)) {
            Machine m = gpu(made);
            assertNull(BackendFactory.cudaUnavailableReason(m));
            List<String> log = new ArrayList<>();
            assertSame(made, BackendFactory.create("cuda", null, log::add, m));
            assertSame(made, BackendFactory.create("auto", null, log::add, m));
            assertSame(made, BackendFactory.create(null, WeightPrecision.F32, log::add, m));
            assertEquals(List.of(), log, "nothing to say when CUDA is used");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> BackendFactory.create("auto", WeightPrecision.INT8, log::add, m));
            assertEquals("--weights int8 is for the cpu backend: backend auto (CUDA is usable here) keeps its weights in f16;"
                    + " use --backend cpu, or leave --weights out", e.getMessage());
        }
    }

    @Test
    void withoutADriverCudaIsRefusedAndAutoIsTheCpu() {
        Machine m = cpuOnly();
        assertEquals(NONE.message(), BackendFactory.cudaUnavailableReason(m));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> BackendFactory.create("cuda", null, s -> { }, m));
        assertEquals("backend cuda: " + NONE.message(), e.getMessage());
        List<String> log = new ArrayList<>();
        try (Backend b = BackendFactory.create("auto", WeightPrecision.INT8, log::add, m)) {
            assertEquals("cpu", b.name());
            assertEquals(WeightPrecision.INT8, ((CpuBackend) b).weights(), "reduced weights are fine on the CPU");
        }
        assertEquals(List.of("note: no CUDA GPU found; using the CPU backend"), log);
    }

    @Test
    void cudaEmuNeedsTheEmulatorToLoad() {
        CudaStatus broken = new CudaStatus(false, "CUDA unavailable: libpdcudaemu.so: cannot open shared object file", "", 0, 0, 0, 0);
        Machine m = new Machine(NONE, broken, null, () -> { throw new AssertionError("not started"); });
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> BackendFactory.create("cuda-emu", null, s -> { }, m));
        assertEquals("backend cuda-emu: " + broken.message(), e.getMessage());
        try (CpuBackend made = new CpuBackend(1)) {
            CudaStatus emu = new CudaStatus(true, "CUDA: emulator", "CUDA emulator", 9, 0, 1L << 30, 13000);
            Machine ok = new Machine(emu, emu, CudaDriver.EMULATOR, () -> made);
            assertSame(made, BackendFactory.create("cuda-emu", null, s -> { }, ok));
            String why = BackendFactory.cudaUnavailableReason(ok);
            assertEquals("CUDA unavailable: this JVM is bound to the CUDA emulator (-D" + CudaDriver.PROPERTY
                    + "), which only backend cuda-emu uses", why);
            List<String> log = new ArrayList<>();
            try (Backend b = BackendFactory.create("auto", null, log::add, ok)) {
                assertEquals("cpu", b.name(), "auto never picks the emulator");
            }
            assertEquals(List.of("note: CUDA is unavailable (this JVM is bound to the CUDA emulator (-D" + CudaDriver.PROPERTY
                    + "), which only backend cuda-emu uses); using the CPU backend"), log);
        }
    }

    @Test
    void aCudaBackendThatFailsToStartSaysSoInOneLine() {
        Machine noMessage = new Machine(GPU, NONE, CudaDriver.REAL, () -> { throw new UnsupportedOperationException(); });
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> BackendFactory.create("cuda", null, s -> { }, noMessage));
        assertEquals("backend cuda failed to start: java.lang.UnsupportedOperationException", e.getMessage());
        assertTrue(e.getCause() instanceof UnsupportedOperationException);
        Machine linkage = new Machine(GPU, NONE, CudaDriver.REAL, () -> { throw new UnsatisfiedLinkError("libcublasLt.so.13: not found"); });
        e = assertThrows(IllegalStateException.class, () -> BackendFactory.create("auto", null, s -> { }, linkage));
        assertEquals("backend cuda failed to start: libcublasLt.so.13: not found", e.getMessage());
        OutOfDeviceMemoryException oom = new OutOfDeviceMemoryException("arena of 2 GiB does not fit", 2L << 30, 1L << 30, 4L << 30);
        Machine full = new Machine(GPU, NONE, CudaDriver.REAL, () -> { throw oom; });
        OutOfDeviceMemoryException o = assertThrows(OutOfDeviceMemoryException.class, () -> BackendFactory.create("cuda", null, s -> { }, full));
        assertEquals("backend cuda failed to start: arena of 2 GiB does not fit", o.getMessage());
        assertEquals(1L << 30, o.freeBytes());
        assertSame(oom, o.getCause(), "the same kind as weights that do not fit, the cause kept");
    }
}
