package dev.panamadiffusion.nn;

import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Param;
import dev.panamadiffusion.weights.Weights;

/** torch.nn.Conv2d (square kernel, symmetric padding): keys {@code weight} [out, in, k, k], {@code bias} [out]. */
public final class Conv2d {
    private final Weights w;
    private final Param weight; // swappable: a LoRA patches it
    private final Tensor bias;
    public final int stride;
    public final int padding;

    public Conv2d(Weights w, long in, long out, int kernel, int stride, int padding) {
        this.w = w;
        this.stride = stride;
        this.padding = padding;
        this.weight = w.param("weight", out, in, kernel, kernel);
        this.bias = w.get("bias", out);
    }

    public Tensor forward(Tensor x) { // [N, in, H, W] -> [N, out, H', W']
        return w.backend().conv2d(x, weight.tensor(), bias, stride, padding);
    }

    /** This convolution (stride 1) of x upsampled ×2, nearest: [N, in, H, W] -> [N, out, (2H)', (2W)']. */
    public Tensor forwardUpsampled2x(Tensor x) {
        if (stride != 1) throw new IllegalStateException("an upsampling convolution has stride 1, this one " + stride);
        return w.backend().upsampleNearest2xConv2d(x, weight.tensor(), bias, padding);
    }
}
