package dev.panamadiffusion.tensor;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class TensorTest {
    @Test
    void viewsShareStorageAndIndexRowMajor() {
        float[] v = new float[24];
        for (int i = 0; i < v.length; i++) v[i] = i;
        Tensor t = Tensor.fromFloats(v, 2, 3, 4);
        assertEquals(23f, t.getFloat(23));
        Tensor p = t.permute(2, 0, 1); // [4, 2, 3]
        assertArrayEquals(new long[] {4, 2, 3}, p.shape());
        assertFalse(p.isContiguous());
        assertEquals(t.getFloat(1 * 12 + 2 * 4 + 3), p.getFloat(3 * 6 + 1 * 3 + 2));
        Tensor s = t.slice(1, 1, 3).select(0, 1); // [2, 4] rows 1..2 of batch 1
        assertEquals(16f, s.getFloat(0));
        assertEquals(23f, s.getFloat(7));
        assertArrayEquals(new long[] {6, 4}, t.reshape(-1, 4).shape());
        assertThrows(IllegalStateException.class, () -> p.reshape(24));
        assertArrayEquals(p.contiguous().toFloatArray(), p.toFloatArray());
    }

    @Test
    void halfConversionsRoundTrip() {
        float[] vals = {0f, 1f, -2.5f, 65504f, 1e-8f, 3.14159f};
        for (float f : vals) {
            assertEquals(f, Halfs.f16ToF32(Halfs.f32ToF16(f)), Math.abs(f) * 1e-3 + 1e-7);
            assertEquals(f, Halfs.bf16ToF32(Halfs.f32ToBf16(f)), Math.abs(f) * 8e-3 + 1e-30);
        }
        Tensor h = Tensor.fromFloats(vals, 6).to(DType.F16);
        assertEquals(DType.F16, h.dtype());
        assertEquals(12, h.byteSize());
        assertEquals(-2.5f, h.to(DType.F32).getFloat(2));
        assertEquals(1f, Halfs.bf16ToF32((short) 0x3f80));
        assertEquals((short) 0x3c00, Halfs.f32ToF16(1f));
    }
}
