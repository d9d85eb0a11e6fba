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

/** Marshalling of launch parameters and the layout helpers (host-only). */
class KernelArgsTest {
    @Test
    void eachSlotPointsAtItsValue() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment struct = a.allocate(16);
            struct.set(ValueLayout.JAVA_LONG, 0, 11);
            struct.set(ValueLayout.JAVA_LONG, 8, 22);
            KernelArgs args = KernelArgs.of().ptr(0xdead_beef_00L).i32(-5).i64(1L << 40).f32(0.25f).struct(struct);
            MemorySegment array = args.marshal(a);
            assertEquals(5, args.size());
            MemorySegment[] slots = new MemorySegment[5];
            for (int i = 0; i < 5; i++) slots[i] = array.getAtIndex(ValueLayout.ADDRESS, i).reinterpret(16);
            assertEquals(0xdead_beef_00L, slots[0].get(ValueLayout.JAVA_LONG, 0));
            assertEquals(-5, slots[1].get(ValueLayout.JAVA_INT, 0));
            assertEquals(1L << 40, slots[2].get(ValueLayout.JAVA_LONG, 0));
            assertEquals(0.25f, slots[3].get(ValueLayout.JAVA_FLOAT, 0));
            assertEquals(22, slots[4].get(ValueLayout.JAVA_LONG, 8));
            assertEquals(0, slots[4].address() % 8, "struct copy aligned");
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
