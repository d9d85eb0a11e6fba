package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
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
        dev.panamadiffusion.cuda.CudaStatus emulator = dev.panamadiffusion.cuda.CudaProbe.probe(dev.panamadiffusion.cuda.CudaDriver.EMULATOR);
        if (emulator.available()) {
            try (Backend b = BackendFactory.create("cuda-emu", msg -> { throw new AssertionError("no log expected: " + msg); })) {
                assertEquals("cuda", b.name());
                assertTrue(((dev.panamadiffusion.cuda.CudaBackend) b).status().deviceName().contains("emulator"));
            }
        } else {
            // built with -Dpd.emulator.skip=true: cuda-emu is one clear error naming why, and auto still never picks it
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> BackendFactory.create("cuda-emu"));
            assertEquals("backend cuda-emu: " + emulator.message(), e.getMessage());
            assertTrue(emulator.message().contains("emulator"), emulator.message());
        }
        String why = BackendFactory.cudaUnavailableReason();
        assertTrue(why != null && why.contains("emulator"), String.valueOf(why));
        List<String> log = new ArrayList<>();
        try (Backend b = BackendFactory.create("auto", log::add)) {
            assertEquals("cpu", b.name());
        }
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
                assertEquals(List.of("pdiff: using the CPU backend (" + why + ")"), log);
                assertTrue(!why.isBlank() && !why.contains("\n"), why);
            }
        }
        if (why != null) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> BackendFactory.create("cuda"));
            assertEquals("backend cuda: " + why, e.getMessage());
        }
    }
}
