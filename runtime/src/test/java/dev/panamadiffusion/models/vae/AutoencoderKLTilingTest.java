package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.Reference;
import dev.panamadiffusion.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Tiled decoding and encoding (diffusers 0.27.2's {@code enable_tiling()}) against reference/vae_tiling
 * (tools/refgen/gen_vae_tiling.py): the shared tiny VAE (2x, several tile sizes, a batch, odd sizes, a picture that
 * fits one tile) and the demo model's VAE (8x, trained weights); the seams; {@code blend_v}/{@code blend_h} against the
 * formula written out; the tile-size rules.
 */
class AutoencoderKLTilingTest {
    static final double TOL = 1e-4;
    static final Path SETS = Path.of(System.getProperty("pd.home", "..")).resolve("reference/vae_tiling");
    static final CpuBackend backend = new CpuBackend(2);

    @AfterAll
    static void close() { backend.close(); }

    static AutoencoderKL vae(String set) {
        Path dir = set.equals("tiny") ? Reference.tiny().resolve("vae")
                : Path.of(System.getProperty("pd.home", "..")).resolve("models/pdiff-demo/vae");
        return AutoencoderKL.load(dir, backend, Arena.ofAuto());
    }

    static VaeTiles tiles(Map<String, Tensor> io) {
        return new VaeTiles((int) io.get("tile_sample_min_size").getLong(0), (int) io.get("tile_latent_min_size").getLong(0),
                io.get("tile_overlap_factor").getDouble(0));
    }

    /** diffusers' tiled (and untiled) decode and encode, and where tiled differs from untiled, equal to 1e-4. */
    @ParameterizedTest
    @CsvSource({"tiny, default", "tiny, small", "tiny, wide", "tiny, fits", "demo, default"})
    void matchesDiffusersTiledOutput(String set, String name) {
        Map<String, Tensor> io = SafeTensors.readAll(SETS.resolve(set).resolve("vae_tiling_" + name + ".safetensors"));
        AutoencoderKL vae = vae(set);
        VaeTiles tiles = tiles(io);
        Tensor latents = io.get("latents"), image = io.get("enc_image");

        Tensor tiled = vae.decode(latents, tiles);                  // [B, 3, H, W]
        Tensor whole = vae.decode(latents, null);
        Reference.assertClose(set + "/" + name + " decode tiled", io.get("decoded_tiled"), tiled, TOL);
        Reference.assertClose(set + "/" + name + " decode", io.get("decoded"), whole, TOL);
        DiagonalGaussianDistribution dt = vae.encode(image, tiles), dw = vae.encode(image, null);
        Reference.assertClose(set + "/" + name + " encode tiled mean", io.get("enc_mean_tiled"), dt.mean(), TOL);
        Reference.assertClose(set + "/" + name + " encode tiled logvar", io.get("enc_logvar_tiled"), dt.logvar(), TOL);
        Reference.assertClose(set + "/" + name + " encode mean", io.get("enc_mean"), dw.mean(), TOL);

        // tiled minus untiled, ours against diffusers': the seams (and every other difference tiling makes) are diffusers'
        assertSameDifference(set + "/" + name + " decode", io.get("decoded_tiled"), io.get("decoded"), tiled, whole);
        assertSameDifference(set + "/" + name + " encode", io.get("enc_mean_tiled"), io.get("enc_mean"), dt.mean(), dw.mean());
        boolean decodesTiled = tiles.tilesLatents(latents.dim(2), latents.dim(3));
        assertEquals(!name.equals("fits"), decodesTiled);
        if (!decodesTiled) {   // diffusers' decode does not switch: tiled is untiled, bit for bit, as in the reference
            assertArrayEquals(whole.toFloatArray(), tiled.toFloatArray());
            assertArrayEquals(io.get("decoded").toFloatArray(), io.get("decoded_tiled").toFloatArray());
            assertArrayEquals(dw.mean().toFloatArray(), dt.mean().toFloatArray());
        }
    }

    /**
     * {@code (actual tiled − actual untiled)} equals {@code (reference tiled − reference untiled)} to twice the tolerance,
     * so ours is untouched exactly where diffusers' is, and the differences in the blend bands (seams) are diffusers'.
     */
    static void assertSameDifference(String name, Tensor refTiled, Tensor refWhole, Tensor tiled, Tensor whole) {
        float[] rt = refTiled.toFloatArray(), rw = refWhole.toFloatArray(), t = tiled.toFloatArray(), w = whole.toFloatArray();
        double worst = 0, scale = 0, moved = 0;
        for (int i = 0; i < rt.length; i++) {
            worst = Math.max(worst, Math.abs((t[i] - w[i]) - (rt[i] - rw[i])));
            scale = Math.max(scale, Math.abs(rt[i]));
            moved = Math.max(moved, Math.abs(rt[i] - rw[i]));
        }
        System.out.printf("[tiling] %s: tiled - untiled up to %.3g (diffusers'), ours within %.3g of it%n", name, moved, worst);
        assertTrue(worst <= 2 * TOL * scale, name + ": tiled - untiled differs from diffusers' by " + worst);
    }

    /** In the demo VAE's decode (2 x 3 tiles of 64 px, 16-pixel blends) tiling moves the blend bands, and the rest. */
    @Test
    void seamsAreWhereTheTilesBlend() {
        Map<String, Tensor> io = SafeTensors.readAll(SETS.resolve("demo/vae_tiling_default.safetensors"));
        AutoencoderKL vae = vae("demo");
        VaeTiles tiles = tiles(io);
        assertEquals(new VaeTiles(64, 8, 0.25), vae.defaultTiles());
        Tensor latents = io.get("latents");                                          // [1, 4, 12, 16]
        float[] t = vae.decode(latents, tiles).toFloatArray(), w = vae.decode(latents, null).toFloatArray();
        int h = 96, wd = 128;
        // tile row 1 starts at latent 6 = pixel 48 and blends 16 rows; tile columns 1 and 2 start at pixels 48 and 96
        double inBand = 0, outside = 0;
        int nIn = 0, nOut = 0;
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < wd; x++) {
                    double d = Math.abs(t[(c * h + y) * wd + x] - w[(c * h + y) * wd + x]);
                    boolean band = y >= 48 && y < 64 || x >= 48 && x < 64 || x >= 96 && x < 112;
                    if (band) { inBand += d; nIn++; } else { outside += d; nOut++; }
                }
            }
        }
        System.out.printf("[tiling] demo decode: mean |tiled - untiled| %.4f in the blend bands, %.4f elsewhere%n",
                inBand / nIn, outside / nOut);
        assertTrue(inBand / nIn > 1e-2 && outside / nOut > 1e-2, "tiles are decoded alone: every tile differs");
    }

    /** blend_v / blend_h against diffusers' loop written out element by element, clamped extents and f32 weights. */
    @ParameterizedTest
    @CsvSource({"5, 7, 6, 3", "4, 4, 4, 4", "3, 6, 5, 8", "6, 2, 4, 5", "4, 5, 3, 0", "1, 1, 1, 1"})
    void blendsAsTheFormula(int ha, int hb, int w, int extent) {
        SplittableRandom r = new SplittableRandom(ha * 1000L + hb * 100 + w * 10 + extent);
        // blend_v: a [2, 3, ha, w] above b [2, 3, hb, w]
        Tensor a = random(r, 2, 3, ha, w), b = random(r, 2, 3, hb, w);
        float[] a0 = a.toFloatArray(), expected = b.toFloatArray();
        int e = Math.min(Math.min(ha, hb), extent);
        for (int n = 0; n < 6; n++) {
            for (int y = 0; y < e; y++) {
                for (int x = 0; x < w; x++) {
                    float wa = (float) (1 - (double) y / e), wb = (float) ((double) y / e);
                    int bi = (n * hb + y) * w + x;
                    expected[bi] = a0[(n * ha + ha - e + y) * w + x] * wa + expected[bi] * wb;
                }
            }
        }
        assertSame(b, AutoencoderKL.blendV(a, b, extent));
        assertArrayEquals(expected, b.toFloatArray(), "blend_v");
        assertArrayEquals(a0, a.toFloatArray(), "blend_v leaves a as it was");

        // blend_h: a [2, 3, w, ha] left of b [2, 3, w, hb]
        Tensor l = random(r, 2, 3, w, ha), rt = random(r, 2, 3, w, hb);
        float[] l0 = l.toFloatArray(), exp2 = rt.toFloatArray();
        for (int row = 0; row < 6 * w; row++) {
            for (int x = 0; x < e; x++) {
                float wa = (float) (1 - (double) x / e), wb = (float) ((double) x / e);
                exp2[row * hb + x] = l0[row * ha + ha - e + x] * wa + exp2[row * hb + x] * wb;
            }
        }
        AutoencoderKL.blendH(l, rt, extent);
        assertArrayEquals(exp2, rt.toFloatArray(), "blend_h");
        // the first blended row/column is a's, entirely (weight 1 − 0/e)
        if (e > 0) assertEquals(l0[ha - e], rt.toFloatArray()[0]);
    }

    @Test
    void blendRefusesTilesThatDoNotLineUp() {
        Tensor a = Tensor.zeros(1, 3, 4, 5), b = Tensor.zeros(1, 3, 4, 6);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.blendV(a, b, 2)); // widths differ
        assertTrue(e.getMessage().startsWith("blend_v needs host f32 contiguous [B, C, H, W] tiles that share B, C and W,"), e.getMessage());
        assertDoesNotThrow(() -> AutoencoderKL.blendH(a, b, 2));                           // heights agree
        e = assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.blendH(Tensor.zeros(1, 3, 3, 5), b, 2));
        assertTrue(e.getMessage().startsWith("blend_h needs host f32 contiguous [B, C, H, W] tiles that share B, C and H,"), e.getMessage());
    }

    /** diffusers' defaults for SD, SDXL, SD 2.x 768 and the tiny VAE add up; sizes that would not are refused. */
    @Test
    void tileSizesMustAddUpToTheUntiledSize() {
        assertNull(new VaeTiles(512, 64, 0.25).problem(8));
        assertNull(new VaeTiles(1024, 128, 0.25).problem(8));
        assertNull(new VaeTiles(768, 96, 0.25).problem(8));
        assertNull(new VaeTiles(16, 8, 0.25).problem(2));
        assertEquals(48, new VaeTiles(512, 64, 0.25).decodeStride());
        assertEquals(128, new VaeTiles(512, 64, 0.25).decodeBlend());
        assertEquals(384, new VaeTiles(512, 64, 0.25).encodeStride());
        assertEquals(16, new VaeTiles(512, 64, 0.25).encodeBlend());
        // a tile size in pixels: tile_latent_min_size = int(tile_sample_min_size / 2^(len(block_out_channels) - 1))
        assertEquals(new VaeTiles(512, 64, 0.25), VaeTiles.ofPixels(512, 8));
        assertEquals(new VaeTiles(1024, 128, 0.25), VaeTiles.ofPixels(1024, 8));
        assertEquals(new VaeTiles(16, 8, 0.25), VaeTiles.ofPixels(16, 2));
        assertTrue(new VaeTiles(512, 32, 0.25).problem(8).contains("is not tile_latent_min_size 32 times the VAE's scale 8"));
        assertTrue(new VaeTiles(48, 6, 0.25).problem(8).contains("do not add up to the untiled size"));
        assertTrue(new VaeTiles(8, 1, 0.25).problem(8).contains("do not advance"));
        assertThrows(IllegalArgumentException.class, () -> new VaeTiles(64, 8, 1.0));
        assertThrows(IllegalArgumentException.class, () -> new VaeTiles(0, 8, 0.25));
        assertTrue(new VaeTiles(64, 8, 0.25).tilesLatents(8, 9) && !new VaeTiles(64, 8, 0.25).tilesLatents(8, 8));
        assertTrue(new VaeTiles(64, 8, 0.25).tilesImage(65, 64) && !new VaeTiles(64, 8, 0.25).tilesImage(64, 64));
        AutoencoderKL tiny = vae("tiny");
        assertEquals(new VaeTiles(16, 8, 0.25), tiny.defaultTiles());
        Tensor z = Tensor.zeros(1, 4, 12, 12);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tiny.tiledDecode(z, new VaeTiles(12, 6, 0.25)));
        assertTrue(e.getMessage().contains("do not add up"), e.getMessage());
    }

    static Tensor random(SplittableRandom r, long... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextDouble(-2, 2);
        return Tensor.fromFloats(v, shape);
    }
}
