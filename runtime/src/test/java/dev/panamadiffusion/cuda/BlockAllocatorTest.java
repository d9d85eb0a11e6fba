package dev.panamadiffusion.cuda;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The arena's bookkeeping on a fake address range (no device memory involved). */
class BlockAllocatorTest {
    private static final long BASE = 1L << 40;

    @Test
    void alignedBlocksAndExhaustion() {
        BlockAllocator a = new BlockAllocator(BASE, 4096);
        long x = a.allocate(1);
        long y = a.allocate(300);
        assertEquals(BASE, x);
        assertEquals(BASE + 256, y);  // 1 byte takes one 256-byte block
        assertEquals(256 + 512, a.used());
        assertEquals(-1, a.allocate(4096), "larger than what is left");
        assertEquals(4096 - 768, a.largestFree());
    }

    @Test
    void peakIsTheHighWaterMarkSinceTheLastReset() {
        BlockAllocator a = new BlockAllocator(BASE, 16 * 256);
        long x = a.allocate(4 * 256), y = a.allocate(2 * 256);
        a.free(y, 2 * 256);
        assertEquals(6 * 256, a.peak());
        a.resetPeak();
        assertEquals(4 * 256, a.peak(), "a reset starts from the bytes in use");
        long z = a.allocate(256);
        a.free(z, 256);
        a.free(x, 4 * 256);
        assertEquals(5 * 256, a.peak());
        assertEquals(0, a.used());
    }

    @Test
    void bestFitAndMerging() {
        BlockAllocator a = new BlockAllocator(BASE, 10 * 256);
        long b0 = a.allocate(256), b1 = a.allocate(3 * 256), b2 = a.allocate(256), b3 = a.allocate(256);
        a.free(b1, 3 * 256);
        a.free(b3, 256);  // merges with the tail
        // free: [b1, 3 blocks], [b3.., 5 blocks]: a 2-block request goes to the smaller hole
        assertEquals(b1, a.allocate(2 * 256));
        a.free(b1, 2 * 256);
        a.free(b0, 256);
        a.free(b2, 256);
        assertEquals(1, a.freeBlocks(), "everything merged back");
        assertEquals(0, a.used());
        assertEquals(10 * 256, a.largestFree());
    }

    @Test
    void doubleFreeAndForeignBlocksAreRejected() {
        BlockAllocator a = new BlockAllocator(BASE, 4096);
        long x = a.allocate(512);
        a.free(x, 512);
        assertThrows(IllegalStateException.class, () -> a.free(x, 512));
        assertThrows(IllegalArgumentException.class, () -> a.free(BASE + 8192, 256));
        assertThrows(IllegalArgumentException.class, () -> new BlockAllocator(BASE + 8, 4096));
    }

    @Test
    void randomAllocationsNeverOverlap() {
        BlockAllocator a = new BlockAllocator(BASE, 1 << 20);
        SplittableRandom r = new SplittableRandom(7);
        List<long[]> live = new ArrayList<>();
        for (int step = 0; step < 5000; step++) {
            if (!live.isEmpty() && r.nextInt(3) == 0) {
                long[] b = live.remove(r.nextInt(live.size()));
                a.free(b[0], b[1]);
            } else {
                long size = 1 + r.nextInt(20000);
                long addr = a.allocate(size);
                if (addr >= 0) {
                    assertEquals(0, addr % BlockAllocator.ALIGNMENT);
                    for (long[] b : live) {
                        long end = b[0] + BlockAllocator.roundUp(b[1]);
                        assertTrue(addr + size <= b[0] || addr >= end, "overlap");
                    }
                    live.add(new long[] {addr, size});
                }
            }
        }
        long used = live.stream().mapToLong(b -> BlockAllocator.roundUp(b[1])).sum();
        assertEquals(used, a.used());
        for (long[] b : live) a.free(b[0], b[1]);
        assertEquals(1, a.freeBlocks());
    }
}
