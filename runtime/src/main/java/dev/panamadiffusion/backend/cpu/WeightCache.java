package dev.panamadiffusion.backend.cpu;

import dev.panamadiffusion.tensor.Tensor;

import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Packed weight operands, keyed by the identity of the weight tensor's storage segment plus its offset, shape and
 * strides, held weakly: an entry lives as long as the weight's memory. Weights must not change after first use.
 */
final class WeightCache {
    private final ReferenceQueue<Object> queue = new ReferenceQueue<>();
    private final Map<Key, List<Entry>> map = new HashMap<>();

    private record Entry(long offset, long[] shape, long[] strides, String kind, Packed packed) {}

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

    /** The packed form of {@code weight} for {@code kind}, packing it with {@code packer} on first use. */
    Packed get(Tensor weight, String kind, Supplier<Packed> packer) {
        Object storage = weight.storage();
        Key probe = new Key(storage, null);
        long[] shape = weight.shape();
        long[] strides = weight.strides();
        synchronized (this) {
            expunge();
            List<Entry> entries = map.get(probe);
            if (entries != null) {
                for (Entry e : entries) {
                    if (e.offset == weight.offset() && e.kind.equals(kind) && Arrays.equals(e.shape, shape)
                            && Arrays.equals(e.strides, strides)) {
                        return e.packed;
                    }
                }
            }
        }
        Packed packed = packer.get();
        synchronized (this) {
            map.computeIfAbsent(new Key(storage, queue), k -> new ArrayList<>())
                    .add(new Entry(weight.offset(), shape, strides, kind, packed));
        }
        Reference.reachabilityFence(storage);
        return packed;
    }

    synchronized int size() {
        expunge();
        return map.values().stream().mapToInt(List::size).sum();
    }

    synchronized void clear() { map.clear(); }

    private void expunge() {
        for (Reference<?> r; (r = queue.poll()) != null; ) map.remove(r);
    }
}
