package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.nn.GroupNorm;
import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' VAE {@code Decoder} ({@code norm_type "group"}): {@code conv_in}, {@code mid_block},
 * {@code up_blocks.<i>} over the reversed block channels with {@code layers_per_block + 1} resnets each (all but the
 * last upsample by 2), {@code conv_norm_out} + SiLU, {@code conv_out}.
 */
public final class Decoder {
    private final Conv2d convIn;
    private final UNetMidBlock2D midBlock;
    private final List<UpDecoderBlock2D> upBlocks = new ArrayList<>();
    private final GroupNorm convNormOut;
    private final Conv2d convOut;

    private final Backend backend;

    public Decoder(Weights w, AutoencoderKLConfig config) {
        this.backend = w.backend();
        int[] boc = config.blockOutChannels();
        int groups = config.normNumGroups();
        int last = boc[boc.length - 1];
        this.convIn = new Conv2d(w.pp("conv_in"), config.latentChannels(), last, 3, 1, 1);
        this.midBlock = new UNetMidBlock2D(w.pp("mid_block"), last, Encoder.EPS, groups, config.midBlockAddAttention());
        int out = last;
        for (int i = 0; i < boc.length; i++) {
            int in = out;
            out = boc[boc.length - 1 - i];
            upBlocks.add(new UpDecoderBlock2D(w.pp("up_blocks").pp(i), in, out, config.layersPerBlock() + 1,
                    i < boc.length - 1, Encoder.EPS, groups));
        }
        this.convNormOut = new GroupNorm(w.pp("conv_norm_out"), groups, boc[0], Encoder.EPS);
        this.convOut = new Conv2d(w.pp("conv_out"), boc[0], config.outChannels(), 3, 1, 1);
    }

    public Tensor forward(Tensor z) {                        // [N, latent, h, w]
        Tensor h = convIn.forward(z);                        // [N, boc_last, h, w]
        // each block's output released once the next has read it
        h = backend.consumed(midBlock.forward(h), h);        // [N, boc_last, h, w]
        for (UpDecoderBlock2D b : upBlocks) h = backend.consumed(b.forward(h), h); // [N, boc0, h*f, w*f]
        Tensor n = backend.consumed(convNormOut.forwardSilu(h), h); // [N, boc0, h*f, w*f]
        return backend.consumed(convOut.forward(n), n);      // [N, out, h*f, w*f]
    }
}
