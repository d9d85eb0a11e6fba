package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.models.vae.DiagonalGaussianDistribution;
import dev.panamadiffusion.models.vae.VaeTiles;
import dev.panamadiffusion.tensor.Tensor;

import java.util.Locale;

/**
 * When the pipeline's VAE decodes (and, for image to image and inpainting, encodes) in tiles, as diffusers'
 * {@code pipe.enable_vae_tiling()} ({@code AutoencoderKL.enable_tiling()}): only one tile's activations live at a time,
 * so big pictures fit in less memory, at the cost of seams ({@link AutoencoderKL#tiledDecode}).
 *
 * <p>{@link Mode#ON} tiles every picture (diffusers then still decodes latents that fit in one tile whole),
 * {@link Mode#OFF} none, {@link Mode#AUTO} (the default) pictures of more than {@code autoPixels} pixels
 * ({@link #AUTO_PIXELS}: 1024 × 1024, so SD 1.x/2.x at 1024² and SDXL at its own 1024² decode whole, and anything
 * larger in tiles). {@code tileSize} is {@code tile_sample_min_size} in pixels; 0 takes the VAE's (diffusers':
 * its config's {@code sample_size}, 512 for SD 1.5); the latent tile is that over the VAE's scale, the overlap 0.25.
 *
 * @param mode       when to tile
 * @param tileSize   tile side in pixels, 0 for the VAE's own; else a multiple of 4 × the VAE's scale ({@link #problem})
 * @param autoPixels with {@link Mode#AUTO}: pictures with more pixels than this are tiled
 */
public record VaeTiling(Mode mode, int tileSize, long autoPixels) {
    /** When the VAE tiles. */
    public enum Mode { AUTO, ON, OFF }

    /** {@link Mode#AUTO}'s threshold: pictures larger than 1024 × 1024 pixels are tiled. */
    public static final long AUTO_PIXELS = 1024L * 1024;
    /** The default: tiles above {@link #AUTO_PIXELS}, at the VAE's own tile size. */
    public static final VaeTiling AUTO = new VaeTiling(Mode.AUTO, 0, AUTO_PIXELS);
    /** Every picture in tiles of the VAE's own size (diffusers' {@code enable_vae_tiling()}). */
    public static final VaeTiling ON = new VaeTiling(Mode.ON, 0, AUTO_PIXELS);
    /** Never tiles (diffusers' default). */
    public static final VaeTiling OFF = new VaeTiling(Mode.OFF, 0, AUTO_PIXELS);

    public VaeTiling {
        if (mode == null) throw new IllegalArgumentException("VAE tiling mode is required");
        if (tileSize < 0 || tileSize > VaeTiles.MAX_TILE) {
            throw new IllegalArgumentException("VAE tile size must be 0 (the VAE's own) or 1 to " + VaeTiles.MAX_TILE + " pixels, got " + tileSize);
        }
        if (autoPixels < 0) throw new IllegalArgumentException("VAE tiling threshold must be >= 0 pixels, got " + autoPixels);
        if (mode == Mode.OFF && tileSize != 0) {
            throw new IllegalArgumentException("a VAE tile size (" + tileSize + ") needs VAE tiling, which is off");
        }
    }

    /** "auto", "on" or "off" (any case); anything else is an {@link IllegalArgumentException} saying so. */
    public static Mode parseMode(String text) {
        try {
            return Mode.valueOf(text.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new IllegalArgumentException("expected auto, on or off, got '" + text + "'");
        }
    }

    /** This policy with tiles of {@code pixels} (0: the VAE's own). */
    public VaeTiling withTileSize(int pixels) { return new VaeTiling(mode, pixels, autoPixels); }

    /** This policy tiling, in {@link Mode#AUTO}, pictures of more than {@code pixels} pixels. */
    public VaeTiling withAutoPixels(long pixels) { return new VaeTiling(mode, tileSize, pixels); }

    /**
     * Null when this policy's tile size suits a VAE that scales by {@code scale}, else why not: a tile must hold whole
     * latents and blend over whole latents, so it is a multiple of 4 × scale pixels (32 for SD).
     */
    public String problem(int scale) {
        if (tileSize == 0) return null;
        int step = 4 * scale;
        if (tileSize % step != 0) {
            int lower = tileSize / step * step;
            return "VAE tile size " + tileSize + " is not a multiple of " + step + " (4 x the VAE's scale " + scale
                    + ": tiles overlap by a quarter, in whole latents); try " + (lower == 0 ? step + "" : lower + " or " + (lower + step));
        }
        return null;
    }

    /**
     * Throws an {@link IllegalArgumentException} saying why when this policy can tile and its tiles do not suit
     * {@code vae} (its tile size, or with none given the VAE's {@code sample_size}).
     */
    public void check(AutoencoderKL vae) {
        if (mode == Mode.OFF) return;
        String p = problem(vae.scaleFactor());
        if (p == null) p = tiles(vae).problem(vae.scaleFactor());
        if (p != null) throw new IllegalArgumentException(p);
    }

    /** The tile sizes for {@code vae}: {@code tileSize} over its scale, or its own ({@link AutoencoderKL#defaultTiles()}). */
    public VaeTiles tiles(AutoencoderKL vae) {
        return tileSize == 0 ? vae.defaultTiles() : VaeTiles.ofPixels(tileSize, vae.scaleFactor());
    }

    /** The tiles a picture of {@code height} × {@code width} pixels is decoded and encoded with; null: whole. */
    public VaeTiles tilesFor(AutoencoderKL vae, long height, long width) {
        boolean tile = switch (mode) {
            case ON -> true;
            case OFF -> false;
            case AUTO -> height * width > autoPixels;
        };
        return tile ? tiles(vae) : null;
    }

    /** {@code vae.decode(z)} under this policy: host latents [B, C, h, w] (already unscaled) → host [B, 3, H, W]. */
    public Tensor decode(AutoencoderKL vae, Tensor z) {
        int scale = vae.scaleFactor();
        return vae.decode(z, tilesFor(vae, z.dim(2) * scale, z.dim(3) * scale));
    }

    /** {@code vae.encode(x).latent_dist} under this policy: host pixels [B, 3, H, W] in [-1, 1]. */
    public DiagonalGaussianDistribution encode(AutoencoderKL vae, Tensor x) {
        return vae.encode(x, tilesFor(vae, x.dim(2), x.dim(3)));
    }

    @Override
    public String toString() {
        String s = mode.name().toLowerCase(Locale.ROOT);
        if (tileSize != 0) s += ", " + tileSize + " px tiles";
        if (mode == Mode.AUTO && autoPixels != AUTO_PIXELS) s += ", above " + autoPixels + " px";
        return s;
    }
}
