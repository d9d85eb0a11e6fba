package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Linear;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/** diffusers' {@code TimestepEmbedding} (act_fn silu): {@code linear_1}, SiLU, {@code linear_2}. */
public final class TimestepEmbedding {
    private final Backend backend;
    private final Linear linear1;
    private final Linear linear2;

    public TimestepEmbedding(Weights w, int inChannels, int timeEmbedDim) {
        this.backend = w.backend();
        this.linear1 = new Linear(w.pp("linear_1"), inChannels, timeEmbedDim, true);
        this.linear2 = new Linear(w.pp("linear_2"), timeEmbedDim, timeEmbedDim, true);
    }

    public Tensor forward(Tensor x) { // [B, in]
        Tensor h = backend.silu(linear1.forward(x)); // [B, T]
        return linear2.forward(h);                    // [B, T]
    }
}
