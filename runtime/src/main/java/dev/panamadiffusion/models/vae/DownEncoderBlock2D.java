package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.backend.Backend;
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
    private final Backend backend;

    public DownEncoderBlock2D(Weights w, int inChannels, int outChannels, int numLayers, boolean addDownsample,
                              float eps, int groups, int downsamplePadding) {
        this.backend = w.backend();
        for (int i = 0; i < numLayers; i++) {
            resnets.add(new ResnetBlock2D(w.pp("resnets").pp(i), i == 0 ? inChannels : outChannels, outChannels, 0,
                    groups, eps, 1f));
        }
        this.downsampler = addDownsample
                ? new Downsample2D(w.pp("downsamplers").pp(0), outChannels, outChannels, downsamplePadding) : null;
    }

    public Tensor forward(Tensor x) {                              // [N, in, H, W]
        Tensor h = x;
        for (ResnetBlock2D r : resnets) h = consumed(r.forward(h), h, x);       // [N, out, H, W]
        return downsampler != null ? consumed(downsampler.forward(h), h, x) : h; // [N, out, H/2, W/2] or [N, out, H, W]
    }

    /** {@code result}, releasing the intermediate {@code h} it was made from (never the caller's {@code x}). */
    private Tensor consumed(Tensor result, Tensor h, Tensor x) {
        return h == x ? result : backend.consumed(result, h);
    }
}
