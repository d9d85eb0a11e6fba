package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.models.layers.Downsample2D;
import dev.panamadiffusion.models.layers.ResnetBlock2D;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.util.ArrayList;
import java.util.List;

/** diffusers' {@code DownBlock2D}: {@code num_layers} {@code resnets}, then {@code downsamplers.0} unless last. */
final class DownBlock2D implements UNetDownBlock {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Downsample2D downsampler;

    DownBlock2D(Weights w, UNet2DConditionConfig c, int index, int in, int out, boolean addDownsample) {
        for (int i = 0; i < c.layersPerBlock()[index]; i++) {
            resnets.add(new ResnetBlock2D(w.pp("resnets").pp(i), i == 0 ? in : out, out, c.timeEmbedDim(),
                    c.normNumGroups(), (float) c.normEps(), 1f));
        }
        this.downsampler = addDownsample ? new Downsample2D(w.pp("downsamplers").pp(0), out, out, c.downsamplePadding()) : null;
    }

    @Override
    public Tensor forward(Tensor x, Tensor temb, Tensor context, List<Tensor> residuals) {
        Tensor h = x;                                   // [B, in, H, W]
        for (ResnetBlock2D resnet : resnets) {
            h = resnet.forward(h, temb);                // [B, out, H, W]
            residuals.add(h);
        }
        if (downsampler != null) {
            h = downsampler.forward(h);                 // [B, out, H/2, W/2]
            residuals.add(h);
        }
        return h;
    }
}
