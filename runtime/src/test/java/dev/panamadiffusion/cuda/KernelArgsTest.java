package dev.panamadiffusion.cuda;

import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Packing of launch parameters and the layout helpers (host-only). */
class KernelArgsTest {
    @Test
    void extraPacksTheValuesAtTheirCOffsetsAndGivesTheSize() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment struct = a.allocate(16);
            struct.set(ValueLayout.JAVA_LONG, 0, 11);
            struct.set(ValueLayout.JAVA_LONG, 8, 22);
            // void* at 0, int at 8, long long at 16 (after 4 bytes of padding), float at 24, struct at 32 (8-aligned)
            KernelArgs args = KernelArgs.of().ptr(0xdead_beef_00L).i32(-5).i64(1L << 40).f32(0.25f).struct(struct);
            MemorySegment extra = args.packExtra(a).reinterpret(5 * ValueLayout.ADDRESS.byteSize());
            assertEquals(5, args.size());
            assertEquals(KernelArgs.LAUNCH_PARAM_BUFFER_POINTER, extra.getAtIndex(ValueLayout.ADDRESS, 0).address());
            assertEquals(KernelArgs.LAUNCH_PARAM_BUFFER_SIZE, extra.getAtIndex(ValueLayout.ADDRESS, 2).address());
            assertEquals(KernelArgs.LAUNCH_PARAM_END, extra.getAtIndex(ValueLayout.ADDRESS, 4).address());
            long size = extra.getAtIndex(ValueLayout.ADDRESS, 3).reinterpret(8).get(ValueLayout.JAVA_LONG, 0);
            assertEquals(48, size);
            MemorySegment buf = extra.getAtIndex(ValueLayout.ADDRESS, 1).reinterpret(size);
            assertEquals(0xdead_beef_00L, buf.get(ValueLayout.JAVA_LONG, 0));
            assertEquals(-5, buf.get(ValueLayout.JAVA_INT, 8));
            assertEquals(1L << 40, buf.get(ValueLayout.JAVA_LONG, 16));
            assertEquals(0.25f, buf.get(ValueLayout.JAVA_FLOAT, 24));
            assertEquals(11, buf.get(ValueLayout.JAVA_LONG, 32));
            assertEquals(22, buf.get(ValueLayout.JAVA_LONG, 40));
        }
    }

    @Test
    void stridedStructMatchesTheCLayout() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = Layouts.strided(a, new long[] {2, 3, 4}, new long[] {12, 1, 3}, 5);
            assertEquals(Layouts.STRIDED_BYTES, s.byteSize());
            assertEquals(3, s.get(ValueLayout.JAVA_LONG, 8));    // shape[1]
            assertEquals(12, s.get(ValueLayout.JAVA_LONG, 48));  // stride[0]
            assertEquals(5, s.get(ValueLayout.JAVA_LONG, 96));   // offset
            assertEquals(3, s.get(ValueLayout.JAVA_INT, 104));   // rank
        }
    }

    @Test
    void channelsLastDetection() {
        Tensor nhwc = Tensor.allocate(DType.F16, 2, 5, 6, 3).permute(0, 3, 1, 2);  // logical [2, 3, 5, 6]
        assertTrue(Layouts.isChannelsLast(nhwc));
        assertFalse(Layouts.isChannelsLast(Tensor.allocate(DType.F16, 2, 3, 5, 6)));
        assertTrue(Layouts.isChannelsLast(Tensor.allocate(DType.F16, 2, 1, 5, 6)), "one channel: both layouts agree");
        assertFalse(Layouts.isChannelsLast(Tensor.allocate(DType.F16, 2, 3, 5)));
        assertEquals(4, CublasLt.alignment(4 + 1024));
        assertEquals(256, CublasLt.alignment(4096));
    }
}
