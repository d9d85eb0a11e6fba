package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.models.NaiveBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The VAE's attention with diffusers' {@code rescale_output_factor} other than 1 (AutoencoderKL itself passes 1, which
 * the parity tests cover): {@code (attention(x) + x) / rescale_output_factor}, the residual included.
 */
class AttentionBlockTest {

    @Test
    void rescaleOutputFactorDividesTheResidualSum() {
        NaiveBackend backend = new NaiveBackend();
        Weights w = Weights.of(Reference.read("vae_weights.safetensors"), backend, "tiny vae");
        Weights at = w.pp("decoder").pp("mid_block").pp("attentions").pp(0);
        AttentionBlock plain = new AttentionBlock(at, 64, 64, 32, 1e-6f, 1f);
        AttentionBlock rescaled = new AttentionBlock(at, 64, 64, 32, 1e-6f, 2f);
        float[] v = new float[2 * 64 * 3 * 3];
        for (int i = 0; i < v.length; i++) v[i] = (float) Math.sin(0.37 * i);
        Tensor x = Tensor.fromFloats(v, 2, 64, 3, 3);
        float[] one = plain.forward(x).toFloatArray(), half = rescaled.forward(x).toFloatArray();
        for (int i = 0; i < one.length; i++) assertEquals(one[i] / 2, half[i], 1e-6, "element " + i);
        assertArrayEquals(v, x.toFloatArray(), "x is the caller's");
    }
}
