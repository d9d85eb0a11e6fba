package dev.panamadiffusion.models.clip;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.LayerNorm;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.util.List;

/**
 * transformers' {@code CLIPTextTransformer}: embeddings, causal encoder, {@code final_layer_norm}, end-of-text
 * pooling. Keys {@code embeddings}, {@code encoder}, {@code final_layer_norm}.
 *
 * <p>Pooling follows transformers 4.30: the row of {@code last_hidden_state} at {@code argmax(input_ids)} (the first
 * position holding the row's largest id), which is the first end-of-text token because CLIP's end-of-text id is the
 * largest in its vocabulary. (transformers ≥ 4.31 looks for {@code eos_token_id} instead when the config's id is not 2;
 * the two agree whenever the end-of-text id is the largest id in the row.)
 */
public final class CLIPTextTransformer {
    private final Backend backend;
    private final CLIPTextConfig config;
    private final CLIPTextEmbeddings embeddings;
    private final CLIPEncoder encoder;
    private final LayerNorm finalLayerNorm;

    public CLIPTextTransformer(Weights w, CLIPTextConfig config) {
        this.backend = w.backend();
        this.config = config;
        this.embeddings = new CLIPTextEmbeddings(w.pp("embeddings"), config);
        this.encoder = new CLIPEncoder(w.pp("encoder"), config);
        this.finalLayerNorm = new LayerNorm(w.pp("final_layer_norm"), config.hiddenSize(), (float) config.layerNormEps());
    }

    /**
     * @param ids      host integer tensor [B, L]
     * @param clipSkip 0 … num_hidden_layers: which hidden state {@link CLIPTextOutput#hiddenState()} holds
     */
    public CLIPTextOutput forward(Tensor ids, int clipSkip) {
        return forward(ids, clipSkip, true);
    }

    /**
     * @param ids            host integer tensor [B, L]
     * @param clipSkip       0 … num_hidden_layers: {@link CLIPTextOutput#hiddenState()} is hidden_states[-(clipSkip + 1)]
     * @param finalLayerNorm whether that hidden state goes through {@code final_layer_norm} (SD 1.x/2.x's clip skip)
     *                       or not (SDXL conditions on hidden_states[-2] as the encoder layer left it)
     */
    public CLIPTextOutput forward(Tensor ids, int clipSkip, boolean finalLayerNorm) {
        if (clipSkip < 0 || clipSkip > encoder.numLayers()) {
            throw new IllegalArgumentException("clip skip " + clipSkip + " is outside [0, " + encoder.numLayers()
                    + "] for a text encoder of " + encoder.numLayers() + " layers");
        }
        Tensor x = embeddings.forward(ids);                                          // [B, L, D]
        List<Tensor> hiddenStates = encoder.forward(x);                              // (layers + 1) × [B, L, D]
        Tensor last = this.finalLayerNorm.forward(hiddenStates.getLast());           // [B, L, D]
        Tensor raw = hiddenStates.get(hiddenStates.size() - 1 - clipSkip);          // [B, L, D]
        Tensor hidden = !finalLayerNorm ? raw : clipSkip == 0 ? last : this.finalLayerNorm.forward(raw); // [B, L, D]
        return new CLIPTextOutput(last, pool(last, ids), hidden);
    }

    /** Rows of {@code last} [B, L, D] at each batch row's argmax id → [B, D], gathered on the backend. */
    private Tensor pool(Tensor last, Tensor ids) {
        long batch = ids.dim(0);
        long length = ids.dim(1);
        long[] rows = new long[Math.toIntExact(batch)];
        for (int b = 0; b < batch; b++) {
            long best = 0;
            long bestId = ids.getLong(b * length);
            for (long i = 1; i < length; i++) {
                long id = ids.getLong(b * length + i);
                if (id > bestId) { // strictly greater: the first maximum, as torch.argmax
                    bestId = id;
                    best = i;
                }
            }
            rows[b] = b * length + best;
        }
        Tensor table = last.reshape(batch * length, config.hiddenSize());           // [B*L, D]
        Tensor pooled = backend.embedding(table, Tensor.fromLongs(rows, 1, batch));  // [1, B, D]
        return pooled.reshape(batch, config.hiddenSize());                          // [B, D]
    }
}
