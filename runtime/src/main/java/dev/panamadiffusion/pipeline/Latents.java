package dev.panamadiffusion.pipeline;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

import dev.panamadiffusion.tensor.Tensor;

/**
 * The host-side f32 operations of the denoising loop between UNet calls (latents are small), written to round exactly
 * as diffusers' torch code does. Shared by the pipeline and the verifier's loop replay.
 */
public final class Latents {
    private Latents() {}

    /** {@code x · s} in f32, as torch multiplies an f32 tensor by a Python float. */
    public static Tensor scale(Tensor x, float s) {
        float[] v = x.toFloatArray();
        for (int i = 0; i < v.length; i++) v[i] *= s;
        return Tensor.fromFloats(v, x.shape());
    }

    /** {@code x / d} in f32 (diffusers divides latents by the VAE scaling factor rather than multiplying). */
    public static Tensor divide(Tensor x, float d) {
        float[] v = x.toFloatArray();
        for (int i = 0; i < v.length; i++) v[i] /= d;
        return Tensor.fromFloats(v, x.shape());
    }

    /** {@code [x; x]} along dim 0: [B, ...] → [2B, ...] (torch.cat([latents] * 2)). */
    public static Tensor twice(Tensor x) {
        float[] v = x.toFloatArray();
        float[] out = new float[v.length * 2];
        System.arraycopy(v, 0, out, 0, v.length);
        System.arraycopy(v, 0, out, v.length, v.length);
        long[] shape = x.shape();
        shape[0] *= 2;
        return Tensor.fromFloats(out, shape);
    }

    /**
     * Classifier-free guidance on a [2B, ...] UNet output whose first half is unconditional:
     * {@code uncond + g · (text − uncond)} → [B, ...], in f32 as diffusers computes it.
     */
    public static Tensor guide(Tensor noisePred, float guidanceScale) {
        float[] v = noisePred.toFloatArray();
        int half = v.length / 2;
        float[] out = new float[half];
        for (int i = 0; i < half; i++) {
            float uncond = v[i];
            float text = v[half + i];
            out[i] = uncond + guidanceScale * (text - uncond);
        }
        long[] shape = noisePred.shape();
        shape[0] /= 2;
        return Tensor.fromFloats(out, shape);
    }

    /** {@code rows} copies of a [1, ...] tensor's data followed by {@code rows} copies of another's: [2·rows, ...]. */
    public static Tensor repeatRows(Tensor first, Tensor second, int rows) {
        float[] a = first.toFloatArray();
        float[] b = second == null ? null : second.toFloatArray();
        int parts = b == null ? 1 : 2;
        float[] out = new float[a.length * rows * parts];
        for (int r = 0; r < rows; r++) System.arraycopy(a, 0, out, r * a.length, a.length);
        if (b != null) for (int r = 0; r < rows; r++) System.arraycopy(b, 0, out, (rows + r) * a.length, a.length);
        long[] shape = first.shape();
        shape[0] = (long) rows * parts;
        return Tensor.fromFloats(out, shape);
    }

    /** VAE output in [-1, 1] → [0, 1] as diffusers' image processor: {@code (x / 2 + 0.5)}, clamped to [0, 1]. */
    public static Tensor denormalize(Tensor image) {
        float[] v = image.toFloatArray();
        for (int i = 0; i < v.length; i++) v[i] = Math.min(1f, Math.max(0f, v[i] / 2 + 0.5f));
        return Tensor.fromFloats(v, image.shape());
    }

    /** Concatenation along dim 0 of host tensors of one dtype with equal trailing dimensions: [R1, ...] + [R2, ...] → [R1 + R2, ...]. */
    public static Tensor concatRows(List<Tensor> parts) {
        if (parts.size() == 1) return parts.get(0).contiguous();
        long[] shape = parts.get(0).shape();
        long rows = 0;
        for (Tensor p : parts) {
            long[] s = p.shape();
            s[0] = shape[0];
            if (!Arrays.equals(s, shape) || p.dtype() != parts.get(0).dtype()) {
                throw new IllegalArgumentException("cannot stack " + p + " under " + parts.get(0));
            }
            rows += p.dim(0);
        }
        shape[0] = rows;
        Tensor out = Tensor.allocate(parts.get(0).dtype(), shape);   // the parts' dtype: F16 rows stay F16
        long offset = 0;
        for (Tensor p : parts) {
            MemorySegment src = p.contiguous().segment();
            MemorySegment.copy(src, 0, out.segment(), offset, src.byteSize());
            offset += src.byteSize();
        }
        return out;
    }
}
