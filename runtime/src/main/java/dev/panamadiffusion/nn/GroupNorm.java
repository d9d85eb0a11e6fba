package dev.panamadiffusion.nn;

import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/** torch.nn.GroupNorm with affine: keys {@code weight} [C], {@code bias} [C]. */
public final class GroupNorm {
    private final Weights w;
    private final Tensor gamma;
    private final Tensor beta;
    public final int groups;
    public final float eps;

    public GroupNorm(Weights w, int groups, long channels, float eps) {
        this.w = w;
        this.groups = groups;
        this.eps = eps;
        this.gamma = w.get("weight", channels);
        this.beta = w.get("bias", channels);
    }

    public Tensor forward(Tensor x) { return w.backend().groupNorm(x, groups, gamma, beta, eps, false); }

    /** GroupNorm followed by SiLU, fused. */
    public Tensor forwardSilu(Tensor x) { return w.backend().groupNorm(x, groups, gamma, beta, eps, true); }
}
