package dev.panamadiffusion.models.attention;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Linear;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code Attention} as Stable Diffusion configures it: {@code to_q}, {@code to_k}, {@code to_v} without
 * bias, {@code to_out.0} with bias, softmax(q k^T / sqrt(head_dim)) v per head. Self-attention when the context is
 * null. {@code upcast_attention} is not a parameter: it only matters in half precision, and the backends accumulate
 * the scores in f32 anyway.
 */
public final class Attention {
    private final Backend backend;
    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;
    public final int heads;
    public final int headDim;

    /**
     * @param queryDim          width of the hidden states
     * @param crossAttentionDim width of the context, or 0 for self-attention (keys and values from the hidden states)
     */
    public Attention(Weights w, int queryDim, int crossAttentionDim, int heads, int headDim) {
        this.backend = w.backend();
        this.heads = heads;
        this.headDim = headDim;
        int inner = heads * headDim;
        int kvDim = crossAttentionDim > 0 ? crossAttentionDim : queryDim;
        this.toQ = new Linear(w.pp("to_q"), queryDim, inner, false);
        this.toK = new Linear(w.pp("to_k"), kvDim, inner, false);
        this.toV = new Linear(w.pp("to_v"), kvDim, inner, false);
        this.toOut = new Linear(w.pp("to_out").pp(0), inner, queryDim, true);
    }

    /** x [B, L, queryDim], context [B, Lk, crossAttentionDim] or null → [B, L, queryDim]. */
    public Tensor forward(Tensor x, Tensor context) {
        Tensor kv = context != null ? context : x;
        Tensor q = toQ.forward(x);                                  // [B, L, H*d]
        Tensor k = toK.forward(kv);                                 // [B, Lk, H*d]
        Tensor v = toV.forward(kv);                                 // [B, Lk, H*d]
        Tensor o = backend.consumed(backend.attention(q, k, v, heads, false), q, k, v); // [B, L, H*d]
        return backend.consumed(toOut.forward(o), o);               // [B, L, queryDim]
    }
}
