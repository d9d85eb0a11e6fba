package dev.panamadiffusion.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The parameters of one kernel launch, in the kernel's parameter order, packed into the one parameter buffer that
 * cuLaunchKernel takes through {@code extra}. Kinds match the CUDA C parameter types:
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

    /** cuLaunchKernel's {@code extra} keys (cuda.h macros, not in the generated bindings). */
    static final long LAUNCH_PARAM_END = 0, LAUNCH_PARAM_BUFFER_POINTER = 1, LAUNCH_PARAM_BUFFER_SIZE = 2;

    /**
     * The parameters packed into one buffer as the C compiler lays them out (each value at its alignment: pointers
     * and {@code long long} 8, {@code int} and {@code float} 4, structs 8), and cuLaunchKernel's {@code extra} array
     * pointing at it ({@code BUFFER_POINTER, buf, BUFFER_SIZE, &size, END}). Launching this way hands the driver the
     * buffer's size, so a launch whose argument kinds disagree with the kernel's parameter list is refused (by the
     * CUDA emulator exactly, which knows the kernel's {@code .param} list) instead of running on shifted values.
     */
    MemorySegment packExtra(Arena arena) {
        long size = 0;
        long[] offsets = new long[values.size()];
        for (int i = 0; i < values.size(); i++) {
            long[] sa = sizeAndAlignment(values.get(i));
            size = (size + sa[1] - 1) / sa[1] * sa[1];
            offsets[i] = size;
            size += sa[0];
        }
        MemorySegment buffer = arena.allocate(Math.max(1, size), 16);
        for (int i = 0; i < values.size(); i++) {
            long o = offsets[i];
            switch (values.get(i)) {
                case Ptr p -> buffer.set(ValueLayout.JAVA_LONG_UNALIGNED, o, p.address());
                case Integer x -> buffer.set(ValueLayout.JAVA_INT_UNALIGNED, o, x);
                case Long x -> buffer.set(ValueLayout.JAVA_LONG_UNALIGNED, o, x);
                case Float x -> buffer.set(ValueLayout.JAVA_FLOAT_UNALIGNED, o, x);
                case MemorySegment m -> MemorySegment.copy(m, 0, buffer, o, m.byteSize());
                default -> throw new IllegalStateException("kernel argument " + values.get(i));
            }
        }
        MemorySegment sizeSlot = arena.allocate(ValueLayout.JAVA_LONG);
        sizeSlot.set(ValueLayout.JAVA_LONG, 0, size);
        MemorySegment extra = arena.allocate(ValueLayout.ADDRESS, 5);
        extra.setAtIndex(ValueLayout.ADDRESS, 0, MemorySegment.ofAddress(LAUNCH_PARAM_BUFFER_POINTER));
        extra.setAtIndex(ValueLayout.ADDRESS, 1, buffer);
        extra.setAtIndex(ValueLayout.ADDRESS, 2, MemorySegment.ofAddress(LAUNCH_PARAM_BUFFER_SIZE));
        extra.setAtIndex(ValueLayout.ADDRESS, 3, sizeSlot);
        extra.setAtIndex(ValueLayout.ADDRESS, 4, MemorySegment.ofAddress(LAUNCH_PARAM_END));
        return extra;
    }

    /** {size, alignment} of one value in a C parameter list. */
    private static long[] sizeAndAlignment(Object v) {
        return switch (v) {
            case Ptr p -> new long[] {8, 8};
            case Long x -> new long[] {8, 8};
            case Integer x -> new long[] {4, 4};
            case Float x -> new long[] {4, 4};
            case MemorySegment m -> new long[] {m.byteSize(), 8};
            default -> throw new IllegalStateException("kernel argument " + v);
        };
    }
}
