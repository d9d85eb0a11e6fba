package dev.panamadiffusion.models.layers;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.nn.GroupNorm;
import dev.panamadiffusion.nn.Linear;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code ResnetBlock2D} as Stable Diffusion configures it (pre-norm, SiLU, {@code time_embedding_norm
 * "default"}, no up/down resampling inside the block): keys {@code norm1}, {@code conv1}, {@code time_emb_proj} (only
 * with a time embedding), {@code norm2}, {@code conv2}, {@code conv_shortcut} (1×1, only when in ≠ out).
 *
 * <pre>
 * h = conv1(silu(norm1(x)))
 * h = h + time_emb_proj(silu(temb))[:, :, None, None]     (UNet only)
 * h = conv2(silu(norm2(h)))
 * out = (shortcut(x) + h) / output_scale_factor
 * </pre>
 */
public final class ResnetBlock2D {
    private final Backend backend;
    private final GroupNorm norm1;
    private final Conv2d conv1;
    private final Linear timeEmbProj;
    private final GroupNorm norm2;
    private final Conv2d conv2;
    private final Conv2d convShortcut;
    private final float outputScaleFactor;
    public final int inChannels;
    public final int outChannels;

    /**
     * @param tembChannels  width of the time embedding, or 0 for none (the VAE: diffusers' {@code temb_channels=None})
     * @param groups        GroupNorm groups of both norms
     * @param eps           GroupNorm epsilon (1e-5 in the UNet, 1e-6 in the VAE)
     */
    public ResnetBlock2D(Weights w, int inChannels, int outChannels, int tembChannels, int groups, float eps,
                         float outputScaleFactor) {
        if (tembChannels < 0) throw new IllegalArgumentException("tembChannels " + tembChannels + " < 0");
        this.backend = w.backend();
        this.inChannels = inChannels;
        this.outChannels = outChannels;
        this.outputScaleFactor = outputScaleFactor;
        this.norm1 = new GroupNorm(w.pp("norm1"), groups, inChannels, eps);
        this.conv1 = new Conv2d(w.pp("conv1"), inChannels, outChannels, 3, 1, 1);
        this.timeEmbProj = tembChannels > 0 ? new Linear(w.pp("time_emb_proj"), tembChannels, outChannels, true) : null;
        this.norm2 = new GroupNorm(w.pp("norm2"), groups, outChannels, eps);
        this.conv2 = new Conv2d(w.pp("conv2"), outChannels, outChannels, 3, 1, 1);
        this.convShortcut = inChannels != outChannels ? new Conv2d(w.pp("conv_shortcut"), inChannels, outChannels, 1, 1, 0) : null;
    }

    /** Without a time embedding (the VAE). */
    public Tensor forward(Tensor x) { return forward(x, null); }

    /**
     * @param x    [N, in, H, W]
     * @param temb [N, temb_channels], or null when the block has no {@code time_emb_proj}
     * @return [N, out, H, W]
     */
    public Tensor forward(Tensor x, Tensor temb) {
        if ((temb == null) != (timeEmbProj == null)) {
            throw new IllegalArgumentException(timeEmbProj == null
                    ? "this ResnetBlock2D has no time_emb_proj but got a time embedding"
                    : "this ResnetBlock2D needs a time embedding");
        }
        // every intermediate is released as soon as the next op has read it; x is the caller's
        Tensor n = norm1.forwardSilu(x);                               // [N, in, H, W]
        Tensor h = backend.consumed(conv1.forward(n), n);              // [N, out, H, W]
        if (timeEmbProj != null) {
            Tensor t = timeEmbProj.forward(backend.silu(temb));        // [N, out]
            h = backend.consumed(backend.addChannelwise(h, t), h, t);  // [N, out, H, W]
        }
        n = backend.consumed(norm2.forwardSilu(h), h);                 // [N, out, H, W]
        h = backend.consumed(conv2.forward(n), n);                     // [N, out, H, W]
        Tensor shortcut = convShortcut != null ? convShortcut.forward(x) : x; // [N, out, H, W]
        Tensor out = backend.consumed(backend.add(shortcut, h), h, shortcut != x ? shortcut : null); // [N, out, H, W]
        return outputScaleFactor == 1f ? out : backend.consumed(backend.scale(out, 1f / outputScaleFactor), out);
    }
}
