package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Result tensors from recycled native blocks. Fresh native memory costs a page fault per 4 KiB and a zero fill,
 * more than a memory-bound op itself; here a result borrows a pooled block through its own automatic arena, and
 * the block returns to the pool when that arena (every view and slice of the result) becomes unreachable.
 *
 * <p>Automatic arenas are only released by the garbage collector, which native allocations do not prompt. So when
 * the pool would grow past its threshold, free blocks of other sizes are released first; if that is not enough,
 * a collection is requested and the pool waits for the blocks it returns. The threshold then adapts to twice the
 * memory still lent out.
 */
final class HostMemory {
    private static final long MIN_POOLED = 64L << 10; // smaller results come straight from Arena.ofAuto()
    private static final long INITIAL_THRESHOLD = 1L << 30;

    private record Block(Arena arena, MemorySegment segment) {}

    private final ConcurrentSkipListMap<Long, ConcurrentLinkedQueue<Block>> free = new ConcurrentSkipListMap<>();
    private final AtomicLong pooled = new AtomicLong(); // bytes in all blocks, lent or free
    private final AtomicLong lent = new AtomicLong();
    private volatile long threshold = INITIAL_THRESHOLD;

    /**
     * With {@code -Dpd.cpu.poison=true} every uninitialized result starts as NaN, so that an op that reads an element
     * before writing it shows up in its tests (a recycled block otherwise holds an earlier result's numbers).
     */
    static final boolean POISON = Boolean.getBoolean("pd.cpu.poison");

    /** An f32 tensor whose contents are unspecified: the caller writes every element. */
    Tensor uninitialized(long... shape) {
        long bytes = Tensor.numel(shape) * 4;
        MemorySegment s = bytes < MIN_POOLED ? Arena.ofAuto().allocate(Math.max(bytes, 4), 64).asSlice(0, bytes) : borrow(bytes);
        if (POISON) s.fill((byte) 0xff); // 0xffffffff is a NaN
        return Tensor.of(DType.F32, s, shape);
    }

    /** A zero-filled f32 tensor. */
    Tensor zeros(long... shape) {
        long bytes = Tensor.numel(shape) * 4;
        if (bytes < MIN_POOLED) return Tensor.allocate(DType.F32, shape);
        MemorySegment s = borrow(bytes);
        s.fill((byte) 0);
        return Tensor.of(DType.F32, s, shape);
    }

    long pooledBytes() { return pooled.get(); }

    long lentBytes() { return lent.get(); }

    private MemorySegment borrow(long bytes) {
        long size = sizeClass(bytes);
        Block block = take(size);
        if (block == null && pooled.get() + size > threshold) {
            releaseFree(threshold - size);
            if (pooled.get() + size > threshold) {
                collect();
                block = take(size);
                if (block == null) releaseFree(threshold - size);
                threshold = Math.max(INITIAL_THRESHOLD, 2 * (lent.get() + size));
            }
        }
        if (block == null) {
            Arena arena = Arena.ofShared();
            block = new Block(arena, arena.allocate(size, 64));
            pooled.addAndGet(size);
        }
        lent.addAndGet(block.segment.byteSize());
        final Block b = block;
        return block.segment.reinterpret(bytes, Arena.ofAuto(), ignored -> giveBack(b));
    }

    /** A free block of {@code size}, or of a class at most a quarter larger. */
    private Block take(long size) {
        for (var e : free.subMap(size, true, size + size / 4, true).entrySet()) {
            Block b = e.getValue().poll();
            if (b != null) return b;
        }
        return null;
    }

    private void giveBack(Block block) {
        // into the free list first: whoever sees the lent count drop must find the block there
        free.computeIfAbsent(block.segment.byteSize(), k -> new ConcurrentLinkedQueue<>()).add(block);
        lent.addAndGet(-block.segment.byteSize());
    }

    /** Frees free blocks, largest first, until at most {@code target} bytes are pooled. */
    private void releaseFree(long target) {
        for (var q : free.descendingMap().values()) {
            for (Block b; pooled.get() > target && (b = q.poll()) != null; ) {
                pooled.addAndGet(-b.segment.byteSize());
                b.arena.close();
            }
        }
    }

    /** Requests a collection and waits (briefly) until the cleaner has run the arenas it found unreachable. */
    private static void collect() {
        CountDownLatch canary = new CountDownLatch(1);
        MemorySegment.NULL.reinterpret(0, Arena.ofAuto(), ignored -> canary.countDown());
        System.gc();
        try {
            canary.await(200, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Sizes rounded up to 1/8 steps between powers of two (at most 12.5% slack), whole 4 KiB pages. */
    static long sizeClass(long bytes) {
        long b = Math.max(bytes, 4096);
        int shift = 63 - Long.numberOfLeadingZeros(b) - 3;
        long step = Math.max(4096, 1L << shift);
        return (b + step - 1) / step * step;
    }
}
