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
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Result tensors carved from recycled native slabs. Fresh native memory costs a page fault per 4 KiB and a zero fill,
 * more than a memory-bound op itself; here a result borrows a range of a pooled slab through its own automatic arena,
 * and the range returns to the pool when that arena (every view and slice of the result) becomes unreachable.
 *
 * <p>Ranges are cut best-fit from the free space of a few large slabs and merge with free neighbours when they come
 * back (as PyTorch's caching allocator does with its segments), so the pool stays near the most memory lent at once.
 * A pool of whole blocks reused only by results of about their size held 2.6x that for an SD 1.5 step (482 MiB
 * pooled against 182 MiB lent at most; bench/RESULTS.md, "The activation pool"). A result larger than half a slab
 * gets a slab of its own.
 *
 * <p>Automatic arenas are only released by the garbage collector, which native allocations do not prompt. So when
 * the pool would grow past its threshold, the wholly free slabs unused for longest are released first; if that is not
 * enough, a collection is requested and the pool waits for the ranges it returns. The threshold then adapts to
 * twice the memory still lent out.
 *
 * <p>{@link #release} hands a result's range back at once, without waiting for the collector, when its caller knows
 * that neither it nor any view of it will be read again (the model code does so for the large intermediates of its
 * blocks). A released range is filled with NaNs under {@code -Dpd.cpu.poison=true} or with assertions enabled (the
 * tests), so that a read after release shows up as NaN in every parity test.
 */
final class HostMemory {
    private static final long MIN_POOLED = 64L << 10; // smaller results come straight from Arena.ofAuto()
    /** {@code -Dpd.cpu.poolBytes=N}: the pool's first threshold (default 512 MiB); lower trades collections for memory. */
    private static final long DEFAULT_THRESHOLD = Long.getLong("pd.cpu.poolBytes", 512L << 20);
    /** {@code -Dpd.cpu.slabBytes=N}: the size of a shared slab (default 32 MiB). */
    private static final long DEFAULT_SLAB = Long.getLong("pd.cpu.slabBytes", 32L << 20);
    /** Ranges are whole pages: no two results share a page, and each starts page-aligned. */
    static final long PAGE = 4096;
    private static final long HUGE_PAGE = 2L << 20;

    /** A native region that loans are cut from. */
    private static final class Slab {
        final Arena arena;
        final MemorySegment segment;
        final long id;
        int loans; // ranges of it lent out; guarded by HostMemory.this
        final TreeMap<Long, Range> freeByOffset = new TreeMap<>(); // guarded by HostMemory.this

        Slab(Arena arena, MemorySegment segment, long id) {
            this.arena = arena;
            this.segment = segment;
            this.id = id;
        }

        long size() { return segment.byteSize(); }
    }

    /** Bytes {@code [offset, offset + size)} of a slab. */
    private record Range(Slab slab, long offset, long size) {
        MemorySegment segment() { return slab.segment.asSlice(offset, size); }
    }

    /** Free ranges, smallest first (best fit), then by slab and offset. */
    private static final Comparator<Range> BY_SIZE = Comparator.comparingLong(Range::size)
            .thenComparingLong(r -> r.slab().id).thenComparingLong(Range::offset);

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
     * {@code size} bytes, aligned to {@code alignment} (a power of two, at least 64), freed when {@code arena} closes,
     * and not zero-filled: {@code Arena.allocate} writes every byte on the allocating thread, a pass over fresh pages
     * that the op which first writes the slab (in parallel) would fault in anyway. A pooled range's contents are
     * unspecified in any case (it is recycled). Slabs are aligned to huge pages, which the kernel can then back whole.
     * Falls back to {@code Arena.allocate} where libc's {@code aligned_alloc} is not reachable.
     */
    static MemorySegment allocateUninitialized(Arena arena, long size, long alignment) {
        if (ALIGNED_ALLOC != null) {
            try {
                MemorySegment p = (MemorySegment) ALIGNED_ALLOC.invokeExact(alignment, roundUp(size, alignment));
                if (!p.equals(MemorySegment.NULL)) {
                    return p.reinterpret(size, arena, HostMemory::free);
                }
            } catch (Throwable e) {
                throw new IllegalStateException("aligned_alloc of " + size + " bytes failed", e);
            }
        }
        return arena.allocate(size, alignment);
    }

    private static void free(MemorySegment p) {
        try {
            FREE.invokeExact(p);
        } catch (Throwable e) {
            throw new IllegalStateException("free failed", e);
        }
    }

    /** One loan of a range: returned once, by {@link #release} or by the cleaner of the result's arena. */
    private final class Lease {
        final Range range;
        final long bytes;
        WeakReference<MemorySegment.Scope> scope; // the result's: tells this loan from a later one of the same range
        boolean returned; // guarded by HostMemory.this

        Lease(Range range, long bytes) {
            this.range = range;
            this.bytes = bytes;
        }

        /** Returns the range, unless this loan was returned already. */
        void giveBack() {
            synchronized (HostMemory.this) {
                if (returned) return;
                returned = true;
                leases.remove(range.slab.segment.address() + range.offset);
                HostMemory.this.giveBack(range);
            }
        }
    }

    // guarded by this
    private final TreeSet<Range> free = new TreeSet<>(BY_SIZE);
    private final LinkedHashSet<Slab> idle = new LinkedHashSet<>(); // wholly free slabs, least recently freed first
    private final HashMap<Long, Lease> leases = new HashMap<>();      // ranges lent out, by address
    private long pooled;                                             // bytes in all slabs
    private long lent;                                               // bytes in ranges lent out
    private long slabs;                                              // slabs made so far (their ids)
    private final long initialThreshold;
    private final long slabBytes;
    private long threshold;
    private int collections;
    private long returns;
    private long borrowed;  // bytes of every loan so far
    private long released;  // of those, bytes handed back by release()
    private boolean closed;

    HostMemory() { this(DEFAULT_THRESHOLD, DEFAULT_SLAB); }

    /** A pool that first asks for a collection when it would grow past {@code initialThreshold} bytes. */
    HostMemory(long initialThreshold, long slabBytes) {
        this.initialThreshold = initialThreshold;
        this.threshold = initialThreshold;
        this.slabBytes = roundUp(slabBytes, PAGE);
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

    /** The bytes a loan of {@code bytes} takes from a slab: whole pages. */
    static long loanSize(long bytes) { return roundUp(Math.max(bytes, 1), PAGE); }

    private static long roundUp(long v, long unit) { return (v + unit - 1) / unit * unit; }

    private MemorySegment borrow(long bytes) {
        long size = loanSize(bytes);
        long slabSize = newSlabSize(size); // what a new slab for this loan would add
        Range range;
        boolean collect;
        synchronized (this) {
            range = take(size);
            collect = range == null && pooled + slabSize > threshold && !releaseIdle(threshold - slabSize);
        }
        if (collect) {
            collect();
            synchronized (this) {
                collections++;
                range = take(size);
                if (range == null) releaseIdle(threshold - slabSize);
                threshold = Math.max(initialThreshold, 2 * (lent + size));
            }
        }
        if (range == null) {
            Arena arena = Arena.ofShared();
            MemorySegment memory = allocateUninitialized(arena, slabSize, slabSize >= HUGE_PAGE ? HUGE_PAGE : 64);
            synchronized (this) {
                Slab slab = new Slab(arena, memory, slabs++);
                pooled += slabSize;
                addFree(new Range(slab, 0, slabSize));
                range = take(size);
            }
        }
        Lease lease = new Lease(range, bytes);
        MemorySegment result = range.segment().reinterpret(bytes, Arena.ofAuto(), ignored -> lease.giveBack());
        lease.scope = new WeakReference<>(result.scope());
        synchronized (this) {
            lent += range.size();
            borrowed += bytes;
            leases.put(result.address(), lease);
        }
        return result;
    }

    /** A loan larger than half a slab gets a slab of its own (whole huge pages); the others share slabs. */
    private long newSlabSize(long size) {
        return size > slabBytes / 2 ? roundUp(size, HUGE_PAGE) : slabBytes;
    }

    /**
     * Takes back the range behind {@code storage} (a result's whole storage segment, as {@link #uninitialized} or
     * {@link #zeros} lent it) now; the caller must not read it, or any view of it, again. Anything else (small
     * results, weights, views, segments this pool did not lend, a range already returned) is left alone.
     *
     * @return whether a range was taken back
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
        if (POISON_RELEASED) lease.range.segment().fill((byte) 0xff);
        synchronized (this) {
            giveBack(lease.range);
            released += lease.bytes;
        }
        return true;
    }

    /** The smallest free range of at least {@code size} bytes, its first {@code size} bytes cut off; or null. */
    private Range take(long size) {
        Range fit = free.ceiling(new Range(PROBE, Long.MIN_VALUE, size));
        if (fit == null) return null;
        removeFree(fit);
        if (fit.size > size) addFree(new Range(fit.slab, fit.offset + size, fit.size - size));
        if (fit.slab.loans++ == 0) idle.remove(fit.slab);
        return new Range(fit.slab, fit.offset, size);
    }

    private static final Slab PROBE = new Slab(null, MemorySegment.NULL, Long.MIN_VALUE);

    private void addFree(Range r) {
        free.add(r);
        r.slab.freeByOffset.put(r.offset, r);
    }

    private void removeFree(Range r) {
        free.remove(r);
        r.slab.freeByOffset.remove(r.offset);
    }

    /** A range back to its slab's free space, merged with the free ranges on either side. */
    private synchronized void giveBack(Range range) {
        Slab slab = range.slab;
        lent -= range.size;
        returns++;
        long offset = range.offset, size = range.size;
        var before = slab.freeByOffset.floorEntry(offset);
        if (before != null && before.getValue().offset + before.getValue().size == offset) {
            removeFree(before.getValue());
            offset = before.getValue().offset;
            size += before.getValue().size;
        }
        Range after = slab.freeByOffset.get(offset + size);
        if (after != null) {
            removeFree(after);
            size += after.size;
        }
        addFree(new Range(slab, offset, size));
        if (--slab.loans == 0) {
            if (closed) freeSlab(slab); // the backend is gone: this slab's memory goes back to the system now
            else idle.add(slab);
        }
    }

    private void freeSlab(Slab slab) {
        removeFree(slab.freeByOffset.firstEntry().getValue()); // wholly free: one range
        idle.remove(slab);
        pooled -= slab.size();
        slab.arena.close();
    }

    /**
     * Frees every wholly free slab now; slabs with ranges still lent (results the caller holds) are freed as soon as
     * those come back. Called when the backend closes, so that its native memory does not wait for the next collection.
     */
    synchronized void close() {
        closed = true;
        releaseIdle(0);
    }

    /** Frees wholly free slabs, least recently freed first, until at most {@code target} bytes are pooled. */
    private boolean releaseIdle(long target) {
        while (pooled > target && !idle.isEmpty()) freeSlab(idle.iterator().next());
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
}
