package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.ref.WeakReference;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Result tensors from recycled native blocks. Fresh native memory costs a page fault per 4 KiB and a zero fill,
 * more than a memory-bound op itself; here a result borrows a pooled block through its own automatic arena, and
 * the block returns to the pool when that arena (every view and slice of the result) becomes unreachable.
 *
 * <p>Automatic arenas are only released by the garbage collector, which native allocations do not prompt. So when
 * the pool would grow past its threshold, the free blocks unused for longest are released first; if that is not
 * enough, a collection is requested and the pool waits for the blocks it returns. The threshold then adapts to
 * twice the memory still lent out.
 *
 * <p>{@link #release} hands a result's block back at once, without waiting for the collector, when its caller knows
 * that neither it nor any view of it will be read again (the model code does so for the large intermediates of its
 * blocks). A released block is filled with NaNs under {@code -Dpd.cpu.poison=true} or with assertions enabled (the
 * tests), so that a read after release shows up as NaN in every parity test.
 */
final class HostMemory {
    private static final long MIN_POOLED = 64L << 10; // smaller results come straight from Arena.ofAuto()
    /** {@code -Dpd.cpu.poolBytes=N}: the pool's first threshold (default 512 MiB); lower trades collections for memory. */
    private static final long DEFAULT_THRESHOLD = Long.getLong("pd.cpu.poolBytes", 512L << 20);

    private record Block(Arena arena, MemorySegment segment) {
        long size() { return segment.byteSize(); }
    }

    /** libc's {@code aligned_alloc} and {@code free}, or null where the C library does not export them. */
    private static final MethodHandle ALIGNED_ALLOC, FREE;

    static {
        MethodHandle alloc = null, free = null;
        try {
            Linker linker = Linker.nativeLinker();
            var a = linker.defaultLookup().find("aligned_alloc");
            var f = linker.defaultLookup().find("free");
            if (a.isPresent() && f.isPresent()) {
                alloc = linker.downcallHandle(a.get(), FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
                free = linker.downcallHandle(f.get(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
            }
        } catch (RuntimeException e) { // no native access: Arena.allocate below
            alloc = free = null;
        }
        ALIGNED_ALLOC = alloc;
        FREE = free;
    }

    /**
     * {@code size} bytes (a multiple of 64), 64-byte aligned, freed when {@code arena} closes, and not zero-filled:
     * {@code Arena.allocate} writes every byte on the allocating thread, a pass over fresh pages that the op which first
     * writes the block (in parallel) would fault in anyway. A pool block's contents are unspecified in any case (it is
     * recycled). Falls back to {@code Arena.allocate} where libc's {@code aligned_alloc} is not reachable.
     */
    static MemorySegment allocateUninitialized(Arena arena, long size) {
        if (ALIGNED_ALLOC != null) {
            try {
                MemorySegment p = (MemorySegment) ALIGNED_ALLOC.invokeExact(64L, (size + 63) & ~63L);
                if (!p.equals(MemorySegment.NULL)) {
                    return p.reinterpret(size, arena, HostMemory::free);
                }
            } catch (Throwable e) {
                throw new IllegalStateException("aligned_alloc of " + size + " bytes failed", e);
            }
        }
        return arena.allocate(size, 64);
    }

    private static void free(MemorySegment p) {
        try {
            FREE.invokeExact(p);
        } catch (Throwable e) {
            throw new IllegalStateException("free failed", e);
        }
    }

    /** One loan of a block: returned once, by {@link #release} or by the cleaner of the result's arena. */
    private final class Lease {
        final Block block;
        final long bytes;
        WeakReference<MemorySegment.Scope> scope; // the result's: tells this loan from a later one of the same block
        boolean returned; // guarded by HostMemory.this

        Lease(Block block, long bytes) {
            this.block = block;
            this.bytes = bytes;
        }

        /** Returns the block, unless this loan was returned already. */
        void giveBack() {
            synchronized (HostMemory.this) {
                if (returned) return;
                returned = true;
                leases.remove(block.segment.address());
                HostMemory.this.giveBack(block);
            }
        }
    }

    // guarded by this
    private final TreeMap<Long, ArrayDeque<Block>> free = new TreeMap<>();
    private final LinkedHashSet<Block> idle = new LinkedHashSet<>(); // free blocks, least recently returned first
    private final HashMap<Long, Lease> leases = new HashMap<>();      // blocks lent out, by address
    private long pooled;                                             // bytes in all blocks, lent or free
    private long lent;
    private final long initialThreshold;
    private long threshold;
    private int collections;
    private long returns;
    private long borrowed;  // bytes of every loan so far
    private long released;  // of those, bytes handed back by release()
    private boolean closed;

    HostMemory() { this(DEFAULT_THRESHOLD); }

    /** A pool that first asks for a collection when it would grow past {@code initialThreshold} bytes. */
    HostMemory(long initialThreshold) {
        this.initialThreshold = initialThreshold;
        this.threshold = initialThreshold;
    }

    /**
     * With {@code -Dpd.cpu.poison=true} every uninitialized result starts as NaN, so that an op that reads an element
     * before writing it shows up in its tests (a recycled block otherwise holds an earlier result's numbers).
     */
    static final boolean POISON = Boolean.getBoolean("pd.cpu.poison");
    private static final boolean POISON_RELEASED = POISON || HostMemory.class.desiredAssertionStatus();

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

    synchronized long pooledBytes() { return pooled; }

    synchronized long lentBytes() { return lent; }

    /** Bytes of all pooled results lent so far, and of those handed back by {@link #release}. */
    synchronized long borrowedBytes() { return borrowed; }

    synchronized long releasedBytes() { return released; }

    /** Collections this pool has requested so far. */
    synchronized int collections() { return collections; }

    private MemorySegment borrow(long bytes) {
        long size = sizeClass(bytes);
        Block block;
        boolean collect;
        synchronized (this) {
            block = take(size);
            collect = block == null && pooled + size > threshold && !releaseIdle(threshold - size);
        }
        if (collect) {
            collect();
            synchronized (this) {
                collections++;
                block = take(size);
                if (block == null) releaseIdle(threshold - size);
                threshold = Math.max(initialThreshold, 2 * (lent + size));
            }
        }
        if (block == null) {
            Arena arena = Arena.ofShared();
            block = new Block(arena, allocateUninitialized(arena, size));
            synchronized (this) {
                pooled += size;
            }
        }
        Lease lease = new Lease(block, bytes);
        MemorySegment result = block.segment.reinterpret(bytes, Arena.ofAuto(), ignored -> lease.giveBack());
        lease.scope = new WeakReference<>(result.scope());
        synchronized (this) {
            lent += block.size();
            borrowed += bytes;
            leases.put(block.segment.address(), lease);
        }
        return result;
    }

    /**
     * Takes back the block behind {@code storage} (a result's whole storage segment, as {@link #uninitialized} or
     * {@link #zeros} lent it) now; the caller must not read it, or any view of it, again. Anything else (small
     * results, weights, views, segments this pool did not lend, a block already returned) is left alone.
     *
     * @return whether a block was taken back
     */
    boolean release(MemorySegment storage) {
        Lease lease;
        synchronized (this) {
            lease = leases.get(storage.address());
            if (lease == null || lease.returned || lease.bytes != storage.byteSize()
                    || lease.scope.get() != storage.scope()) return false;
            lease.returned = true; // this call owns the return now: the cleaner's will do nothing
            leases.remove(storage.address());
        }
        if (POISON_RELEASED) lease.block.segment.fill((byte) 0xff);
        synchronized (this) {
            giveBack(lease.block);
            released += lease.bytes;
        }
        return true;
    }

    /** A free block of {@code size}, or of a class at most a quarter larger. */
    private Block take(long size) {
        for (var q : free.subMap(size, true, size + size / 4, true).values()) {
            Block b = q.poll();
            if (b != null) {
                idle.remove(b);
                return b;
            }
        }
        return null;
    }

    private synchronized void giveBack(Block block) {
        if (closed) { // the backend is gone: this block's memory goes back to the system now
            lent -= block.size();
            pooled -= block.size();
            block.arena.close();
            return;
        }
        free.computeIfAbsent(block.size(), k -> new ArrayDeque<>()).add(block);
        idle.add(block);
        lent -= block.size();
        returns++;
    }

    /**
     * Frees every free block now; blocks still lent (results the caller holds) are freed as soon as they come back.
     * Called when the backend closes, so that its native memory does not wait for the next collection.
     */
    synchronized void close() {
        closed = true;
        releaseIdle(0);
    }

    /** Frees idle blocks, least recently returned first, until at most {@code target} bytes are pooled. */
    private boolean releaseIdle(long target) {
        for (Iterator<Block> it = idle.iterator(); pooled > target && it.hasNext(); ) {
            Block b = it.next();
            it.remove();
            free.get(b.size()).remove(b);
            pooled -= b.size();
            b.arena.close();
        }
        return pooled <= target;
    }

    /**
     * Requests a collection and waits (briefly) for the cleaner: until an arena made unreachable just before has
     * been cleaned, and then until blocks stop coming back.
     */
    private void collect() {
        CountDownLatch canary = new CountDownLatch(1);
        MemorySegment.NULL.reinterpret(0, Arena.ofAuto(), ignored -> canary.countDown());
        System.gc();
        try {
            canary.await(200, TimeUnit.MILLISECONDS);
            long seen = returns();
            for (int i = 0; i < 50; i++) {
                Thread.sleep(1);
                long now = returns();
                if (now == seen) break;
                seen = now;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private synchronized long returns() { return returns; }

    /** Sizes rounded up to 1/8 steps between powers of two (at most 12.5% slack), whole 4 KiB pages. */
    static long sizeClass(long bytes) {
        long b = Math.max(bytes, 4096);
        int shift = 63 - Long.numberOfLeadingZeros(b) - 3;
        long step = Math.max(4096, 1L << shift);
        return (b + step - 1) / step * step;
    }
}
