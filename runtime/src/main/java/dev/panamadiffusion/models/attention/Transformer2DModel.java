package dev.panamadiffusion.models.attention;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.nn.GroupNorm;
import dev.panamadiffusion.nn.Linear;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' {@code Transformer2DModel} over continuous image input: GroupNorm ({@code norm}, eps 1e-6), {@code proj_in}
 * (1×1 convolution, or a linear layer on tokens when {@code use_linear_projection}, as SD 2.x), the
 * {@code transformer_blocks}, {@code proj_out} likewise, plus the input as residual.
 */
public final class Transformer2DModel {
    /** diffusers hard-codes the GroupNorm eps of this module. */
    public static final float NORM_EPS = 1e-6f;

    private final Backend backend;
    private final GroupNorm norm;
    private final boolean useLinearProjection;
    private final Conv2d projInConv;
    private final Linear projInLinear;
    private final List<BasicTransformerBlock> transformerBlocks = new ArrayList<>();
    private final Conv2d projOutConv;
    private final Linear projOutLinear;

    /**
     * @param heads     number of attention heads
     * @param headDim   size of each head; heads × headDim is the inner width (SD: equal to {@code channels})
     * @param numLayers number of {@link BasicTransformerBlock}s ({@code transformer_layers_per_block})
     */
    public Transformer2DModel(Weights w, int channels, int heads, int headDim, int numLayers, int crossAttentionDim,
                              int normGroups, boolean useLinearProjection) {
        int inner = heads * headDim;
        if (inner != channels) {
            throw new IllegalArgumentException("Transformer2DModel: " + heads + " heads × " + headDim + " ≠ " + channels + " channels");
        }
        this.backend = w.backend();
        this.useLinearProjection = useLinearProjection;
        this.norm = new GroupNorm(w.pp("norm"), normGroups, channels, NORM_EPS);
        if (useLinearProjection) {
            this.projInLinear = new Linear(w.pp("proj_in"), channels, inner, true);
            this.projOutLinear = new Linear(w.pp("proj_out"), inner, channels, true);
            this.projInConv = null;
            this.projOutConv = null;
        } else {
            this.projInConv = new Conv2d(w.pp("proj_in"), channels, inner, 1, 1, 0);
            this.projOutConv = new Conv2d(w.pp("proj_out"), inner, channels, 1, 1, 0);
            this.projInLinear = null;
            this.projOutLinear = null;
        }
        for (int i = 0; i < numLayers; i++) {
            transformerBlocks.add(new BasicTransformerBlock(w.pp("transformer_blocks").pp(i), inner, heads, headDim, crossAttentionDim));
        }
    }

    /** x [B, C, H, W], context [B, Lk, crossAttentionDim] → [B, C, H, W]. */
    public Tensor forward(Tensor x, Tensor context) {
        long height = x.dim(2);
        long width = x.dim(3);
        Tensor n = norm.forward(x);                                     // [B, C, H, W]
        Tensor t;
        Tensor h;
        if (useLinearProjection) {
            t = backend.consumed(backend.toTokens(n), n);               // [B, H*W, C]
            h = backend.consumed(projInLinear.forward(t), t);           // [B, H*W, inner]
        } else {
            t = backend.consumed(projInConv.forward(n), n);             // [B, inner, H, W]
            h = backend.consumed(backend.toTokens(t), t);               // [B, H*W, inner]
        }
        for (BasicTransformerBlock block : transformerBlocks) {
            h = backend.consumed(block.forward(h, context), h);         // [B, H*W, inner]
        }
        if (useLinearProjection) {
            t = backend.consumed(projOutLinear.forward(h), h);          // [B, H*W, C]
            h = backend.consumed(backend.fromTokens(t, height, width), t); // [B, C, H, W]
        } else {
            t = backend.consumed(backend.fromTokens(h, height, width), h); // [B, inner, H, W]
            h = backend.consumed(projOutConv.forward(t), t);            // [B, C, H, W]
        }
        return backend.consumed(backend.add(h, x), h);                  // [B, C, H, W]
    }
}
