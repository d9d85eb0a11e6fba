package dev.panamadiffusion.weights;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class WeightsTest {
    static CpuBackend cpu;

    @BeforeAll
    static void start() { cpu = new CpuBackend(1); }

    @AfterAll
    static void stop() { cpu.close(); }

    private static Tensor t(long... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = i * 0.5f - 1f;
        return Tensor.fromFloats(v, shape);
    }

    @Test
    void missingAndUnexpectedKeysAreAllListed() {
        Map<String, Tensor> src = new LinkedHashMap<>();
        src.put("down_blocks.0.conv.weight", t(4, 2, 3, 3));
        src.put("down_blocks.0.conv.bias", t(4));
        src.put("extra.alpha", t(1));
        src.put("extra.beta", t(2));
        Weights w = Weights.of(src, cpu, "unet");
        Weights block = w.pp("down_blocks").pp(0);
        assertNotNull(block.get("conv.weight", 4, 2, 3, 3));
        assertNotNull(block.get("conv.bias", 4));
        assertNull(block.get("norm.weight", 4)); // missing: recorded, not thrown yet
        assertNull(w.pp("up_blocks").pp(1).get("conv.bias"));
        WeightBindingException e = assertThrows(WeightBindingException.class, w::finish);
        assertEquals(List.of("down_blocks.0.norm.weight [4]", "up_blocks.1.conv.bias"), e.missing());
        assertEquals(List.of("extra.alpha", "extra.beta"), e.unexpected());
        assertTrue(e.mismatched().isEmpty());
        for (String s : List.of("unet", "missing (2)", "down_blocks.0.norm.weight [4]", "up_blocks.1.conv.bias",
                "unexpected (2)", "extra.alpha", "extra.beta")) {
            assertTrue(e.getMessage().contains(s), "'" + s + "' not in: " + e.getMessage());
        }
        assertFalse(e.getMessage().contains("wrong shape"));
    }

    @Test
    void wrongShapeNamesTheKeyAndBothShapes() {
        Weights w = Weights.of(Map.of("proj.weight", t(8, 3)), cpu, "text_encoder");
        assertNull(w.pp("proj").get("weight", 3, 8));
        WeightBindingException e = assertThrows(WeightBindingException.class, w::finish);
        assertEquals(1, e.mismatched().size());
        String m = e.mismatched().get(0);
        assertTrue(m.contains("proj.weight") && m.contains("[8, 3]") && m.contains("[3, 8]"), m);
        assertTrue(e.getMessage().contains("wrong shape (1)") && e.getMessage().contains(m), e.getMessage());
        assertTrue(e.missing().isEmpty() && e.unexpected().isEmpty()); // a mismatched key was asked for
    }

    @Test
    void longListsAreCut() {
        Map<String, Tensor> src = new LinkedHashMap<>();
        for (int i = 0; i < 60; i++) src.put(String.format("k%02d", i), t(1));
        WeightBindingException e = assertThrows(WeightBindingException.class, () -> Weights.of(src, cpu, "vae").finish());
        assertEquals(60, e.unexpected().size());
        assertTrue(e.getMessage().contains("k49") && !e.getMessage().contains("k50") && e.getMessage().contains("and 10 more"),
                e.getMessage());
    }

    @Test
    void f16AndBf16WeightsKeepTheirValuesOnUpload() {
        float[] v = {1f, -2.5f, 0.333251953125f, 65504f};
        Map<String, Tensor> src = new LinkedHashMap<>();
        src.put("h", Tensor.fromFloats(v, 2, 2).to(DType.F16));
        src.put("b", Tensor.fromFloats(v, 2, 2).to(DType.BF16));
        src.put("n", Tensor.fromFloats(v, 4).to(DType.F16));
        Weights w = Weights.of(src, cpu, "vae");
        Tensor h = w.get("h", 2, 2);
        // the CPU keeps a rank-2 or rank-4 half weight as it is (packed once from its values); other ranks become f32
        assertEquals(DType.F16, h.dtype());
        assertArrayEquals(v, h.toFloatArray()); // all four are exact in f16
        Tensor n = w.get("n", 4);
        assertEquals(DType.F32, n.dtype());
        assertArrayEquals(v, n.toFloatArray());
        Tensor b = w.get("b", 2, 2);
        assertEquals(DType.BF16, b.dtype());
        float[] got = b.toFloatArray();
        for (int i = 0; i < v.length; i++) assertEquals(v[i], got[i], Math.abs(v[i]) / 128, "bf16 element " + i);
        assertSame(h, w.get("h", 2, 2)); // uploaded once
        w.finish();
    }

    @Test
    void optionalAndContains() {
        Weights w = Weights.of(Map.of("a.bias", t(3)), cpu, "m");
        assertTrue(w.pp("a").contains("bias"));
        assertFalse(w.contains("a.weight"));
        assertNull(w.pp("a").optional("weight", 3, 3)); // absent and allowed: not recorded as missing
        assertNotNull(w.pp("a").optional("bias", 3));
        assertEquals("a.bias", w.pp("a").key("bias"));
        w.finish();
    }

    @Test
    void randomWeightsAreDeterministicPerSeed() {
        Weights a = Weights.random(cpu, 42, 0.02f);
        Weights b = Weights.random(cpu, 42, 0.02f);
        Weights c = Weights.random(cpu, 43, 0.02f);
        float[] a1 = a.pp("x").get("weight", 100, 100).toFloatArray();
        float[] a2 = a.get("y.bias", 7).toFloatArray();
        assertArrayEquals(a1, b.pp("x").get("weight", 100, 100).toFloatArray());
        assertArrayEquals(a2, b.get("y.bias", 7).toFloatArray());
        assertFalse(java.util.Arrays.equals(a1, c.pp("x").get("weight", 100, 100).toFloatArray()));
        double sum = 0, sq = 0;
        for (float f : a1) {
            sum += f;
            sq += (double) f * f;
        }
        double mean = sum / a1.length, std = Math.sqrt(sq / a1.length - mean * mean);
        assertEquals(0, mean, 0.001); // 10,000 draws: standard error 0.0002
        assertEquals(0.02, std, 0.0006);
        assertSame(a.get("y.bias", 7), a.get("y.bias", 7));
        assertThrows(IllegalArgumentException.class, () -> a.get("z.weight"));
        a.finish(); // nothing is missing or unexpected
    }
}
