package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.GroupNorm;
import dev.panamadiffusion.nn.Linear;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code Attention} as the VAE mid block configures it: spatial self-attention over H·W tokens with a
 * GroupNorm in front, a residual connection and {@code rescale_output_factor}. Keys {@code group_norm}, {@code to_q},
 * {@code to_k}, {@code to_v}, {@code to_out.0}; weights saved by diffusers before 0.14 (its {@code AttentionBlock})
 * name the projections {@code query}, {@code key}, {@code value}, {@code proj_attn} and are read as well.
 */
public final class AttentionBlock {
    private final Backend backend;
    private final GroupNorm groupNorm;
    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;
    private final int heads;
    private final float rescaleOutputFactor;

    /**
     * @param headDim diffusers' {@code attention_head_dim}; the VAE passes its channel count (one head)
     */
    public AttentionBlock(Weights w, int channels, int headDim, int groups, float eps, float rescaleOutputFactor) {
        if (channels % headDim != 0) throw new IllegalArgumentException("channels " + channels + " not a multiple of head dim " + headDim);
        this.backend = w.backend();
        this.heads = channels / headDim;
        this.rescaleOutputFactor = rescaleOutputFactor;
        this.groupNorm = new GroupNorm(w.pp("group_norm"), groups, channels, eps);
        boolean legacy = !w.contains("to_q.weight") && w.contains("query.weight");
        this.toQ = new Linear(w.pp(legacy ? "query" : "to_q"), channels, channels, true);
        this.toK = new Linear(w.pp(legacy ? "key" : "to_k"), channels, channels, true);
        this.toV = new Linear(w.pp(legacy ? "value" : "to_v"), channels, channels, true);
        this.toOut = new Linear(legacy ? w.pp("proj_attn") : w.pp("to_out").pp(0), channels, channels, true);
    }

    public Tensor forward(Tensor x) {                                      // [N, C, H, W]
        long height = x.dim(2);
        long width = x.dim(3);
        // intermediates released once read; x is the caller's
        Tensor n = groupNorm.forward(x);                                   // [N, C, H, W]
        Tensor h = backend.consumed(backend.toTokens(n), n);               // [N, H*W, C]
        Tensor q = toQ.forward(h);                                         // [N, H*W, C]
        Tensor k = toK.forward(h);                                         // [N, H*W, C]
        Tensor v = backend.consumed(toV.forward(h), h);                    // [N, H*W, C]
        Tensor o = backend.consumed(backend.attention(q, k, v, heads, false), q, k, v); // [N, H*W, C]
        Tensor a = backend.consumed(toOut.forward(o), o);                  // [N, H*W, C]
        Tensor s = backend.consumed(backend.fromTokens(a, height, width), a); // [N, C, H, W]
        Tensor out = backend.consumed(backend.add(s, x), s);               // [N, C, H, W]
        return rescaleOutputFactor == 1f ? out : backend.consumed(backend.scale(out, 1f / rescaleOutputFactor), out);
    }
}
