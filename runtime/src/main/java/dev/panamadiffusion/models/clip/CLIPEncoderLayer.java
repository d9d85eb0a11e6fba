package dev.panamadiffusion.models.clip;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.LayerNorm;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * transformers' {@code CLIPEncoderLayer}, pre-norm: x + self_attn(layer_norm1(x)), then + mlp(layer_norm2(·)). Keys
 * {@code layer_norm1}, {@code self_attn}, {@code layer_norm2}, {@code mlp}.
 */
public final class CLIPEncoderLayer {
    private final Backend backend;
    private final LayerNorm layerNorm1;
    private final CLIPAttention selfAttn;
    private final LayerNorm layerNorm2;
    private final CLIPMLP mlp;

    public CLIPEncoderLayer(Weights w, CLIPTextConfig config) {
        this.backend = w.backend();
        float eps = (float) config.layerNormEps();
        this.layerNorm1 = new LayerNorm(w.pp("layer_norm1"), config.hiddenSize(), eps);
        this.selfAttn = new CLIPAttention(w.pp("self_attn"), config);
        this.layerNorm2 = new LayerNorm(w.pp("layer_norm2"), config.hiddenSize(), eps);
        this.mlp = new CLIPMLP(w.pp("mlp"), config);
    }

    public Tensor forward(Tensor x) {                                        // [B, L, D]
        Tensor h = backend.add(x, selfAttn.forward(layerNorm1.forward(x)));  // [B, L, D]
        return backend.add(h, mlp.forward(layerNorm2.forward(h)));           // [B, L, D]
    }
}
