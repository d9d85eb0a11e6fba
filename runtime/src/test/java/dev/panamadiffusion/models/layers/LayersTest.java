package dev.panamadiffusion.models.layers;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.WeightBindingException;
import dev.panamadiffusion.weights.Weights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The ResnetBlock2D/Downsample2D/Upsample2D paths the VAE parity test does not reach (time embedding, output scale,
 * symmetric padding), checked by identities that hold only when each piece sits where diffusers puts it.
 */
class LayersTest {
    static final CpuBackend backend = new CpuBackend(2);

    @AfterAll
    static void close() { backend.close(); }
    static final SplittableRandom random = new SplittableRandom(7);

    static Tensor rand(long... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = (float) (random.nextDouble() * 2 - 1);
        return Tensor.fromFloats(v, shape);
    }

    /** Resnet weights for in → out channels (conv_shortcut when they differ), optionally a time_emb_proj. */
    static Map<String, Tensor> resnetWeights(int in, int out, int temb) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("norm1.weight", rand(in));
        m.put("norm1.bias", rand(in));
        m.put("conv1.weight", rand(out, in, 3, 3));
        m.put("conv1.bias", rand(out));
        m.put("norm2.weight", rand(out));
        m.put("norm2.bias", rand(out));
        m.put("conv2.weight", rand(out, out, 3, 3));
        m.put("conv2.bias", rand(out));
        if (in != out) {
            m.put("conv_shortcut.weight", rand(out, in, 1, 1));
            m.put("conv_shortcut.bias", rand(out));
        }
        if (temb > 0) {
            m.put("time_emb_proj.weight", rand(out, temb));
            m.put("time_emb_proj.bias", rand(out));
        }
        return m;
    }

    static ResnetBlock2D bind(Map<String, Tensor> m, int in, int out, int temb, float scale) {
        Weights w = Weights.of(m, backend, "test resnet");
        ResnetBlock2D r = new ResnetBlock2D(w, in, out, temb, 2, 1e-5f, scale);
        w.finish();
        return r;
    }

    @Test
    void timeEmbeddingIsSiluLinearAddedAfterConv1() {
        int in = 4, out = 6, temb = 5;
        Map<String, Tensor> m = resnetWeights(in, out, temb);
        Tensor x = rand(1, in, 5, 5);
        Tensor t = rand(1, temb);
        Tensor withTemb = backend.download(bind(m, in, out, temb, 1f).forward(x, t));

        // Same block without time_emb_proj, its projection of silu(t) folded into conv1's bias.
        float[] tv = t.toFloatArray(), wv = m.get("time_emb_proj.weight").toFloatArray();
        float[] bias = m.get("conv1.bias").toFloatArray(), pb = m.get("time_emb_proj.bias").toFloatArray();
        for (int o = 0; o < out; o++) {
            double s = pb[o];
            for (int i = 0; i < temb; i++) s += wv[o * temb + i] * (tv[i] / (1 + Math.exp(-tv[i])));
            bias[o] += (float) s;
        }
        Map<String, Tensor> folded = new LinkedHashMap<>(m);
        folded.remove("time_emb_proj.weight");
        folded.remove("time_emb_proj.bias");
        folded.put("conv1.bias", Tensor.fromFloats(bias, out));
        Tensor expected = backend.download(bind(folded, in, out, 0, 1f).forward(x));
        Reference.assertClose("resnet temb folded into conv1 bias", expected, withTemb, 1e-5);
    }

    @Test
    void outputScaleFactorDividesTheSum() {
        Map<String, Tensor> m = resnetWeights(4, 4, 0);
        Tensor x = rand(2, 4, 3, 3);
        float[] one = backend.download(bind(m, 4, 4, 0, 1f).forward(x)).toFloatArray();
        float[] half = backend.download(bind(m, 4, 4, 0, 2f).forward(x)).toFloatArray();
        for (int i = 0; i < one.length; i++) assertEquals(one[i] / 2, half[i], 1e-6);
    }

    @Test
    void timeEmbeddingPresenceMustMatchTheBlock() {
        ResnetBlock2D noTemb = bind(resnetWeights(4, 4, 0), 4, 4, 0, 1f);
        ResnetBlock2D needsTemb = bind(resnetWeights(4, 4, 3), 4, 4, 3, 1f);
        Tensor x = rand(1, 4, 3, 3);
        // each refusal says which way round the mismatch is
        IllegalArgumentException extra = assertThrows(IllegalArgumentException.class, () -> noTemb.forward(x, rand(1, 3)));
        assertEquals("this ResnetBlock2D has no time_emb_proj but got a time embedding", extra.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> needsTemb.forward(x));
        assertEquals("this ResnetBlock2D needs a time embedding", missing.getMessage());
    }

    @Test
    void shortcutIsBoundOnlyWhenChannelsChange() {
        Map<String, Tensor> m = resnetWeights(4, 4, 0);
        m.put("conv_shortcut.weight", rand(4, 4, 1, 1));
        WeightBindingException e = assertThrows(WeightBindingException.class, () -> bind(m, 4, 4, 0, 1f));
        assertEquals(java.util.List.of("conv_shortcut.weight"), e.unexpected());
    }

    @Test
    void downsamplePaddingOneIsSymmetricPaddingZeroIsBottomRight() {
        Map<String, Tensor> m = Map.of("conv.weight", rand(3, 2, 3, 3), "conv.bias", rand(3));
        Tensor x = rand(1, 2, 6, 6);
        Weights w = Weights.of(m, backend, "down");
        Downsample2D unet = new Downsample2D(w, 2, 3, 1);
        Downsample2D vae = new Downsample2D(w, 2, 3, 0);
        Tensor a = backend.download(unet.forward(x));
        Tensor b = backend.download(vae.forward(x));
        assertArrayEquals(new long[] {1, 3, 3, 3}, a.shape());
        assertArrayEquals(new long[] {1, 3, 3, 3}, b.shape());
        // padding 1: output row y reads input rows 2y-1 .. 2y+1 (row -1 is zero); padding 0 after the (0,1,0,1) pad:
        // rows 2y .. 2y+2 (row 6 is zero). So away from the top and left edge the VAE form equals the UNet form on
        // the input shifted one pixel up and left.
        Tensor shifted = backend.pad2d(x, 0, 1, 0, 1).slice(2, 1, 7).slice(3, 1, 7).contiguous(); // [1, 2, 6, 6]
        Tensor viaUnet = backend.download(unet.forward(shifted));                                   // [1, 3, 3, 3]
        Reference.assertClose("vae downsample = unet downsample of shifted input (interior)",
                viaUnet.slice(2, 1, 3).slice(3, 1, 3).contiguous(), b.slice(2, 1, 3).slice(3, 1, 3).contiguous(), 1e-6);
        assertNotEquals(a.getFloat(0), b.getFloat(0));
        assertThrows(IllegalArgumentException.class, () -> new Downsample2D(w, 2, 3, 2));
    }

    @Test
    void upsampleIsNearestThenConv() {
        Map<String, Tensor> m = Map.of("conv.weight", rand(3, 2, 3, 3), "conv.bias", rand(3));
        Weights w = Weights.of(m, backend, "up");
        Tensor x = rand(1, 2, 2, 3);
        Tensor up = backend.download(new Upsample2D(w, 2, 3).forward(x));
        assertArrayEquals(new long[] {1, 3, 4, 6}, up.shape());
        Tensor expected = backend.download(backend.conv2d(backend.upsampleNearest2x(x), m.get("conv.weight"), m.get("conv.bias"), 1, 1));
        Reference.assertClose("upsample", expected, up, 0);
    }
}
