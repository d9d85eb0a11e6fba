package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code Downsample2D} with a convolution: 3×3 stride 2 under key {@code conv}; padding 0 pads right and
 * bottom by one first. Interim copy until the shared {@code models.layers.Downsample2D} lands on main.
 */
final class Downsample2D {
    private final Backend backend;
    private final Conv2d conv;
    private final int padding;

    Downsample2D(Weights w, long channels, long out, int padding) {
        this.backend = w.backend();
        this.padding = padding;
        this.conv = new Conv2d(w.pp("conv"), channels, out, 3, 2, padding);
    }

    Tensor forward(Tensor x) { // [N, C, H, W] -> [N, out, H/2, W/2]
        Tensor in = padding == 0 ? backend.pad2d(x, 0, 1, 0, 1) : x;
        return conv.forward(in);
    }
}
