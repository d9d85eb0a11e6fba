package dev.panamadiffusion.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The parameters of one kernel launch, in the kernel's parameter order, marshalled into the {@code void**} array
 * cuLaunchKernel takes (each entry points at a copy of the value). Kinds match the CUDA C parameter types:
 * {@link #ptr} for {@code T*}, {@link #i32} for {@code int}, {@link #i64} for {@code long long}, {@link #f32} for
 * {@code float}, {@link #struct} for a struct passed by value (its bytes, laid out as in C).
 */
public final class KernelArgs {
    private final List<Object> values = new ArrayList<>();

    public static KernelArgs of() { return new KernelArgs(); }

    /** A device pointer (0 for a null pointer). */
    public KernelArgs ptr(long deviceAddress) {
        values.add(new Ptr(deviceAddress));
        return this;
    }

    public KernelArgs i32(int v) {
        values.add(v);
        return this;
    }

    public KernelArgs i64(long v) {
        values.add(v);
        return this;
    }

    public KernelArgs f32(float v) {
        values.add(v);
        return this;
    }

    /** A struct by value: a copy of {@code bytes} (8-byte aligned) is passed. */
    public KernelArgs struct(MemorySegment bytes) {
        values.add(bytes);
        return this;
    }

    public int size() { return values.size(); }

    private record Ptr(long address) {}

    /** The {@code void**} array, allocated with its values in {@code arena}. */
    MemorySegment marshal(Arena arena) {
        MemorySegment array = arena.allocate(ValueLayout.ADDRESS, Math.max(1, values.size()));
        for (int i = 0; i < values.size(); i++) {
            Object v = values.get(i);
            MemorySegment slot;
            switch (v) {
                case Ptr p -> {
                    slot = arena.allocate(ValueLayout.JAVA_LONG);
                    slot.set(ValueLayout.JAVA_LONG, 0, p.address());
                }
                case Integer x -> {
                    slot = arena.allocate(ValueLayout.JAVA_INT);
                    slot.set(ValueLayout.JAVA_INT, 0, x);
                }
                case Long x -> {
                    slot = arena.allocate(ValueLayout.JAVA_LONG);
                    slot.set(ValueLayout.JAVA_LONG, 0, x);
                }
                case Float x -> {
                    slot = arena.allocate(ValueLayout.JAVA_FLOAT);
                    slot.set(ValueLayout.JAVA_FLOAT, 0, x);
                }
                case MemorySegment s -> {
                    slot = arena.allocate(Math.max(1, s.byteSize()), 16);
                    MemorySegment.copy(s, 0, slot, 0, s.byteSize());
                }
                default -> throw new IllegalStateException("kernel argument " + v);
            }
            array.setAtIndex(ValueLayout.ADDRESS, i, slot);
        }
        return array;
    }
}
