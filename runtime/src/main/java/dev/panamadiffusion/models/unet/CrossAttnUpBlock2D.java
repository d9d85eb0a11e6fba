package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.models.attention.Transformer2DModel;
import dev.panamadiffusion.models.layers.ResnetBlock2D;
import dev.panamadiffusion.models.layers.Upsample2D;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code CrossAttnUpBlock2D}: {@code num_layers} (layers_per_block + 1) pairs of {@code resnets.i} on the
 * channel concatenation [hidden, skip] and {@code attentions.i}, then {@code upsamplers.0} unless it is the last block.
 */
final class CrossAttnUpBlock2D implements UNetUpBlock {
    private final Backend backend;
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();
    private final Upsample2D upsampler;

    /**
     * @param index    position among the up blocks (0 = deepest); per-block options come from down block
     *                 {@code numBlocks − 1 − index}, as diffusers reverses them
     * @param prevOut  channels of the incoming hidden states
     * @param in       channels of the last skip connection (the down block one level shallower)
     */
    CrossAttnUpBlock2D(Weights w, UNet2DConditionConfig c, int index, int prevOut, int in, int out, boolean addUpsample) {
        this.backend = w.backend();
        int rev = c.numBlocks() - 1 - index;
        int heads = c.heads(rev);
        int layers = c.layersPerBlock()[rev] + 1;
        for (int i = 0; i < layers; i++) {
            int skip = i == layers - 1 ? in : out;
            int resIn = i == 0 ? prevOut : out;
            resnets.add(new ResnetBlock2D(w.pp("resnets").pp(i), resIn + skip, out, c.timeEmbedDim(),
                    c.normNumGroups(), (float) c.normEps(), 1f));
            attentions.add(new Transformer2DModel(w.pp("attentions").pp(i), out, heads, out / heads,
                    c.transformerLayersPerBlock()[rev], c.crossAttentionDim()[rev], c.normNumGroups(),
                    c.useLinearProjection()));
        }
        this.upsampler = addUpsample ? new Upsample2D(w.pp("upsamplers").pp(0), out, out) : null;
    }

    @Override
    public Tensor forward(Tensor x, List<Tensor> residuals, Tensor temb, Tensor context) {
        Tensor h = x;                                                   // [B, prev, H, W]
        for (int i = 0; i < resnets.size(); i++) {
            Tensor skip = residuals.removeLast();                       // [B, skip, H, W]
            // the skips are this block's from here on; x is the caller's
            Tensor cat = backend.concatChannels(h, skip);               // [B, prev + skip, H, W]
            backend.release(skip);
            if (h != x) backend.release(h);
            Tensor r = backend.consumed(resnets.get(i).forward(cat, temb), cat); // [B, out, H, W]
            h = backend.consumed(attentions.get(i).forward(r, context), r); // [B, out, H, W]
        }
        if (upsampler == null) return h;                                // h is a resnet's: never x (layers ≥ 1)
        return backend.consumed(upsampler.forward(h), h);              // [B, out, 2H, 2W]
    }
}
