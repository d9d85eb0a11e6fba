package dev.panamadiffusion.schedulers;

import dev.panamadiffusion.tensor.Device;
import dev.panamadiffusion.tensor.Tensor;

import java.util.Arrays;

/** Host float32 views of scheduler inputs and outputs. */
final class Latents {
    private Latents() {}

    /** The elements of a host tensor, row-major, as floats (a copy). */
    static float[] read(Tensor t, String what) {
        if (t == null) throw new IllegalArgumentException(what + " is null");
        if (t.device() != Device.CPU) throw new IllegalArgumentException(what + " must be a host tensor, got " + t);
        return t.toFloatArray();
    }

    static void requireSameShape(Tensor modelOutput, Tensor sample) {
        if (!modelOutput.sameShape(sample)) {
            throw new IllegalArgumentException("model output " + Arrays.toString(modelOutput.shape())
                    + " and sample " + Arrays.toString(sample.shape()) + " differ in shape");
        }
    }

    static Tensor like(float[] values, Tensor shapeOf) {
        return Tensor.fromFloats(values, shapeOf.shape());
    }

    /** sample / divisor, element-wise in float32 (the Euler-type {@code scale_model_input}). */
    static Tensor divide(Tensor sample, float divisor) {
        float[] x = read(sample, "sample");
        for (int i = 0; i < x.length; i++) x[i] = x[i] / divisor;
        return like(x, sample);
    }

    /** {@code a · x + b · noise}, element-wise in float32 (every scheduler's {@code add_noise}). */
    static Tensor addNoise(Tensor x, float a, Tensor noise, float b) {
        requireSameShape(noise, x);
        float[] v = read(x, "original samples");
        float[] n = read(noise, "noise");
        for (int i = 0; i < v.length; i++) v[i] = a * v[i] + b * n[i];
        return like(v, x);
    }

    static void requireStepIndex(int stepIndex, int count) {
        if (stepIndex < 0 || stepIndex >= count) {
            throw new IndexOutOfBoundsException("step index " + stepIndex + " outside the " + count
                    + "-step schedule (call setTimesteps first)");
        }
    }
}
