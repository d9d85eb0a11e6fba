package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.models.layers.ResnetBlock2D;
import dev.panamadiffusion.models.layers.Upsample2D;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.util.ArrayList;
import java.util.List;

/** diffusers' {@code UpDecoderBlock2D}: {@code resnets.<i>}, then optionally {@code upsamplers.0} (×2). */
public final class UpDecoderBlock2D {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Upsample2D upsampler;

    public UpDecoderBlock2D(Weights w, int inChannels, int outChannels, int numLayers, boolean addUpsample,
                            float eps, int groups) {
        for (int i = 0; i < numLayers; i++) {
            resnets.add(new ResnetBlock2D(w.pp("resnets").pp(i), i == 0 ? inChannels : outChannels, outChannels, 0,
                    groups, eps, 1f));
        }
        this.upsampler = addUpsample ? new Upsample2D(w.pp("upsamplers").pp(0), outChannels, outChannels) : null;
    }

    public Tensor forward(Tensor x) {                          // [N, in, H, W]
        Tensor h = x;
        for (ResnetBlock2D r : resnets) h = r.forward(h);      // [N, out, H, W]
        return upsampler != null ? upsampler.forward(h) : h;   // [N, out, 2H, 2W] or [N, out, H, W]
    }
}
