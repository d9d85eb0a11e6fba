package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.nn.GroupNorm;
import dev.panamadiffusion.nn.Linear;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code ResnetBlock2D} (time_embedding_norm "default", SiLU). Keys: {@code norm1}, {@code conv1},
 * {@code time_emb_proj}, {@code norm2}, {@code conv2}, {@code conv_shortcut} (when in ≠ out).
 * Interim copy until the shared {@code models.layers.ResnetBlock2D} lands on main.
 */
final class ResnetBlock2D {
    private final Backend backend;
    private final GroupNorm norm1;
    private final Conv2d conv1;
    private final Linear timeEmbProj;
    private final GroupNorm norm2;
    private final Conv2d conv2;
    private final Conv2d convShortcut;
    private final float outputScaleFactor;

    ResnetBlock2D(Weights w, long in, long out, long tembChannels, int groups, float eps, float outputScaleFactor) {
        this.backend = w.backend();
        this.norm1 = new GroupNorm(w.pp("norm1"), groups, in, eps);
        this.conv1 = new Conv2d(w.pp("conv1"), in, out, 3, 1, 1);
        this.timeEmbProj = tembChannels > 0 ? new Linear(w.pp("time_emb_proj"), tembChannels, out, true) : null;
        this.norm2 = new GroupNorm(w.pp("norm2"), groups, out, eps);
        this.conv2 = new Conv2d(w.pp("conv2"), out, out, 3, 1, 1);
        this.convShortcut = in != out ? new Conv2d(w.pp("conv_shortcut"), in, out, 1, 1, 0) : null;
        this.outputScaleFactor = outputScaleFactor;
    }

    Tensor forward(Tensor x, Tensor temb) { // x [N, in, H, W], temb [N, T]
        Tensor h = norm1.forwardSilu(x);                                    // [N, in, H, W]
        h = conv1.forward(h);                                               // [N, out, H, W]
        if (timeEmbProj != null) {
            Tensor t = timeEmbProj.forward(backend.silu(temb));             // [N, out]
            h = backend.addChannelwise(h, t);                               // [N, out, H, W]
        }
        h = norm2.forwardSilu(h);                                           // [N, out, H, W]
        h = conv2.forward(h);                                               // [N, out, H, W]
        Tensor shortcut = convShortcut != null ? convShortcut.forward(x) : x; // [N, out, H, W]
        Tensor y = backend.add(shortcut, h);                                // [N, out, H, W]
        return outputScaleFactor == 1f ? y : backend.scale(y, 1f / outputScaleFactor);
    }
}
