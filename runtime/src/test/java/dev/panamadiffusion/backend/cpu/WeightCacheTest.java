package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

class WeightCacheTest {

    private static Packed packOf(Tensor w, Arena arena) {
        return Packed.pack(null, w.segment(), 0, w.dim(1), 1, (int) w.dim(0), (int) w.dim(1), Microkernel.NR, arena);
    }

    @Test
    void packsOncePerWeightViewAndKind() {
        WeightCache cache = new WeightCache();
        AtomicInteger packs = new AtomicInteger();
        Tensor w = Tensor.zeros(8, 4);
        Packed a = cache.get(w, "linearB", arena -> { packs.incrementAndGet(); return packOf(w, arena); });
        Packed b = cache.get(w, "linearB", arena -> { packs.incrementAndGet(); return packOf(w, arena); });
        assertSame(a, b);
        assertEquals(1, packs.get());
        Tensor view = w.reshape(4, 8); // same storage, other shape: another operand
        assertNotSame(a, cache.get(view, "linearB", arena -> { packs.incrementAndGet(); return packOf(view, arena); }));
        Tensor rows = w.slice(0, 2, 6); // same storage, other offset
        assertNotSame(a, cache.get(rows, "linearB", arena -> { packs.incrementAndGet(); return packOf(rows.contiguous(), arena); }));
        cache.get(w, "convA", arena -> { packs.incrementAndGet(); return packOf(w, arena); });
        assertEquals(4, packs.get());
        assertEquals(4, cache.size());
    }

    @Test
    void entriesGoWithTheirWeights() throws InterruptedException {
        WeightCache cache = new WeightCache();
        List<MemorySegment> panels = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Tensor w = Tensor.zeros(8, 4);
            panels.add(cache.get(w, "linearB", arena -> packOf(w, arena)).data());
        }
        assertTrue(panels.stream().allMatch(p -> p.isNative() && p.scope().isAlive()), "packed off the heap, live");
        assertEquals(3L * Packed.bytes(8, 4, Microkernel.NR), cache.bytes());
        for (int i = 0; i < 100 && cache.size() > 0; i++) {
            System.gc();
            Thread.sleep(10);
        }
        assertEquals(0, cache.size(), "entries of unreachable weights are dropped");
        assertTrue(panels.stream().noneMatch(p -> p.scope().isAlive()), "and their native memory freed with them");
        assertEquals(0, cache.bytes());
    }

    @Test
    void clearFreesEveryEntry() {
        WeightCache cache = new WeightCache();
        Tensor w = Tensor.zeros(8, 4);
        MemorySegment p = cache.get(w, "linearB", arena -> packOf(w, arena)).data();
        assertTrue(cache.contains(w, "linearB"));
        cache.clear();
        assertFalse(p.scope().isAlive());
        assertFalse(cache.contains(w, "linearB"));
        assertEquals(0, cache.size());
    }

    @Test
    void aFailedPackLeavesNothing() {
        WeightCache cache = new WeightCache();
        Tensor w = Tensor.zeros(8, 4);
        Arena[] seen = new Arena[1];
        assertThrows(IllegalStateException.class, () -> cache.get(w, "linearB", arena -> {
            seen[0] = arena;
            throw new IllegalStateException("boom");
        }));
        assertThrows(IllegalStateException.class, () -> seen[0].allocate(4), "its arena is closed");
        assertFalse(cache.contains(w, "linearB"));
    }
}
