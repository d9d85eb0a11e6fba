package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.models.layers.ResnetBlock2D;
import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code UNetMidBlock2D} as the VAE uses it (one layer, no time embedding): {@code resnets.0}, then
 * {@code attentions.0} (unless {@code mid_block_add_attention} is false) and {@code resnets.1}.
 */
public final class UNetMidBlock2D {
    private final ResnetBlock2D resnet0;
    private final AttentionBlock attention;
    private final ResnetBlock2D resnet1;

    private final Backend backend;

    public UNetMidBlock2D(Weights w, int channels, float eps, int groups, boolean addAttention) {
        this.backend = w.backend();
        this.resnet0 = new ResnetBlock2D(w.pp("resnets").pp(0), channels, channels, 0, groups, eps, 1f);
        this.attention = addAttention ? new AttentionBlock(w.pp("attentions").pp(0), channels, channels, groups, eps, 1f) : null;
        this.resnet1 = new ResnetBlock2D(w.pp("resnets").pp(1), channels, channels, 0, groups, eps, 1f);
    }

    public Tensor forward(Tensor x) {                    // [N, C, H, W]
        Tensor h = resnet0.forward(x);                   // [N, C, H, W]
        if (attention != null) h = backend.consumed(attention.forward(h), h); // [N, C, H, W]
        return backend.consumed(resnet1.forward(h), h);  // [N, C, H, W]
    }
}
