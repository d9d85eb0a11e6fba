package dev.panamadiffusion.models.vae;

/**
 * The tile sizes of diffusers' {@code AutoencoderKL} tiling ({@code enable_tiling()}), under its attribute names:
 * {@code tile_sample_min_size} (pixels), {@code tile_latent_min_size} (latents) and {@code tile_overlap_factor}.
 * {@link AutoencoderKL#defaultTiles()} gives what diffusers' {@code __init__} sets; tests set smaller ones, as diffusers
 * users set the attributes.
 *
 * <p>Decoding steps {@link #decodeStride()} = {@code int(tile_latent_min_size · (1 − overlap))} latents from tile to
 * tile, blends {@link #decodeBlend()} = {@code int(tile_sample_min_size · overlap)} pixels and keeps
 * {@code tile_sample_min_size − blend} of each tile; encoding the other way round. diffusers does not check that these
 * add up; {@link #check} does (a tiled result always has the untiled size).
 */
public record VaeTiles(int tileSampleMinSize, int tileLatentMinSize, double tileOverlapFactor) {
    /** diffusers' {@code tile_overlap_factor}. */
    public static final double OVERLAP = 0.25;
    /** The largest tile side accepted, in pixels. */
    public static final int MAX_TILE = 1 << 14;

    public VaeTiles {
        if (tileSampleMinSize < 1 || tileSampleMinSize > MAX_TILE || tileLatentMinSize < 1 || tileLatentMinSize > MAX_TILE) {
            throw new IllegalArgumentException("tile sizes must be in [1, " + MAX_TILE + "], got tile_sample_min_size "
                    + tileSampleMinSize + ", tile_latent_min_size " + tileLatentMinSize);
        }
        if (!(tileOverlapFactor >= 0 && tileOverlapFactor < 1)) {
            throw new IllegalArgumentException("tile_overlap_factor must be in [0, 1), got " + tileOverlapFactor);
        }
    }

    /** {@code tile_sample_min_size} = {@code samplePixels} and the latents under it for a VAE of {@code scale}, overlap 0.25. */
    public static VaeTiles ofPixels(int samplePixels, int scale) {
        return new VaeTiles(samplePixels, samplePixels / scale, OVERLAP);
    }

    /** diffusers' {@code _decode} switch: latents wider or taller than {@code tile_latent_min_size} are decoded in tiles. */
    public boolean tilesLatents(long height, long width) {
        return width > tileLatentMinSize || height > tileLatentMinSize;
    }

    /** diffusers' {@code encode} switch: images wider or taller than {@code tile_sample_min_size} are encoded in tiles. */
    public boolean tilesImage(long height, long width) {
        return width > tileSampleMinSize || height > tileSampleMinSize;
    }

    /** {@code tiled_decode}'s {@code overlap_size}: latents from one tile to the next. */
    public int decodeStride() { return (int) (tileLatentMinSize * (1 - tileOverlapFactor)); }

    /** {@code tiled_decode}'s {@code blend_extent}, in pixels. */
    public int decodeBlend() { return (int) (tileSampleMinSize * tileOverlapFactor); }

    /** {@code tiled_encode}'s {@code overlap_size}: pixels from one tile to the next. */
    public int encodeStride() { return (int) (tileSampleMinSize * (1 - tileOverlapFactor)); }

    /** {@code tiled_encode}'s {@code blend_extent}, in latents. */
    public int encodeBlend() { return (int) (tileLatentMinSize * tileOverlapFactor); }

    /**
     * Whether these tiles fit a VAE that scales by {@code scale}; null if they do, else why not. They do when a latent
     * tile decodes to exactly a sample tile ({@code tile_sample_min_size = tile_latent_min_size · scale}) and the part
     * of each tile that is kept is exactly one step ({@code tile_sample_min_size − blend = stride · scale}, both ways),
     * so that the tiles add up to the untiled size; diffusers' defaults for SD (512 / 64), SDXL (1024 / 128) and any
     * {@code sample_size} that is a multiple of 4 · scale do.
     */
    public String problem(int scale) {
        if ((long) tileLatentMinSize * scale != tileSampleMinSize) {
            return "tile_sample_min_size " + tileSampleMinSize + " is not tile_latent_min_size " + tileLatentMinSize
                    + " times the VAE's scale " + scale;
        }
        if (decodeStride() < 1 || encodeStride() < 1) {
            return "tiles of " + tileLatentMinSize + " latents with overlap " + tileOverlapFactor + " do not advance";
        }
        if (tileSampleMinSize - decodeBlend() != (long) decodeStride() * scale
                || (tileLatentMinSize - encodeBlend()) * (long) scale != encodeStride()) {
            return "tiles of " + tileSampleMinSize + " pixels (" + tileLatentMinSize + " latents) with overlap "
                    + tileOverlapFactor + " do not add up to the untiled size (the kept part of a tile, "
                    + (tileSampleMinSize - decodeBlend()) + " pixels, is not the step of " + decodeStride()
                    + " latents; a tile of a multiple of " + 4 * scale + " pixels with overlap 0.25 is)";
        }
        return null;
    }

    /** {@link #problem} as an {@link IllegalArgumentException}. */
    public void check(int scale) {
        String p = problem(scale);
        if (p != null) throw new IllegalArgumentException(p);
    }
}
