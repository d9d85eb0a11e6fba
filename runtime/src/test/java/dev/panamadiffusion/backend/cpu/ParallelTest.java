package dev.panamadiffusion.backend.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ParallelTest {

    @Test
    void everyTaskRunsExactlyOnce() {
        try (Parallel par = new Parallel(3)) {
            for (int n : new int[] {0, 1, 2, 7, 1000}) {
                AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(1, n));
                par.forEach(n, hits::incrementAndGet);
                for (int i = 0; i < n; i++) assertEquals(1, hits.get(i), "task " + i + " of " + n);
            }
            AtomicLong sum = new AtomicLong();
            par.forRange(1001, 64, (s, e) -> { for (long i = s; i < e; i++) sum.addAndGet(i); });
            assertEquals(1000L * 1001 / 2, sum.get());
        }
    }

    @Test
    void aFailingTaskFailsTheLoop() {
        try (Parallel par = new Parallel(2)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> par.forEach(100, i -> {
                if (i == 37) throw new IllegalStateException("task 37");
            }));
            assertEquals("task 37", e.getMessage());
            AtomicIntegerArray hits = new AtomicIntegerArray(10);
            par.forEach(10, hits::incrementAndGet); // still usable
            for (int i = 0; i < 10; i++) assertEquals(1, hits.get(i));
        }
    }

    @Test
    void concurrentCallersShareThePool() throws Exception {
        try (Parallel par = new Parallel(2); ExecutorService callers = Executors.newFixedThreadPool(4)) {
            Future<?>[] f = new Future<?>[4];
            for (int c = 0; c < 4; c++) {
                f[c] = callers.submit(() -> {
                    for (int rep = 0; rep < 50; rep++) {
                        AtomicIntegerArray hits = new AtomicIntegerArray(64);
                        par.forEach(64, hits::incrementAndGet);
                        for (int i = 0; i < 64; i++) assertEquals(1, hits.get(i));
                    }
                    return null;
                });
            }
            for (Future<?> x : f) x.get();
        }
    }
}
