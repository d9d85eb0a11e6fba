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
