package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.tensor.Tensor;

import java.util.List;

/** A down block of the UNet: resnets (with or without transformers), then an optional downsampler. */
sealed interface UNetDownBlock permits CrossAttnDownBlock2D, DownBlock2D {
    /**
     * Runs the block on x [B, C, H, W] and appends each intermediate output (after every resnet/transformer pair, and
     * after the downsampler) to {@code residuals}, the skip connections the up blocks consume.
     */
    Tensor forward(Tensor x, Tensor temb, Tensor context, List<Tensor> residuals);
}
