package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.backend.Backend;
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
    private final Backend backend;

    public UpDecoderBlock2D(Weights w, int inChannels, int outChannels, int numLayers, boolean addUpsample,
                            float eps, int groups) {
        this.backend = w.backend();
        for (int i = 0; i < numLayers; i++) {
            resnets.add(new ResnetBlock2D(w.pp("resnets").pp(i), i == 0 ? inChannels : outChannels, outChannels, 0,
                    groups, eps, 1f));
        }
        this.upsampler = addUpsample ? new Upsample2D(w.pp("upsamplers").pp(0), outChannels, outChannels) : null;
    }

    public Tensor forward(Tensor x) {                          // [N, in, H, W]
        Tensor h = x;
        for (ResnetBlock2D r : resnets) h = consumed(r.forward(h), h, x);   // [N, out, H, W]
        return upsampler != null ? consumed(upsampler.forward(h), h, x) : h; // [N, out, 2H, 2W] or [N, out, H, W]
    }

    /** {@code result}, releasing the intermediate {@code h} it was made from (never the caller's {@code x}). */
    private Tensor consumed(Tensor result, Tensor h, Tensor x) {
        return h == x ? result : backend.consumed(result, h);
    }
}
