package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.backend.Abort;
import org.junit.jupiter.api.Test;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ScratchTest {
    @Test
    void buffersAreKeptAndGrownOnDemand() {
        float[] big = Scratch.get().b(1000);
        assertTrue(big.length >= 1000);
        assertSame(big, Scratch.get().b(10));
        float[] bigger = Scratch.get().b(big.length + 1);
        assertTrue(bigger.length > big.length);
        assertSame(bigger, Scratch.get().b(big.length));
    }

    @Test
    void dropAllDropsEveryThreadsBuffersAtItsNextGet() throws Exception {
        ExecutorService other = Executors.newSingleThreadExecutor();
        try {
            float[] mine = Scratch.get().a(4096);
            float[] theirs = other.submit(() -> Scratch.get().a(4096)).get();
            assertSame(theirs, other.submit(() -> Scratch.get().a(16)).get());
            Scratch.dropAll();
            float[] mineAfter = Scratch.get().a(16);
            float[] theirsAfter = other.submit(() -> Scratch.get().a(16)).get();
            assertNotSame(mine, mineAfter);
            assertNotSame(theirs, theirsAfter);
            assertTrue(mineAfter.length < 4096 && theirsAfter.length < 4096, "grown again from what is asked");
            assertSame(mineAfter, Scratch.get().a(16), "kept again until the next drop");
        } finally {
            other.shutdownNow();
        }
    }

    @Test
    void theWarmUpLeavesTheCallersCancellationConditionAsItWas() {
        BooleanSupplier outside = Abort.current();
        BooleanSupplier callers = () -> false;
        try (CpuBackend cpu = new CpuBackend(2)) {
            Abort.when(callers, () -> {
                KernelWarmup.run(cpu);
                assertSame(callers, Abort.current());
                return null;
            });
        }
        assertSame(outside, Abort.current());
    }
}
