package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.io.ModelFolder;
import dev.panamadiffusion.nn.Conv2d;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;
import dev.panamadiffusion.weights.Weights;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * diffusers' {@code AutoencoderKL}: {@code encoder} + {@code quant_conv} to the latent distribution,
 * {@code post_quant_conv} + {@code decoder} back to pixels.
 */
public final class AutoencoderKL {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private final AutoencoderKLConfig config;
    private final Backend backend;
    private final Encoder encoder;
    private final Decoder decoder;
    private final Conv2d quantConv;
    private final Conv2d postQuantConv;

    /**
     * Binds the model to {@code w}. Missing or mis-shaped keys are reported by {@code w.finish()}, which the caller
     * must call before the first forward (as {@link #load} does).
     */
    public AutoencoderKL(AutoencoderKLConfig config, Weights w) {
        this.config = config;
        this.backend = w.backend();
        long latent2 = 2L * config.latentChannels();
        this.encoder = new Encoder(w.pp("encoder"), config);
        w.pp("encoder").deferPreparation(); // text-to-image never encodes: its weights are packed at a first use, if any
        this.decoder = new Decoder(w.pp("decoder"), config);
        this.quantConv = config.useQuantConv() ? new Conv2d(w.pp("quant_conv"), latent2, latent2, 1, 1, 0) : null;
        this.postQuantConv = config.usePostQuantConv()
                ? new Conv2d(w.pp("post_quant_conv"), config.latentChannels(), config.latentChannels(), 1, 1, 0) : null;
    }

    /**
     * Loads a diffusers {@code vae/} folder: {@code config.json} and its safetensors weights, mapped into
     * {@code arena} and uploaded to {@code backend}. Every weight must bind, and no key may be left over.
     */
    public static AutoencoderKL load(Path componentDir, Backend backend, Arena arena) {
        return load(componentDir, backend, arena, false);
    }

    /**
     * As {@link #load(Path, Backend, Arena)}, onto {@link #computeBackend computeBackend(config, backend,
     * sdxlPipeline)}: {@code backend.float32()} for an SDXL pipeline's VAE whose config sets {@code force_upcast}.
     */
    public static AutoencoderKL load(Path componentDir, Backend backend, Arena arena, boolean sdxlPipeline) {
        Path configFile = componentDir.resolve("config.json");
        AutoencoderKLConfig config = AutoencoderKLConfig.read(configFile);
        return Weights.load(componentDir, computeBackend(config, backend, sdxlPipeline), arena, "AutoencoderKL",
                weights -> config.checkWeights(configFile, weights), w -> new AutoencoderKL(config, w));
    }

    /**
     * Loads component {@code component} of {@code model} (a diffusers folder, or a single-file checkpoint presented
     * under diffusers names), as {@link #load(Path, Backend, Arena)} does a folder.
     */
    public static AutoencoderKL load(ModelFolder model, String component, Backend backend, Arena arena) {
        return load(model, component, backend, arena, false);
    }

    /** As {@link #load(ModelFolder, String, Backend, Arena)}, upcast as {@link #load(Path, Backend, Arena, boolean)}. */
    public static AutoencoderKL load(ModelFolder model, String component, Backend backend, Arena arena, boolean sdxlPipeline) {
        Path configFile = model.configFile(component);
        AutoencoderKLConfig config = AutoencoderKLConfig.read(configFile, model.config(component));
        return Weights.load(model, component, computeBackend(config, backend, sdxlPipeline), arena, "AutoencoderKL",
                weights -> config.checkWeights(configFile, weights), w -> new AutoencoderKL(config, w));
    }

    /**
     * The backend a pipeline on {@code backend} runs its VAE on, as diffusers decides: its SDXL pipelines upcast an
     * f16 VAE whose config sets {@code force_upcast} ({@code needs_upcasting}, and {@code prepare_latents} /
     * {@code _encode_vae_image} for the encoder), so {@code backend.float32()} (the CPU backend is f32 already); its
     * SD 1.x/2.x pipelines never look at the flag, so their VAE runs on {@code backend} itself, though configs that
     * do not name the flag (SD 1.5's) read as {@code force_upcast} true.
     */
    public static Backend computeBackend(AutoencoderKLConfig config, Backend backend, boolean sdxlPipeline) {
        return sdxlPipeline && config.forceUpcast() ? backend.float32() : backend;
    }

    public AutoencoderKLConfig config() { return config; }

    public float scalingFactor() { return (float) config.scalingFactor(); }

    /** The backend the weights live on and the VAE computes on ({@link #computeBackend}): its results are this one's. */
    public Backend backend() { return backend; }

    /**
     * Latents to images, as diffusers' {@code vae.decode(z).sample}: {@code z} [B, latent, h, w] on the host or a
     * device of {@link #backend()} (an f16 UNet's latents for an upcast VAE: converted there by its upload), already
     * divided by {@link #scalingFactor()}; returns [B, out, 8h, 8w] (for SD) on {@link #backend()}, roughly in [-1, 1].
     */
    public Tensor decode(Tensor z) {
        checkChannels(z, config.latentChannels(), "latents");
        z = backend.upload(z);                                            // [B, latent, h, w]
        Tensor h = postQuantConv != null ? postQuantConv.forward(z) : z; // [B, latent, h, w]
        return decoder.forward(h);                                        // [B, out, H, W]
    }

    /**
     * Images to the latent distribution, as diffusers' {@code vae.encode(x).latent_dist}: {@code x} [B, in, H, W] on
     * the host or a device of {@link #backend()}, in [-1, 1]; the distribution's tensors are host f32
     * [B, latent, H/8, W/8] (for SD), unscaled.
     */
    public DiagonalGaussianDistribution encode(Tensor x) {
        checkChannels(x, config.inChannels(), "images");
        return new DiagonalGaussianDistribution(moments(x));
    }

    /** {@code encoder} + {@code quant_conv}: x [B, in, H, W] on the host or the backend → host moments [B, 2*latent, h, w]. */
    private Tensor moments(Tensor x) {
        Tensor h = encoder.forward(backend.upload(x));                               // [B, 2*latent, h, w]
        Tensor moments = quantConv != null ? quantConv.forward(h) : h; // [B, 2*latent, h, w]
        return backend.download(moments);
    }

    /** How many pixels one latent covers per side: 2^(len(block_out_channels) − 1) (8 for SD). */
    public int scaleFactor() { return 1 << (config.blockOutChannels().length - 1); }

    /**
     * diffusers' tiling attributes as {@code __init__} sets them: {@code tile_sample_min_size} = {@code sample_size},
     * {@code tile_latent_min_size} = {@code int(sample_size / 2^(len(block_out_channels) − 1))},
     * {@code tile_overlap_factor} = 0.25 (512 px / 64 latents for SD 1.x, 1024 / 128 for SDXL).
     */
    public VaeTiles defaultTiles() {
        return new VaeTiles(config.sampleSize(), (int) (config.sampleSize() / (double) scaleFactor()), VaeTiles.OVERLAP);
    }

    /**
     * diffusers' {@code vae.decode(z).sample} after {@code enable_tiling()} with {@code tiles} as its attributes (null:
     * tiling disabled): {@link #tiledDecode} when {@code z} is wider or taller than {@code tile_latent_min_size}, else
     * the plain {@link #decode}. {@code z} [B, latent, h, w] on the host; returns host f32 [B, out, H, W].
     */
    public Tensor decode(Tensor z, VaeTiles tiles) {
        if (tiles != null && tiles.tilesLatents(z.dim(2), z.dim(3))) return tiledDecode(z, tiles);
        return backend.download(decode(z));
    }

    /**
     * diffusers' {@code vae.encode(x).latent_dist} after {@code enable_tiling()} ({@code tiles} null: disabled):
     * {@link #tiledEncode} when {@code x} is wider or taller than {@code tile_sample_min_size}, else the plain
     * {@link #encode}. {@code x} [B, in, H, W] on the host.
     */
    public DiagonalGaussianDistribution encode(Tensor x, VaeTiles tiles) {
        if (tiles != null && tiles.tilesImage(x.dim(2), x.dim(3))) return tiledEncode(x, tiles);
        return encode(x);
    }

    /**
     * diffusers' {@code tiled_decode}: {@code z} (host [B, latent, h, w]) is cut into tiles of
     * {@code tile_latent_min_size} latents every {@code int(tile_latent_min_size · (1 − overlap))}, each decoded alone
     * ({@code post_quant_conv} + {@code decoder}: only one tile's activations live at a time), blended into the tile
     * above ({@link #blendV}) and the one to its left ({@link #blendH}) over {@code int(tile_sample_min_size · overlap)}
     * pixels, and cropped to its first {@code tile_sample_min_size − blend} pixels. Host f32 [B, out, H, W].
     */
    public Tensor tiledDecode(Tensor z, VaeTiles tiles) {
        checkChannels(z, config.latentChannels(), "latents");
        int scale = scaleFactor();
        tiles.check(scale);
        int blend = tiles.decodeBlend();
        return tiled(z, tiles.tileLatentMinSize(), tiles.decodeStride(), blend, tiles.tileSampleMinSize() - blend,
                z.dim(2) * scale, z.dim(3) * scale, config.outChannels(),
                tile -> backend.download(decode(tile)));                          // [B, out, th, tw]
    }

    /**
     * diffusers' {@code tiled_encode}: {@code x} (host [B, in, H, W]) is cut into tiles of {@code tile_sample_min_size}
     * pixels every {@code int(tile_sample_min_size · (1 − overlap))}, each encoded alone ({@code encoder} +
     * {@code quant_conv}); the moments are blended as in {@link #tiledDecode} over {@code int(tile_latent_min_size ·
     * overlap)} latents and cropped to {@code tile_latent_min_size − blend}, then split into the distribution.
     */
    public DiagonalGaussianDistribution tiledEncode(Tensor x, VaeTiles tiles) {
        checkChannels(x, config.inChannels(), "images");
        int scale = scaleFactor();
        tiles.check(scale);
        int blend = tiles.encodeBlend();
        Tensor moments = tiled(x, tiles.tileSampleMinSize(), tiles.encodeStride(), blend, tiles.tileLatentMinSize() - blend,
                x.dim(2) / scale, x.dim(3) / scale, 2 * config.latentChannels(),
                tile -> moments(tile));                                       // [B, 2*latent, h, w]
        return new DiagonalGaussianDistribution(moments);
    }

    /**
     * The loop both tiled passes share, over host tensors: tiles of {@code size} every {@code stride} along H and W of
     * {@code in}, each mapped by {@code pass} to host f32, blended into the previous row's tile and the previous tile
     * (in place, as diffusers' loop does: a tile is blended into its neighbours after they were blended into theirs),
     * and its first {@code rowLimit} rows and columns written into the [B, channels, outH, outW] result, which they must
     * fill exactly ({@link VaeTiles#check}). Only the previous row of tiles is kept.
     */
    private static Tensor tiled(Tensor in, int size, int stride, int blend, int rowLimit, long outH, long outW, int channels,
                                UnaryOperator<Tensor> pass) {
        long height = in.dim(2), width = in.dim(3);
        Tensor out = Tensor.zeros(in.dim(0), channels, outH, outW);
        List<Tensor> above = null;
        int y = 0;
        for (long i = 0; i < height; i += stride) {
            List<Tensor> row = new ArrayList<>();
            int x = 0;
            for (long j = 0; j < width; j += stride) {
                Tensor cut = in.slice(2, i, Math.min(i + size, height)).slice(3, j, Math.min(j + size, width)).contiguous();
                Tensor tile = pass.apply(cut);                                                // [B, channels, th, tw]
                if (above != null) blendV(above.get(row.size()), tile, blend);
                if (!row.isEmpty()) blendH(row.getLast(), tile, blend);
                row.add(tile);
                x += copyCropped(tile, out, y, x, rowLimit);
            }
            y += (int) Math.min(row.getFirst().dim(2), rowLimit);
            if (x != outW) throw new IllegalStateException("the tiles filled " + x + " of " + outW + " columns");
            above = row;
        }
        if (y != outH) throw new IllegalStateException("the tiles filled " + y + " of " + outH + " rows");
        return out;
    }

    /** Writes {@code tile[:, :, :rowLimit, :rowLimit]} into {@code out} at (y, x); returns the columns written. */
    private static int copyCropped(Tensor tile, Tensor out, int y, int x, int rowLimit) {
        int b = (int) tile.dim(0), c = (int) tile.dim(1), th = (int) tile.dim(2), tw = (int) tile.dim(3);
        int h = Math.min(th, rowLimit), w = Math.min(tw, rowLimit);
        int oh = (int) out.dim(2), ow = (int) out.dim(3);
        if (y + h > oh || x + w > ow) throw new IllegalStateException("a tile reaches past the output " + out);
        MemorySegment src = tile.segment(), dst = out.segment();
        for (int n = 0; n < b * c; n++) {
            for (int r = 0; r < h; r++) {
                MemorySegment.copy(src, ((long) n * th * tw + (long) r * tw) * 4,
                        dst, ((long) n * oh * ow + (long) (y + r) * ow + x) * 4, (long) w * 4);
            }
        }
        return w;
    }

    /**
     * diffusers' {@code blend_v}, in place: the first {@code e = min(a.H, b.H, blendExtent)} rows of {@code b} become
     * {@code a[:, :, a.H − e + y, :] · (1 − y/e) + b[:, :, y, :] · (y/e)}, in f32 as torch computes it. Both host f32
     * contiguous [B, C, *, W] of the same width. Returns {@code b}.
     */
    public static Tensor blendV(Tensor a, Tensor b, int blendExtent) {
        checkBlend(a, b, 3, "blend_v");
        int e = (int) Math.min(Math.min(a.dim(2), b.dim(2)), blendExtent);
        long w = b.dim(3), ah = a.dim(2), bh = b.dim(2), planes = b.dim(0) * b.dim(1);
        MemorySegment as = a.segment(), bs = b.segment();
        for (int y = 0; y < e; y++) {
            float wa = (float) (1 - (double) y / e), wb = (float) ((double) y / e);
            for (long p = 0; p < planes; p++) {
                long ai = (p * ah + ah - e + y) * w, bi = (p * bh + y) * w;
                for (long k = 0; k < w; k++) {
                    float v = as.getAtIndex(F32, ai + k) * wa + bs.getAtIndex(F32, bi + k) * wb;
                    bs.setAtIndex(F32, bi + k, v);
                }
            }
        }
        return b;
    }

    /**
     * diffusers' {@code blend_h}, in place: the first {@code e = min(a.W, b.W, blendExtent)} columns of {@code b} become
     * {@code a[:, :, :, a.W − e + x] · (1 − x/e) + b[:, :, :, x] · (x/e)}. Both host f32 contiguous [B, C, H, *] of the
     * same height. Returns {@code b}.
     */
    public static Tensor blendH(Tensor a, Tensor b, int blendExtent) {
        checkBlend(a, b, 2, "blend_h");
        int e = (int) Math.min(Math.min(a.dim(3), b.dim(3)), blendExtent);
        long aw = a.dim(3), bw = b.dim(3), rows = b.dim(0) * b.dim(1) * b.dim(2);
        MemorySegment as = a.segment(), bs = b.segment();
        for (int x = 0; x < e; x++) {
            float wa = (float) (1 - (double) x / e), wb = (float) ((double) x / e);
            for (long r = 0; r < rows; r++) {
                long ai = r * aw + aw - e + x, bi = r * bw + x;
                bs.setAtIndex(F32, bi, as.getAtIndex(F32, ai) * wa + bs.getAtIndex(F32, bi) * wb);
            }
        }
        return b;
    }

    private static void checkBlend(Tensor a, Tensor b, int sameDim, String what) {
        if (a.rank() != 4 || b.rank() != 4 || a.dtype() != DType.F32 || b.dtype() != DType.F32 || !a.isContiguous()
                || !b.isContiguous() || a.dim(0) != b.dim(0) || a.dim(1) != b.dim(1) || a.dim(sameDim) != b.dim(sameDim)) {
            throw new IllegalArgumentException(what + " needs host f32 contiguous [B, C, H, W] tiles that share B, C and "
                    + (sameDim == 3 ? "W" : "H") + ", got " + a + " and " + b);
        }
    }

    private static void checkChannels(Tensor t, int channels, String what) {
        if (t.rank() != 4 || t.dim(1) != channels) {
            throw new IllegalArgumentException(what + " must be [B, " + channels + ", H, W], got " + t);
        }
    }
}
