package dev.panamadiffusion.models.layers;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code Upsample2D} with {@code use_conv=True}: nearest-neighbour ×2 upsampling, then a 3×3 convolution,
 * key {@code conv}.
 */
public final class Upsample2D {
    private final Backend backend;
    private final Conv2d conv;

    public Upsample2D(Weights w, int channels, int outChannels) {
        this.backend = w.backend();
        this.conv = new Conv2d(w.pp("conv"), channels, outChannels, 3, 1, 1);
    }

    public Tensor forward(Tensor x) {
        Tensor up = backend.upsampleNearest2x(x); // [N, C, 2H, 2W]
        return backend.consumed(conv.forward(up), up); // [N, out, 2H, 2W]
    }
}
