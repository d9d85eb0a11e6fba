package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.nn.GroupNorm;
import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' VAE {@code Encoder} ({@code double_z=True}): {@code conv_in}, {@code down_blocks.<i>} (all but the last
 * downsample by 2, padding 0), {@code mid_block}, {@code conv_norm_out} + SiLU, {@code conv_out} to 2 × latent
 * channels (mean and log-variance).
 */
public final class Encoder {
    static final float EPS = 1e-6f;
    private final Conv2d convIn;
    private final List<DownEncoderBlock2D> downBlocks = new ArrayList<>();
    private final UNetMidBlock2D midBlock;
    private final GroupNorm convNormOut;
    private final Conv2d convOut;

    private final Backend backend;

    public Encoder(Weights w, AutoencoderKLConfig config) {
        this.backend = w.backend();
        int[] boc = config.blockOutChannels();
        int groups = config.normNumGroups();
        this.convIn = new Conv2d(w.pp("conv_in"), config.inChannels(), boc[0], 3, 1, 1);
        int out = boc[0];
        for (int i = 0; i < boc.length; i++) {
            int in = out;
            out = boc[i];
            downBlocks.add(new DownEncoderBlock2D(w.pp("down_blocks").pp(i), in, out, config.layersPerBlock(),
                    i < boc.length - 1, EPS, groups, 0));
        }
        int last = boc[boc.length - 1];
        this.midBlock = new UNetMidBlock2D(w.pp("mid_block"), last, EPS, groups, config.midBlockAddAttention());
        this.convNormOut = new GroupNorm(w.pp("conv_norm_out"), groups, last, EPS);
        this.convOut = new Conv2d(w.pp("conv_out"), last, 2L * config.latentChannels(), 3, 1, 1);
    }

    public Tensor forward(Tensor x) {                        // [N, in, H, W]
        Tensor h = convIn.forward(x);                        // [N, boc0, H, W]
        // each block's output released once the next has read it
        for (DownEncoderBlock2D b : downBlocks) h = backend.consumed(b.forward(h), h); // [N, boc_last, H/f, W/f]
        h = backend.consumed(midBlock.forward(h), h);        // [N, boc_last, H/f, W/f]
        Tensor n = backend.consumed(convNormOut.forwardSilu(h), h); // [N, boc_last, H/f, W/f]
        return backend.consumed(convOut.forward(n), n);      // [N, 2*latent, H/f, W/f]
    }
}
