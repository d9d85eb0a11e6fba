package dev.panamadiffusion.weights;

import dev.panamadiffusion.tensor.Tensor;

/**
 * One bound weight that can be swapped after loading (what a LoRA patches): the tensor the model was loaded with
 * ({@link #base()}, on the backend, and {@link #host()}, the mapped file tensor it was uploaded from) and the tensor the
 * module computes with now ({@link #tensor()}). {@link #restore()} puts the very base tensor back, so the weights after
 * a patch is removed are the loaded ones bit for bit. Modules read {@link #tensor()} on every forward pass.
 */
public final class Param {
    private final String key;
    private final Tensor host;
    private final Tensor base;
    private volatile Tensor current;

    Param(String key, Tensor host, Tensor base) {
        this.key = key;
        this.host = host;
        this.base = base;
        this.current = base;
    }

    /** The weight's full key in its component ({@code down_blocks.0.attentions.0.proj_in.weight}). */
    public String key() { return key; }

    /** The host tensor the base was uploaded from (a read-only view of the mapped file; any float dtype). */
    public Tensor host() { return host; }

    /** The tensor the model was loaded with, on the backend. */
    public Tensor base() { return base; }

    /** The tensor modules compute with now: {@link #base()} unless patched. */
    public Tensor tensor() { return current; }

    public long[] shape() { return base.shape(); }

    public boolean isPatched() { return current != base; }

    /** Computes with {@code patched} (a backend tensor of the same shape) from now on. */
    public void patch(Tensor patched) {
        if (!java.util.Arrays.equals(patched.shape(), base.shape())) {
            throw new IllegalArgumentException(key + ": patched shape " + java.util.Arrays.toString(patched.shape())
                    + " differs from " + java.util.Arrays.toString(base.shape()));
        }
        current = patched;
    }

    /** Computes with the loaded tensor again. */
    public void restore() { current = base; }
}
