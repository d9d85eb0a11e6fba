package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.models.attention.Transformer2DModel;
import dev.panamadiffusion.models.layers.ResnetBlock2D;
import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code UNetMidBlock2DCrossAttn} with one layer: {@code resnets.0}, {@code attentions.0},
 * {@code resnets.1}, at the deepest resolution; resnet outputs divided by {@code mid_block_scale_factor}.
 */
final class UNetMidBlock2DCrossAttn {
    private final ResnetBlock2D resnet0;
    private final Transformer2DModel attention;
    private final ResnetBlock2D resnet1;

    private final Backend backend;

    UNetMidBlock2DCrossAttn(Weights w, UNet2DConditionConfig c) {
        this.backend = w.backend();
        int last = c.numBlocks() - 1;
        int channels = c.blockOutChannels()[last];
        int heads = c.heads(last);
        float eps = (float) c.normEps();
        float scale = (float) c.midBlockScaleFactor();
        this.resnet0 = new ResnetBlock2D(w.pp("resnets").pp(0), channels, channels, c.timeEmbedDim(), c.normNumGroups(), eps, scale);
        this.attention = new Transformer2DModel(w.pp("attentions").pp(0), channels, heads, channels / heads,
                c.transformerLayersPerBlock()[last], c.crossAttentionDim()[last], c.normNumGroups(), c.useLinearProjection());
        this.resnet1 = new ResnetBlock2D(w.pp("resnets").pp(1), channels, channels, c.timeEmbedDim(), c.normNumGroups(), eps, scale);
    }

    Tensor forward(Tensor x, Tensor temb, Tensor context) { // [B, C, H, W]
        Tensor h = resnet0.forward(x, temb);           // [B, C, H, W]
        h = backend.consumed(attention.forward(h, context), h); // [B, C, H, W]
        return backend.consumed(resnet1.forward(h, temb), h);   // [B, C, H, W]
    }
}
