package dev.panamadiffusion.models.layers;

import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code Upsample2D} with {@code use_conv=True}: nearest-neighbour ×2 upsampling, then a 3×3 convolution,
 * key {@code conv}.
 */
public final class Upsample2D {
    private final Conv2d conv;

    public Upsample2D(Weights w, int channels, int outChannels) {
        this.conv = new Conv2d(w.pp("conv"), channels, outChannels, 3, 1, 1);
    }

    public Tensor forward(Tensor x) {
        return conv.forwardUpsampled2x(x); // [N, out, 2H, 2W]
    }
}
