package dev.panamadiffusion.models.clip;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.tensor.Device;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * transformers' {@code CLIPTextEmbeddings}: token embedding plus learned absolute position embedding. Keys
 * {@code token_embedding.weight} [vocab, D], {@code position_embedding.weight} [max_positions, D]; the
 * {@code position_ids} buffer (0 … max_positions-1) that older checkpoints carry is accepted and not read.
 */
public final class CLIPTextEmbeddings {
    private final Backend backend;
    private final Tensor tokenEmbedding;
    private final Tensor positionEmbedding;
    private final int vocabSize;
    private final int maxPositions;

    public CLIPTextEmbeddings(Weights w, CLIPTextConfig config) {
        this.backend = w.backend();
        this.vocabSize = config.vocabSize();
        this.maxPositions = config.maxPositionEmbeddings();
        this.tokenEmbedding = w.pp("token_embedding").get("weight", vocabSize, config.hiddenSize());
        this.positionEmbedding = w.pp("position_embedding").get("weight", maxPositions, config.hiddenSize());
        w.ignore("position_ids");
    }

    /** @param ids host integer tensor [B, L], L ≤ max_position_embeddings, every id in [0, vocab_size) */
    public Tensor forward(Tensor ids) {
        checkIds(ids);
        long batch = ids.dim(0);
        long length = ids.dim(1);
        long[] positions = new long[Math.toIntExact(batch * length)];
        for (int i = 0; i < positions.length; i++) positions[i] = i % length;
        Tensor tokens = backend.embedding(tokenEmbedding, ids);                                          // [B, L, D]
        Tensor pos = backend.embedding(positionEmbedding, Tensor.fromLongs(positions, batch, length)); // [B, L, D]
        return backend.add(tokens, pos);                                                                // [B, L, D]
    }

    private void checkIds(Tensor ids) {
        if (ids.device() != Device.CPU) throw new IllegalArgumentException("input ids must be a host tensor, got " + ids);
        if (ids.dtype().isFloatingPoint()) throw new IllegalArgumentException("input ids must be integers, got " + ids);
        if (ids.rank() != 2) throw new IllegalArgumentException("input ids must be [batch, length], got " + ids);
        long length = ids.dim(1);
        if (length < 1 || length > maxPositions) {
            throw new IllegalArgumentException("input length " + length + " is outside [1, " + maxPositions
                    + "] (max_position_embeddings)");
        }
        long n = ids.numel();
        for (long i = 0; i < n; i++) {
            long id = ids.getLong(i);
            if (id < 0 || id >= vocabSize) {
                throw new IllegalArgumentException("token id " + id + " at [" + i / length + ", " + i % length
                        + "] is outside the vocabulary [0, " + vocabSize + ")");
            }
        }
    }
}
