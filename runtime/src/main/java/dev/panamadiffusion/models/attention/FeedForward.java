package dev.panamadiffusion.models.attention;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Linear;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/**
 * diffusers' {@code FeedForward} with the GEGLU activation (mult 4): {@code net.0} is {@code GEGLU} with its
 * projection {@code net.0.proj} [2·inner, dim], {@code net.1} dropout (nothing at inference), {@code net.2} the
 * output projection [dim, inner].
 */
public final class FeedForward {
    private final Backend backend;
    private final Linear proj;
    private final Linear out;

    public FeedForward(Weights w, int dim) {
        this.backend = w.backend();
        int inner = 4 * dim;
        this.proj = new Linear(w.pp("net").pp(0).pp("proj"), dim, 2L * inner, true);
        this.out = new Linear(w.pp("net").pp(2), inner, dim, true);
    }

    public Tensor forward(Tensor x) { // [B, L, dim]
        Tensor h = proj.forward(x);                      // [B, L, 2*inner]: hidden | gate
        h = backend.consumed(backend.geglu(h), h);       // [B, L, inner]: hidden * gelu(gate)
        return backend.consumed(out.forward(h), h);      // [B, L, dim]
    }
}
