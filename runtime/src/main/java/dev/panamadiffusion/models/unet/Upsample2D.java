package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code Upsample2D} with a convolution: nearest 2× then 3×3 under key {@code conv}.
 * Interim copy until the shared {@code models.layers.Upsample2D} lands on main.
 */
final class Upsample2D {
    private final Backend backend;
    private final Conv2d conv;

    Upsample2D(Weights w, long channels, long out) {
        this.backend = w.backend();
        this.conv = new Conv2d(w.pp("conv"), channels, out, 3, 1, 1);
    }

    Tensor forward(Tensor x) { // [N, C, H, W] -> [N, out, 2H, 2W]
        return conv.forward(backend.upsampleNearest2x(x));
    }
}
