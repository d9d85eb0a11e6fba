package dev.panamadiffusion.nn;

import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Param;
import dev.panamadiffusion.weights.Weights;

/** torch.nn.Linear: keys {@code weight} [out, in] and {@code bias} [out] (when {@code bias}). */
public final class Linear {
    private final Weights w;
    private final Param weight; // swappable: a LoRA patches it
    private final Tensor bias;
    public final long inFeatures;
    public final long outFeatures;

    public Linear(Weights w, long inFeatures, long outFeatures, boolean bias) {
        this.w = w;
        this.inFeatures = inFeatures;
        this.outFeatures = outFeatures;
        this.weight = w.param("weight", outFeatures, inFeatures);
        this.bias = bias ? w.get("bias", outFeatures) : null;
    }

    public Tensor forward(Tensor x) { // [..., in] -> [..., out]
        return w.backend().linear(x, weight.tensor(), bias);
    }
}
