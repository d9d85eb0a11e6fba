package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.models.attention.Transformer2DModel;
import dev.panamadiffusion.models.layers.Downsample2D;
import dev.panamadiffusion.models.layers.ResnetBlock2D;
import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code CrossAttnDownBlock2D}: {@code num_layers} pairs of {@code resnets.i} and {@code attentions.i}
 * (a {@link Transformer2DModel}), then {@code downsamplers.0} unless it is the last block.
 */
final class CrossAttnDownBlock2D implements UNetDownBlock {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();
    private final Downsample2D downsampler;

    private final Backend backend;

    CrossAttnDownBlock2D(Weights w, UNet2DConditionConfig c, int index, int in, int out, boolean addDownsample) {
        this.backend = w.backend();
        int heads = c.heads(index);
        for (int i = 0; i < c.layersPerBlock()[index]; i++) {
            resnets.add(new ResnetBlock2D(w.pp("resnets").pp(i), i == 0 ? in : out, out, c.timeEmbedDim(),
                    c.normNumGroups(), (float) c.normEps(), 1f));
            attentions.add(new Transformer2DModel(w.pp("attentions").pp(i), out, heads, out / heads,
                    c.transformerLayersPerBlock()[index], c.crossAttentionDim()[index], c.normNumGroups(),
                    c.useLinearProjection()));
        }
        this.downsampler = addDownsample ? new Downsample2D(w.pp("downsamplers").pp(0), out, out, c.downsamplePadding()) : null;
    }

    @Override
    public Tensor forward(Tensor x, Tensor temb, Tensor context, List<Tensor> residuals) {
        Tensor h = x;                                   // [B, in, H, W]
        for (int i = 0; i < resnets.size(); i++) {
            Tensor r = resnets.get(i).forward(h, temb); // [B, out, H, W]
            h = backend.consumed(attentions.get(i).forward(r, context), r); // [B, out, H, W]; h is kept (a skip)
            residuals.add(h);
        }
        if (downsampler != null) {
            h = downsampler.forward(h);                 // [B, out, H/2, W/2]
            residuals.add(h);
        }
        return h;
    }
}
