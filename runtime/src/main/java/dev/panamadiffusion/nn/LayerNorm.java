package dev.panamadiffusion.nn;

import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/** torch.nn.LayerNorm over the last dimension: keys {@code weight} [C], {@code bias} [C]. */
public final class LayerNorm {
    private final Weights w;
    private final Tensor gamma;
    private final Tensor beta;
    public final float eps;

    public LayerNorm(Weights w, long channels, float eps) {
        this.w = w;
        this.eps = eps;
        this.gamma = w.get("weight", channels);
        this.beta = w.get("bias", channels);
    }

    public Tensor forward(Tensor x) { return w.backend().layerNorm(x, gamma, beta, eps); }
}
