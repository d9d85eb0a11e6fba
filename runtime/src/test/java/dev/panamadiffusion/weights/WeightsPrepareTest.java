package dev.panamadiffusion.weights;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.nn.LayerNorm;
import dev.panamadiffusion.nn.Linear;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@link Weights#prepare()}: the backend readies every linear and convolution weight but the deferred ones. */
class WeightsPrepareTest {
    private static Tensor t(long... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = (i % 7) * 0.25f - 0.5f;
        return Tensor.fromFloats(v, shape);
    }

    @Test
    void preparesEveryParamButTheDeferredOnes() {
        Map<String, Tensor> src = new LinkedHashMap<>();
        src.put("proj.weight", t(6, 4));
        src.put("proj.bias", t(6));
        src.put("conv.weight", t(3, 2, 3, 3));
        src.put("conv.bias", t(3));
        src.put("norm.weight", t(4));
        src.put("norm.bias", t(4));
        src.put("encoder.conv.weight", t(3, 2, 3, 3));
        src.put("encoder.conv.bias", t(3));
        try (CpuBackend cpu = new CpuBackend(1)) {
            Weights w = Weights.of(src, cpu, "test");
            new Linear(w.pp("proj"), 4, 6, true);
            new Conv2d(w.pp("conv"), 2, 3, 3, 1, 1);
            new LayerNorm(w.pp("norm"), 4, 1e-5f);
            new Conv2d(w.pp("encoder").pp("conv"), 2, 3, 3, 1, 1);
            w.pp("encoder").deferPreparation();
            w.finish();
            assertEquals(0, cpu.cachedWeights());
            w.prepare();
            assertEquals(2, cpu.cachedWeights(), "proj and conv, not the norm, not the deferred encoder");
        }
    }
}
