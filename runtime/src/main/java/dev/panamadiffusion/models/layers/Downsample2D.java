package dev.panamadiffusion.models.layers;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code Downsample2D} with {@code use_conv=True} (the only form Stable Diffusion uses): a stride-2 3×3
 * convolution, key {@code conv}. With {@code padding} 0 (the VAE encoder) the input is first zero-padded
 * asymmetrically by one column on the right and one row at the bottom, as diffusers' {@code F.pad(x, (0, 1, 0, 1))}.
 */
public final class Downsample2D {
    private final Backend backend;
    private final Conv2d conv;
    private final int padding;

    /** @param padding 1 in the UNet, 0 in the VAE encoder (asymmetric (0, 1, 0, 1) pad first) */
    public Downsample2D(Weights w, int channels, int outChannels, int padding) {
        if (padding != 0 && padding != 1) throw new IllegalArgumentException("Downsample2D padding " + padding + " (0 or 1)");
        this.backend = w.backend();
        this.padding = padding;
        this.conv = new Conv2d(w.pp("conv"), channels, outChannels, 3, 2, padding);
    }

    public Tensor forward(Tensor x) { // [N, C, H, W] -> [N, out, ceil(H/2), ceil(W/2)] (H, W even: H/2, W/2)
        Tensor in = padding == 0 ? backend.pad2d(x, 0, 1, 0, 1) : x; // [N, C, H(+1), W(+1)]
        return in == x ? conv.forward(in) : backend.consumed(conv.forward(in), in);
    }
}
