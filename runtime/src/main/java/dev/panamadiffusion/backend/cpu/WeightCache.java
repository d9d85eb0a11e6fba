package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Packed weight operands, keyed by the identity of the weight tensor's storage segment plus its offset, shape and
 * strides, held weakly: an entry lives as long as the weight's memory. Weights must not change after first use.
 *
 * <p>Each entry's panels are native memory from an arena of its own, closed (the memory freed at once, not at some
 * later collection) when the entry is dropped: when its weight's storage has become unreachable, or on
 * {@link #clear()}. A caller computing with a packed operand therefore keeps the weight tensor reachable until it is
 * done ({@link java.lang.ref.Reference#reachabilityFence}).
 */
final class WeightCache {
    private final ReferenceQueue<Object> queue = new ReferenceQueue<>();
    private final Map<Key, List<Entry>> map = new HashMap<>();

    private record Entry(long offset, long[] shape, long[] strides, String kind, Packed packed, Arena arena) {}

    private static final class Key extends WeakReference<Object> {
        private final int hash;

        Key(Object referent, ReferenceQueue<Object> q) {
            super(referent, q);
            this.hash = System.identityHashCode(referent);
        }

        @Override
        public int hashCode() { return hash; }

        @Override
        public boolean equals(Object o) {
            if (o == this) return true;
            if (!(o instanceof Key k)) return false;
            Object a = get();
            return a != null && a == k.get();
        }
    }

    /**
     * The packed form of {@code weight} for {@code kind}, packing it with {@code packer} (into the arena it is given)
     * on first use.
     */
    Packed get(Tensor weight, String kind, Function<Arena, Packed> packer) {
        Object storage = weight.storage();
        synchronized (this) {
            expunge();
            Packed found = find(weight, kind);
            if (found != null) return found;
        }
        Arena arena = Arena.ofShared();
        Packed packed;
        try {
            packed = packer.apply(arena);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
        synchronized (this) {
            Packed found = find(weight, kind); // another thread packed it meanwhile
            if (found != null) {
                arena.close();
                return found;
            }
            map.computeIfAbsent(new Key(storage, queue), k -> new ArrayList<>())
                    .add(new Entry(weight.offset(), weight.shape(), weight.strides(), kind, packed, arena));
        }
        Reference.reachabilityFence(storage);
        return packed;
    }

    /** Whether {@code weight} is packed for {@code kind} already. */
    synchronized boolean contains(Tensor weight, String kind) {
        expunge();
        return find(weight, kind) != null;
    }

    private Packed find(Tensor weight, String kind) {
        List<Entry> entries = map.get(new Key(weight.storage(), null));
        if (entries == null) return null;
        for (Entry e : entries) {
            if (e.offset == weight.offset() && e.kind.equals(kind) && Arrays.equals(e.shape, weight.shape())
                    && Arrays.equals(e.strides, weight.strides())) {
                return e.packed;
            }
        }
        return null;
    }

    /**
     * Drops every packing of {@code weight} (each kind) and frees its memory at once: none of them may be in use.
     * Returns the bytes freed.
     */
    synchronized long evict(Tensor weight) {
        expunge();
        List<Entry> entries = map.get(new Key(weight.storage(), null));
        if (entries == null) return 0;
        long freed = 0;
        for (var it = entries.iterator(); it.hasNext(); ) {
            Entry e = it.next();
            if (e.offset == weight.offset() && Arrays.equals(e.shape, weight.shape()) && Arrays.equals(e.strides, weight.strides())) {
                freed += e.packed.byteSize();
                e.arena.close();
                it.remove();
            }
        }
        if (entries.isEmpty()) map.remove(new Key(weight.storage(), null));
        return freed;
    }

    /** Bytes of packed panels held. */
    synchronized long bytes() {
        expunge();
        long sum = 0;
        for (List<Entry> entries : map.values()) for (Entry e : entries) sum += e.packed.byteSize();
        return sum;
    }

    synchronized int size() {
        expunge();
        return map.values().stream().mapToInt(List::size).sum();
    }

    /** Drops every entry and frees its memory: no packed operand may be in use. */
    synchronized void clear() {
        for (List<Entry> entries : map.values()) close(entries);
        map.clear();
    }

    private void expunge() {
        for (Reference<?> r; (r = queue.poll()) != null; ) close(map.remove(r));
    }

    private static void close(List<Entry> entries) {
        if (entries != null) for (Entry e : entries) e.arena.close();
    }
}
