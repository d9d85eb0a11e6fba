package dev.panamadiffusion.cuda;

import dev.panamadiffusion.backend.OutOfDeviceMemoryException;
import dev.panamadiffusion.bindings.cuda.cuda_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Device memory for a backend: one cuMemAlloc at creation, sub-allocated by a {@link BlockAllocator}, so that no
 * cuMemAlloc/cuMemFree happens while models run (and CUDA graphs can be captured over it).
 *
 * <p>{@link #allocate} returns a zero-based {@link MemorySegment} whose address is the device address; the block
 * returns to the arena when that segment (and every slice of it: tensor views) becomes unreachable, through the
 * cleanup of an automatic {@link Arena}. All work runs on one stream, so a block freed on the host while kernels
 * still read it can only be reused by work queued after them. When the arena is full, {@link #allocate} runs the
 * garbage collector and waits for cleanups before it gives up. {@link #allocateScratch} blocks are released
 * explicitly with {@link #release}.
 *
 * <p>While a CUDA graph is captured ({@link #beginHold}), the blocks the captured work uses must keep their
 * addresses for as long as the graph lives: blocks allocated then are kept reachable and scratch releases are
 * deferred until the action {@link #endHold} returns is run (when the graph is closed).
 */
public final class DeviceArena implements AutoCloseable {
    private final long base;
    private final BlockAllocator blocks;
    private volatile boolean closed;
    private List<MemorySegment> heldSegments;  // non-null while holding: blocks allocated during a capture
    private List<long[]> heldScratch;          // scratch blocks released during a capture: {address, bytes}

    private DeviceArena(long base, long bytes) {
        this.base = base;
        this.blocks = new BlockAllocator(base, bytes);
    }

    /**
     * Allocates {@code bytes} of device memory in the current context (one cuMemAlloc_v2); more than the device has
     * free is an {@link OutOfDeviceMemoryException} saying how much it has.
     */
    public static DeviceArena create(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.JAVA_LONG);
            int rc = cuda_h.cuMemAlloc_v2(p, bytes);
            if (rc == cuda_h.CUDA_ERROR_OUT_OF_MEMORY()) {
                MemorySegment free = a.allocate(ValueLayout.JAVA_LONG), total = a.allocate(ValueLayout.JAVA_LONG);
                Check.cu(cuda_h.cuMemGetInfo_v2(free, total), "cuMemGetInfo_v2");
                long f = free.get(ValueLayout.JAVA_LONG, 0), t = total.get(ValueLayout.JAVA_LONG, 0);
                throw new OutOfDeviceMemoryException("the device arena of " + OutOfDeviceMemoryException.describeBytes(bytes)
                        + " does not fit: the GPU has " + OutOfDeviceMemoryException.describeBytes(f) + " of "
                        + OutOfDeviceMemoryException.describeBytes(t) + " free (-D" + CudaBackend.ARENA_PROPERTY
                        + " sets the arena's size)", bytes, f, t);
            }
            Check.cu(rc, "cuMemAlloc_v2(" + bytes + ")");
            return new DeviceArena(p.get(ValueLayout.JAVA_LONG, 0), bytes);
        }
    }

    /** A device block of {@code bytes}, returned to the arena when the segment becomes unreachable. */
    @SuppressWarnings("restricted") // device/driver addresses: sizes come from the driver
    public MemorySegment allocate(long bytes) {
        long address = allocateOrCollect(bytes);
        long len = BlockAllocator.roundUp(bytes);
        MemorySegment seg = MemorySegment.ofAddress(address).reinterpret(bytes, Arena.ofAuto(), s -> releaseQuietly(address, len));
        synchronized (this) {
            if (heldSegments != null) heldSegments.add(seg);
        }
        return seg;
    }

    /** The device address of a block of {@code bytes} that the caller releases with {@link #release}. */
    public long allocateScratch(long bytes) { return allocateOrCollect(bytes); }

    /** Returns a {@link #allocateScratch} block. Work already queued on the stream may still use it (stream order). */
    public synchronized void release(long address, long bytes) {
        if (heldScratch != null) {
            heldScratch.add(new long[] {address, bytes});
        } else if (!closed) {
            blocks.free(address, bytes);
        }
    }

    /** Starts keeping every block allocated or released from now on (a CUDA graph capture begins). */
    public synchronized void beginHold() {
        if (heldSegments != null) throw new IllegalStateException("already holding blocks for a capture");
        heldSegments = new ArrayList<>();
        heldScratch = new ArrayList<>();
    }

    /** Stops holding; the returned action frees what was held (run it when the captured graph is destroyed). */
    public synchronized Runnable endHold() {
        List<MemorySegment> segments = heldSegments;
        List<long[]> scratch = heldScratch;
        heldSegments = null;
        heldScratch = null;
        if (segments == null) throw new IllegalStateException("not holding blocks");
        return () -> {
            synchronized (DeviceArena.this) {
                for (long[] b : scratch) releaseQuietly(b[0], b[1]);
                segments.clear();  // the tensors' blocks return once nothing else references them
            }
        };
    }

    private void releaseQuietly(long address, long len) {
        if (!closed) blocks.free(address, len);
    }

    private long allocateOrCollect(long bytes) {
        if (closed) throw new IllegalStateException("device arena is closed");
        long address = blocks.allocate(bytes);
        // Unreachable tensors free their blocks only after a GC: collect and give the cleaner time to run.
        for (int attempt = 0; address < 0 && attempt < 8; attempt++) {
            System.gc();
            try {
                Thread.sleep(1L << attempt);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            address = blocks.allocate(bytes);
        }
        if (address < 0) {
            long largest = blocks.largestFree();
            throw new OutOfDeviceMemoryException("the device arena is full: "
                    + OutOfDeviceMemoryException.describeBytes(bytes) + " requested, the largest free block is "
                    + OutOfDeviceMemoryException.describeBytes(largest) + " (" + OutOfDeviceMemoryException.describeBytes(blocks.used())
                    + " of " + OutOfDeviceMemoryException.describeBytes(blocks.capacity()) + " in use)", bytes, largest, blocks.capacity());
        }
        return address;
    }

    /**
     * Returns the blocks of segments nothing references any more (otherwise they return after some garbage
     * collection): collects until the bytes in use stop falling, at most about half a second. Returns {@link #used()}.
     */
    public long reclaim() {
        long before = blocks.used();
        for (int attempt = 0; attempt < 8; attempt++) {
            System.gc();
            try {
                Thread.sleep(1L << Math.min(attempt + 2, 6));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            long now = blocks.used();
            if (attempt >= 1 && now == before) break;  // two collections in a row freed nothing more
            before = now;
        }
        return blocks.used();
    }

    public long capacity() { return blocks.capacity(); }

    public long used() { return blocks.used(); }

    public long peak() { return blocks.peak(); }

    /** Restarts {@link #peak} from the bytes in use now. */
    public void resetPeak() { blocks.resetPeak(); }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Check.cu(cuda_h.cuMemFree_v2(base), "cuMemFree_v2");
    }
}
