package dev.panamadiffusion.weights;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link Weights#bound()}: what a model bound, to save it or bind a second model to the same tensors. */
class WeightsBoundTest {
    @Test
    void boundListsTheUploadedTensorsInBindingOrder() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            Weights w = Weights.random(cpu, 7, 0.5f);
            Tensor b = w.pp("block").get("bias", 3);
            Tensor a = w.pp("block").get("weight", 3, 2);
            w.pp("block").get("weight", 3, 2);  // asked twice, bound once
            Map<String, Tensor> bound = w.bound();
            assertEquals(List.of("block.bias", "block.weight"), List.copyOf(bound.keySet()));
            assertSame(b, bound.get("block.bias"));
            assertSame(a, bound.get("block.weight"));
            assertThrows(UnsupportedOperationException.class, () -> bound.put("x", a));

            Weights again = Weights.of(bound, cpu, "rebound");
            assertArrayEquals(a.toFloatArray(), again.pp("block").get("weight", 3, 2).toFloatArray());
            again.pp("block").get("bias", 3);
            again.finish();
        }
    }
}
