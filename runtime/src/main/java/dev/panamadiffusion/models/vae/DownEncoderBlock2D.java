package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.models.layers.Downsample2D;
import dev.panamadiffusion.models.layers.ResnetBlock2D;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.util.ArrayList;
import java.util.List;

/** diffusers' {@code DownEncoderBlock2D}: {@code resnets.<i>}, then optionally {@code downsamplers.0} (stride 2). */
public final class DownEncoderBlock2D {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Downsample2D downsampler;

    public DownEncoderBlock2D(Weights w, int inChannels, int outChannels, int numLayers, boolean addDownsample,
                              float eps, int groups, int downsamplePadding) {
        for (int i = 0; i < numLayers; i++) {
            resnets.add(new ResnetBlock2D(w.pp("resnets").pp(i), i == 0 ? inChannels : outChannels, outChannels, 0,
                    groups, eps, 1f));
        }
        this.downsampler = addDownsample
                ? new Downsample2D(w.pp("downsamplers").pp(0), outChannels, outChannels, downsamplePadding) : null;
    }

    public Tensor forward(Tensor x) {                              // [N, in, H, W]
        Tensor h = x;
        for (ResnetBlock2D r : resnets) h = r.forward(h);          // [N, out, H, W]
        return downsampler != null ? downsampler.forward(h) : h;   // [N, out, H/2, W/2] or [N, out, H, W]
    }
}
