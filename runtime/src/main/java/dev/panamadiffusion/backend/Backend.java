package dev.panamadiffusion.backend;

import dev.panamadiffusion.tensor.Tensor;

/**
 * The operations the models are written in. Every model calls only these, so the CPU backend (the reference)
 * and the CUDA backend compute the same functions.
 *
 * <p>Tensors passed in are resident on this backend ({@link #upload}); results are new tensors on this backend.
 * Image tensors are logically NCHW, token tensors [batch, tokens, channels]. A backend may store them in any dtype
 * or physical layout (CUDA: f16 NHWC) as long as {@link #download} returns the logical f32 tensor.
 */
public interface Backend extends AutoCloseable {

    /** Short name for logs and reports ("cpu", "cuda"). */
    String name();

    /** Copies (or adopts) a host tensor of any floating dtype into this backend's compute format. */
    Tensor upload(Tensor host);

    /** A contiguous host f32 copy of {@code t}. */
    Tensor download(Tensor t);

    /** {@code x @ weight^T + bias}: x [..., in], weight [out, in], bias [out] or null → [..., out]. */
    Tensor linear(Tensor x, Tensor weight, Tensor bias);

    /** 2-D convolution, symmetric zero padding: x [N, C, H, W], weight [O, C, kh, kw], bias [O] or null. */
    Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding);

    /** Zero padding of the last two dimensions: x [N, C, H, W] → [N, C, H + top + bottom, W + left + right]. */
    Tensor pad2d(Tensor x, int left, int right, int top, int bottom);

    /** GroupNorm over [N, C, ...] with per-channel affine, optionally followed by SiLU (fused). */
    Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu);

    /** LayerNorm over the last dimension with affine. */
    Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps);

    /**
     * Scaled dot-product attention, softmax(q k^T / sqrt(d)) v, per head: q [B, Lq, H*d], k and v [B, Lk, H*d]
     * → [B, Lq, H*d]. {@code causal} masks keys after the query position (CLIP).
     */
    Tensor attention(Tensor q, Tensor k, Tensor v, int heads, boolean causal);

    /** x * sigmoid(x). */
    Tensor silu(Tensor x);

    /** Exact (erf) GELU. */
    Tensor gelu(Tensor x);

    /** x * sigmoid(1.702 x) (CLIP's quick_gelu). */
    Tensor quickGelu(Tensor x);

    /** GEGLU gate: x [..., 2F] → hidden * gelu(gate), where hidden = x[..., :F], gate = x[..., F:]. */
    Tensor geglu(Tensor x);

    /** Elementwise a + b, same shapes. */
    Tensor add(Tensor a, Tensor b);

    /** x [N, C, H, W] + v [N, C] broadcast over H, W (time embedding into a resnet). */
    Tensor addChannelwise(Tensor x, Tensor v);

    /** x * s. */
    Tensor scale(Tensor x, float s);

    /** Nearest-neighbour upsampling by 2: [N, C, H, W] → [N, C, 2H, 2W]. */
    Tensor upsampleNearest2x(Tensor x);

    /**
     * {@code conv2d(upsampleNearest2x(x), weight, bias, 1, padding)}, diffusers' {@code Upsample2D}, without necessarily
     * making the upsampled input (four times the input, 268 MB in an SD VAE decoder at 512x512): the CPU backend reads
     * each upsampled pixel from {@code x} as its convolution packs its columns. The default composes the two ops.
     */
    default Tensor upsampleNearest2xConv2d(Tensor x, Tensor weight, Tensor bias, int padding) {
        Tensor up = upsampleNearest2x(x);                            // [N, C, 2H, 2W]
        return consumed(conv2d(up, weight, bias, 1, padding), up);   // [N, O, 2H + 2p - k + 1, ...]
    }

    /** Concatenation along dim 1: [N, C1, H, W] + [N, C2, H, W] → [N, C1 + C2, H, W]. */
    Tensor concatChannels(Tensor a, Tensor b);

    /** [N, C, H, W] → [N, H*W, C]. */
    Tensor toTokens(Tensor x);

    /** [N, H*W, C] → [N, C, H, W]. */
    Tensor fromTokens(Tensor x, long height, long width);

    /** Row gather: table [V, D], ids (host, any integer dtype) [B, L] → [B, L, D]; an id outside [0, V) throws. */
    Tensor embedding(Tensor table, Tensor ids);

    /**
     * This backend computing in float32, for the models diffusers upcasts (an SDXL VAE with {@code force_upcast}): a
     * view of the same device that holds and computes f32 tensors, whose {@link #upload} also takes this backend's
     * tensors (converted on the device) and whose results this backend's {@link #download} reads. A backend that
     * already computes in f32 (the CPU) returns itself. Closing the view does nothing; closing this backend ends it.
     */
    default Backend float32() { return this; }

    /**
     * Readies, ahead of their first use, weights that the models will pass as {@link #linear} weights (rank 2) and
     * {@link #conv2d} weights (rank 4): tensors of this backend, called once a module is loaded ({@code Weights.load}),
     * so that the first step costs what later ones do. The CPU backend packs them for its SGEMM; the default does
     * nothing (a backend that prepared them at {@link #upload}).
     */
    default void prepareWeights(java.util.Collection<Tensor> weights) {}

    /**
     * The reverse of {@link #prepareWeights}: a hint that these weights will not be read for a while (a model whose
     * part of a request is over). A backend may free what it prepared for them, and prepares it again at their next
     * use; results do not change. The CPU backend frees their packed panels (and hands a mapped file's pages back);
     * the default does nothing.
     */
    default void releaseWeights(java.util.Collection<Tensor> weights) {}

    /**
     * A hint that the caller is done with these results of this backend's ops: neither they nor any view of them
     * (reshape, slice, transpose) will be read again. A backend may reuse their memory at once instead of when they
     * are collected; the CPU backend does so for its pooled results, which keeps a step's activations to what is live
     * rather than what the collector has not reached yet. Inputs given by the caller, weights and views are ignored.
     * The default does nothing.
     */
    default void release(Tensor... done) {}

    /**
     * {@code result}, after {@link #release releasing} each of {@code inputs} (nulls skipped) that it does not share
     * memory with: for an op's inputs that nothing reads after it, whichever op it was (one may return its input).
     */
    default Tensor consumed(Tensor result, Tensor... inputs) {
        for (Tensor t : inputs) {
            if (t != null && t.storage() != result.storage()) release(t);
        }
        return result;
    }

    @Override
    default void close() {}
}
