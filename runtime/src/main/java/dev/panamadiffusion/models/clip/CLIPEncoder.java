package dev.panamadiffusion.models.clip;

import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.util.ArrayList;
import java.util.List;

/** transformers' {@code CLIPEncoder}: the stack of {@link CLIPEncoderLayer}s, keys {@code layers.<i>}. */
public final class CLIPEncoder {
    private final List<CLIPEncoderLayer> layers = new ArrayList<>();

    public CLIPEncoder(Weights w, CLIPTextConfig config) {
        for (int i = 0; i < config.numHiddenLayers(); i++) layers.add(new CLIPEncoderLayer(w.pp("layers").pp(i), config));
    }

    public int numLayers() { return layers.size(); }

    /**
     * Runs the layers over {@code embeddings} [B, L, D] and returns transformers' {@code hidden_states}: the input
     * followed by each layer's output, {@code numLayers() + 1} tensors [B, L, D], the last one the encoder output.
     */
    public List<Tensor> forward(Tensor embeddings) {
        List<Tensor> hiddenStates = new ArrayList<>(layers.size() + 1);
        Tensor h = embeddings;                     // [B, L, D]
        hiddenStates.add(h);
        for (CLIPEncoderLayer layer : layers) {
            h = layer.forward(h);                  // [B, L, D]
            hiddenStates.add(h);
        }
        return hiddenStates;
    }
}
