package dev.panamadiffusion.cuda;

import java.util.Comparator;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Best-fit sub-allocation of one address range [base, base + size) in blocks aligned to {@link #ALIGNMENT}, with
 * free neighbours merged on release. Pure bookkeeping (no memory is touched); thread-safe.
 */
final class BlockAllocator {
    /** Block alignment and granularity in bytes (cuBLASLt and cuDNN prefer 256-byte aligned operands). */
    static final long ALIGNMENT = 256;

    private record Block(long address, long size) {}

    private static final Comparator<Block> BY_SIZE =
            Comparator.comparingLong(Block::size).thenComparingLong(Block::address);

    private final long base;
    private final long size;
    private final TreeMap<Long, Long> freeByAddress = new TreeMap<>();
    private final TreeSet<Block> freeBySize = new TreeSet<>(BY_SIZE);
    private long used;
    private long peak;

    BlockAllocator(long base, long size) {
        if (base % ALIGNMENT != 0) throw new IllegalArgumentException("base " + base + " is not " + ALIGNMENT + "-aligned");
        this.base = base;
        this.size = size / ALIGNMENT * ALIGNMENT;
        if (this.size > 0) addFree(base, this.size);
    }

    static long roundUp(long bytes) {
        return Math.max(ALIGNMENT, (bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT);
    }

    /** The address of a free block of at least {@code bytes} (rounded up), or -1 when no free block is large enough. */
    synchronized long allocate(long bytes) {
        long need = roundUp(bytes);
        Block b = freeBySize.ceiling(new Block(Long.MIN_VALUE, need));
        if (b == null) return -1;
        removeFree(b.address, b.size);
        if (b.size > need) addFree(b.address + need, b.size - need);
        used += need;
        peak = Math.max(peak, used);
        return b.address;
    }

    /** Returns the block at {@code address} of {@code bytes} (the size it was allocated with) to the free lists. */
    synchronized void free(long address, long bytes) {
        long len = roundUp(bytes);
        if (address < base || address + len > base + size) {
            throw new IllegalArgumentException("block " + address + "+" + len + " is outside the arena");
        }
        Map.Entry<Long, Long> next = freeByAddress.ceilingEntry(address);
        if (next != null && next.getKey() < address + len) throw new IllegalStateException("double free of " + address);
        Map.Entry<Long, Long> prev = freeByAddress.lowerEntry(address);
        if (prev != null && prev.getKey() + prev.getValue() > address) throw new IllegalStateException("double free of " + address);
        used -= len;
        long start = address, end = address + len;
        if (prev != null && prev.getKey() + prev.getValue() == address) {
            removeFree(prev.getKey(), prev.getValue());
            start = prev.getKey();
        }
        if (next != null && next.getKey() == end) {
            removeFree(next.getKey(), next.getValue());
            end = next.getKey() + next.getValue();
        }
        addFree(start, end - start);
    }

    synchronized long used() { return used; }

    synchronized long peak() { return peak; }

    /** Restarts the high-water mark from the bytes in use now. */
    synchronized void resetPeak() { peak = used; }

    long capacity() { return size; }

    /** The largest block that {@link #allocate} could return now. */
    synchronized long largestFree() { return freeBySize.isEmpty() ? 0 : freeBySize.last().size; }

    /** Number of free blocks (1 when nothing is allocated: everything merged back). */
    synchronized int freeBlocks() { return freeByAddress.size(); }

    private void addFree(long address, long len) {
        freeByAddress.put(address, len);
        freeBySize.add(new Block(address, len));
    }

    private void removeFree(long address, long len) {
        freeByAddress.remove(address);
        freeBySize.remove(new Block(address, len));
    }
}
