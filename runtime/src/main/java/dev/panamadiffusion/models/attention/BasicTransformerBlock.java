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
        Tensor h = backend.add(attn1.forward(norm1.forward(x), null), x);       // [B, L, dim]
        h = backend.add(attn2.forward(norm2.forward(h), context), h);           // [B, L, dim]
        return backend.add(ff.forward(norm3.forward(h)), h);                    // [B, L, dim]
    }
}
