package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Linear;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code TimestepEmbedding} (act_fn silu): {@code linear_1}, SiLU, {@code linear_2}; with a
 * {@code cond_proj_dim} (UNet {@code time_cond_proj_dim}, LCM-distilled models) also {@code cond_proj}, a bias-free
 * projection of a condition (the guidance-scale embedding) added to the input first ({@link #condition}).
 */
public final class TimestepEmbedding {
    private final Backend backend;
    private final Linear linear1;
    private final Linear linear2;
    private final Linear condProj; // null without cond_proj_dim

    public TimestepEmbedding(Weights w, int inChannels, int timeEmbedDim) {
        this(w, inChannels, timeEmbedDim, null);
    }

    public TimestepEmbedding(Weights w, int inChannels, int timeEmbedDim, Integer condProjDim) {
        this.backend = w.backend();
        this.linear1 = new Linear(w.pp("linear_1"), inChannels, timeEmbedDim, true);
        this.linear2 = new Linear(w.pp("linear_2"), timeEmbedDim, timeEmbedDim, true);
        this.condProj = condProjDim == null ? null : new Linear(w.pp("cond_proj"), condProjDim, inChannels, false);
    }

    /** Whether this embedding has {@code cond_proj}. */
    public boolean hasCondProj() { return condProj != null; }

    /** {@code sample + cond_proj(condition)}: sample [B, in], condition [B, cond_proj_dim], both on the backend. */
    public Tensor condition(Tensor sample, Tensor condition) {
        if (condProj == null) throw new IllegalStateException("this time embedding has no cond_proj (time_cond_proj_dim)");
        return backend.add(sample, condProj.forward(condition)); // [B, in]
    }

    public Tensor forward(Tensor x) { // [B, in]
        Tensor h = backend.silu(linear1.forward(x)); // [B, T]
        return linear2.forward(h);                    // [B, T]
    }
}
