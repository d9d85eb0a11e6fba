package dev.panamadiffusion.models.clip;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.nn.Linear;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

/** transformers' {@code CLIPMLP}: fc2(act(fc1(x))), act quick_gelu (SD 1.x) or exact gelu (SD 2.x). */
public final class CLIPMLP {
    private final Backend backend;
    private final Linear fc1;
    private final Linear fc2;
    private final boolean quickGelu;

    public CLIPMLP(Weights w, CLIPTextConfig config) {
        this.backend = w.backend();
        this.fc1 = new Linear(w.pp("fc1"), config.hiddenSize(), config.intermediateSize(), true);
        this.fc2 = new Linear(w.pp("fc2"), config.intermediateSize(), config.hiddenSize(), true);
        this.quickGelu = config.hiddenAct().equals("quick_gelu");
    }

    public Tensor forward(Tensor x) {                                           // [B, L, D]
        Tensor h = fc1.forward(x);                                              // [B, L, I]
        h = quickGelu ? backend.quickGelu(h) : backend.gelu(h);                 // [B, L, I]
        return fc2.forward(h);                                                  // [B, L, D]
    }
}
