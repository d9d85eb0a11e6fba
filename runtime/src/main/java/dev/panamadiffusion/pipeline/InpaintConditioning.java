package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.tensor.Tensor;

/**
 * What a 9-channel inpainting UNet (runwayml/stable-diffusion-inpainting's {@code in_channels: 9}) reads besides the
 * latents, as diffusers' {@code StableDiffusionInpaintPipeline} gives it: each step's input is
 * {@code cat([scale_model_input(latents), mask, masked_image_latents], dim=1)}, with the mask and the masked image's
 * latents repeated for the unconditional rows under classifier-free guidance. {@link #NONE} adds nothing (every other
 * UNet).
 *
 * @param mask                host [B, 1, h, w]: 1 where to repaint (the binarized mask at latent size)
 * @param maskedImageLatents  host [B, C, h, w]: scaling_factor · the posterior sample of the image with the repainted
 *                            area set to 0 (grey)
 */
record InpaintConditioning(Tensor mask, Tensor maskedImageLatents) {
    static final InpaintConditioning NONE = new InpaintConditioning(null, null);

    /** Whether a UNet with {@code inChannels} inputs takes this conditioning over latents of {@code latentChannels}. */
    static boolean takenBy(int inChannels, int latentChannels) {
        return inChannels == 2 * latentChannels + 1;
    }

    /**
     * The UNet input for {@code scaled} [R, C, h, w] (R = B, or 2B with guidance: unconditional rows first):
     * [R, 2C + 1, h, w], every row given its image's mask and masked latents; {@code scaled} itself for {@link #NONE}.
     */
    Tensor extend(Tensor scaled) {
        if (mask == null) return scaled;
        long[] s = scaled.shape();
        int rows = Math.toIntExact(s[0]), c = Math.toIntExact(s[1]), plane = Math.toIntExact(s[2] * s[3]);
        int batch = Math.toIntExact(mask.dim(0));
        if (rows % batch != 0 || maskedImageLatents.dim(1) != c || mask.dim(2) * mask.dim(3) != plane) {
            throw new IllegalArgumentException("inpainting conditioning " + mask + " / " + maskedImageLatents
                    + " does not fit the UNet input " + scaled);
        }
        float[] x = scaled.toFloatArray(), m = mask.toFloatArray(), z = maskedImageLatents.toFloatArray();
        int out = 2 * c + 1;
        float[] y = new float[rows * out * plane];
        for (int r = 0; r < rows; r++) {
            int b = r % batch;                                                   // torch.cat([mask] * 2) row order
            System.arraycopy(x, r * c * plane, y, r * out * plane, c * plane);    // latents
            System.arraycopy(m, b * plane, y, (r * out + c) * plane, plane);     // mask
            System.arraycopy(z, b * c * plane, y, (r * out + c + 1) * plane, c * plane); // masked image latents
        }
        return Tensor.fromFloats(y, rows, out, s[2], s[3]);                      // [R, 2C + 1, h, w]
    }
}
