package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

class WeightCacheTest {

    private static Packed packOf(Tensor w) {
        return Packed.pack(w.segment(), 0, w.dim(1), 1, (int) w.dim(0), (int) w.dim(1), Microkernel.NR);
    }

    @Test
    void packsOncePerWeightViewAndKind() {
        WeightCache cache = new WeightCache();
        AtomicInteger packs = new AtomicInteger();
        Tensor w = Tensor.zeros(8, 4);
        Packed a = cache.get(w, "linearB", () -> { packs.incrementAndGet(); return packOf(w); });
        Packed b = cache.get(w, "linearB", () -> { packs.incrementAndGet(); return packOf(w); });
        assertSame(a, b);
        assertEquals(1, packs.get());
        Tensor view = w.reshape(4, 8); // same storage, other shape: another operand
        assertNotSame(a, cache.get(view, "linearB", () -> { packs.incrementAndGet(); return packOf(view); }));
        Tensor rows = w.slice(0, 2, 6); // same storage, other offset
        assertNotSame(a, cache.get(rows, "linearB", () -> { packs.incrementAndGet(); return packOf(rows.contiguous()); }));
        cache.get(w, "convA", () -> { packs.incrementAndGet(); return packOf(w); });
        assertEquals(4, packs.get());
        assertEquals(4, cache.size());
    }

    @Test
    void entriesGoWithTheirWeights() throws InterruptedException {
        WeightCache cache = new WeightCache();
        for (int i = 0; i < 3; i++) {
            Tensor w = Tensor.zeros(8, 4);
            cache.get(w, "linearB", () -> packOf(w));
        }
        for (int i = 0; i < 100 && cache.size() > 0; i++) {
            System.gc();
            Thread.sleep(10);
        }
        assertEquals(0, cache.size(), "entries of unreachable weights are dropped");
    }
}
