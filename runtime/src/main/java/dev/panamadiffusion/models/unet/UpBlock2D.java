package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.models.layers.ResnetBlock2D;
import dev.panamadiffusion.models.layers.Upsample2D;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code UpBlock2D}: {@code num_layers} (layers_per_block + 1) {@code resnets} on the channel
 * concatenation [hidden, skip], then {@code upsamplers.0} unless it is the last block.
 */
final class UpBlock2D implements UNetUpBlock {
    private final Backend backend;
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Upsample2D upsampler;

    /** Parameters as {@link CrossAttnUpBlock2D}. */
    UpBlock2D(Weights w, UNet2DConditionConfig c, int index, int prevOut, int in, int out, boolean addUpsample) {
        this.backend = w.backend();
        int rev = c.numBlocks() - 1 - index;
        int layers = c.layersPerBlock()[rev] + 1;
        for (int i = 0; i < layers; i++) {
            int skip = i == layers - 1 ? in : out;
            int resIn = i == 0 ? prevOut : out;
            resnets.add(new ResnetBlock2D(w.pp("resnets").pp(i), resIn + skip, out, c.timeEmbedDim(),
                    c.normNumGroups(), (float) c.normEps(), 1f));
        }
        this.upsampler = addUpsample ? new Upsample2D(w.pp("upsamplers").pp(0), out, out) : null;
    }

    @Override
    public Tensor forward(Tensor x, List<Tensor> residuals, Tensor temb, Tensor context) {
        Tensor h = x;                                                   // [B, prev, H, W]
        for (ResnetBlock2D resnet : resnets) {
            Tensor skip = residuals.removeLast();                       // [B, skip, H, W]
            // the skips are this block's from here on; x is the caller's
            Tensor cat = backend.concatChannels(h, skip);               // [B, prev + skip, H, W]
            backend.release(skip);
            if (h != x) backend.release(h);
            h = backend.consumed(resnet.forward(cat, temb), cat);       // [B, out, H, W]
        }
        if (upsampler == null) return h;                                // h is a resnet's: never x (layers ≥ 1)
        return backend.consumed(upsampler.forward(h), h);              // [B, out, 2H, 2W]
    }
}
