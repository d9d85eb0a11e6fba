package dev.panamadiffusion.models.clip;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Linear;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * transformers' {@code CLIPAttention}: multi-head causal self-attention, softmax(q k^T / sqrt(head_dim)) v. Keys
 * {@code q_proj}, {@code k_proj}, {@code v_proj}, {@code out_proj} (with biases).
 */
public final class CLIPAttention {
    private final Backend backend;
    private final Linear qProj;
    private final Linear kProj;
    private final Linear vProj;
    private final Linear outProj;
    private final int heads;

    public CLIPAttention(Weights w, CLIPTextConfig config) {
        this.backend = w.backend();
        long d = config.hiddenSize();
        this.heads = config.numAttentionHeads();
        this.qProj = new Linear(w.pp("q_proj"), d, d, true);
        this.kProj = new Linear(w.pp("k_proj"), d, d, true);
        this.vProj = new Linear(w.pp("v_proj"), d, d, true);
        this.outProj = new Linear(w.pp("out_proj"), d, d, true);
    }

    public Tensor forward(Tensor x) {                                  // [B, L, D]
        Tensor q = qProj.forward(x);                                   // [B, L, D]
        Tensor k = kProj.forward(x);                                   // [B, L, D]
        Tensor v = vProj.forward(x);                                   // [B, L, D]
        Tensor a = backend.attention(q, k, v, heads, true);           // [B, L, D]
        return outProj.forward(a);                                     // [B, L, D]
    }
}
