package dev.panamadiffusion.models.attention;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.LayerNorm;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code BasicTransformerBlock} (norm_type "layer_norm", GEGLU feed-forward): pre-norm self-attention
 * ({@code norm1}, {@code attn1}), cross-attention on the text context ({@code norm2}, {@code attn2}), feed-forward
 * ({@code norm3}, {@code ff}), each added to the residual stream.
 */
public final class BasicTransformerBlock {
    /** diffusers' default {@code norm_eps} for the block's LayerNorms. */
    public static final float NORM_EPS = 1e-5f;

    private final Backend backend;
    private final LayerNorm norm1;
    private final Attention attn1;
    private final LayerNorm norm2;
    private final Attention attn2;
    private final LayerNorm norm3;
    private final FeedForward ff;

    public BasicTransformerBlock(Weights w, int dim, int heads, int headDim, int crossAttentionDim) {
        this.backend = w.backend();
        this.norm1 = new LayerNorm(w.pp("norm1"), dim, NORM_EPS);
        this.attn1 = new Attention(w.pp("attn1"), dim, 0, heads, headDim);
        this.norm2 = new LayerNorm(w.pp("norm2"), dim, NORM_EPS);
        this.attn2 = new Attention(w.pp("attn2"), dim, crossAttentionDim, heads, headDim);
        this.norm3 = new LayerNorm(w.pp("norm3"), dim, NORM_EPS);
        this.ff = new FeedForward(w.pp("ff"), dim);
    }

    /** x [B, L, dim], context [B, Lk, crossAttentionDim] → [B, L, dim]. */
    public Tensor forward(Tensor x, Tensor context) {
        // intermediates released once read; x is the caller's
        Tensor n = norm1.forward(x);                                            // [B, L, dim]
        Tensor a = backend.consumed(attn1.forward(n, null), n);                 // [B, L, dim]
        Tensor h = backend.consumed(backend.add(a, x), a);                      // [B, L, dim]
        n = norm2.forward(h);                                                   // [B, L, dim]
        a = backend.consumed(attn2.forward(n, context), n);                     // [B, L, dim]
        h = backend.consumed(backend.add(a, h), a, h);                          // [B, L, dim]
        n = norm3.forward(h);                                                   // [B, L, dim]
        a = backend.consumed(ff.forward(n), n);                                 // [B, L, dim]
        return backend.consumed(backend.add(a, h), a, h);                       // [B, L, dim]
    }
}
