package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.Tensor;

/** The plain step: upload the latents, run the UNet's ops one by one, download the prediction. */
public final class EagerUNet implements UNetRunner {
    private final UNet2DConditionModel unet;
    private final Backend backend;

    public EagerUNet(UNet2DConditionModel unet, Backend backend) {
        this.unet = unet;
        this.backend = backend;
    }

    @Override
    public Tensor predict(Tensor sample, double[] timesteps, Tensor timestepCond, Tensor addEmbeds, Tensor context) {
        return predict(sample, timesteps, timestepCond, addEmbeds, context, () -> {});
    }

    @Override
    public Tensor predict(Tensor sample, double[] timesteps, Tensor timestepCond, Tensor addEmbeds, Tensor context,
                          Runnable checkpoint) {
        return backend.download(unet.forward(backend.upload(sample), timesteps, timestepCond, addEmbeds, context, checkpoint)); // [B, out, h, w]
    }
}
