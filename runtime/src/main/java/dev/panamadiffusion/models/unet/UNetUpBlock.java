package dev.panamadiffusion.models.unet;

import dev.panamadiffusion.tensor.Tensor;

import java.util.List;

/** An up block of the UNet: resnets on [x, skip] concatenations (with or without transformers), then an upsampler. */
sealed interface UNetUpBlock permits CrossAttnUpBlock2D, UpBlock2D {
    /**
     * Runs the block on x [B, C, H, W], taking its skip connections (one per resnet) from the end of
     * {@code residuals} (removed); it releases the skips it takes and its intermediates, not x.
     */
    Tensor forward(Tensor x, List<Tensor> residuals, Tensor temb, Tensor context);
}
