package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.config.ConfigException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.panamadiffusion.config.ConfigReader;
import dev.panamadiffusion.config.WeightShapes;
import dev.panamadiffusion.tensor.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * diffusers' {@code AutoencoderKL} config, as {@code vae/config.json} holds it (unknown keys ignored; missing keys take
 * diffusers' defaults). Lists are arrays: {@code blockOutChannels()} is {@code block_out_channels}.
 */
public record AutoencoderKLConfig(
        int inChannels,
        int outChannels,
        String[] downBlockTypes,
        String[] upBlockTypes,
        int[] blockOutChannels,
        int layersPerBlock,
        String actFn,
        int latentChannels,
        int normNumGroups,
        int sampleSize,
        double scalingFactor,
        Boolean forceUpcast,
        Boolean useQuantConv,
        Boolean usePostQuantConv,
        Boolean midBlockAddAttention) {

    /** Most blocks a config may list; Stable Diffusion's VAE has 4. */
    public static final int MAX_BLOCKS = 8;
    /** Largest channel count a config may give before the weights are consulted. */
    public static final int MAX_CHANNELS = 1 << 16;
    /** Most resnets per block. */
    public static final int MAX_LAYERS = 64;

    /**
     * Every size must be positive (a {@code 0} is refused, not replaced by a default; {@link #read} supplies
     * diffusers' defaults for absent keys); null block types and booleans take diffusers' defaults.
     */
    public AutoencoderKLConfig {
        if (blockOutChannels == null) blockOutChannels = new int[] {64};
        if (downBlockTypes == null) downBlockTypes = filled("DownEncoderBlock2D", blockOutChannels.length);
        if (upBlockTypes == null) upBlockTypes = filled("UpDecoderBlock2D", blockOutChannels.length);
        if (actFn == null) actFn = "silu";
        if (forceUpcast == null) forceUpcast = true;
        if (useQuantConv == null) useQuantConv = true;
        if (usePostQuantConv == null) usePostQuantConv = true;
        if (midBlockAddAttention == null) midBlockAddAttention = true;
        blockOutChannels = blockOutChannels.clone();
        downBlockTypes = downBlockTypes.clone();
        upBlockTypes = upBlockTypes.clone();
        range("in_channels", inChannels, MAX_CHANNELS);
        range("out_channels", outChannels, MAX_CHANNELS);
        range("latent_channels", latentChannels, MAX_CHANNELS);
        range("norm_num_groups", normNumGroups, MAX_CHANNELS);
        range("layers_per_block", layersPerBlock, MAX_LAYERS);
        range("sample_size", sampleSize, 1 << 14);
        if (!(scalingFactor > 0 && Double.isFinite(scalingFactor))) {
            throw new ConfigException(null, "scaling_factor", scalingFactor + " is not a positive finite number");
        }
        if (blockOutChannels.length == 0) throw new ConfigException(null, "block_out_channels", "is empty");
        if (blockOutChannels.length > MAX_BLOCKS) {
            throw new ConfigException(null, "block_out_channels", "has " + blockOutChannels.length + " entries, more than " + MAX_BLOCKS);
        }
        if (downBlockTypes.length != blockOutChannels.length || upBlockTypes.length != blockOutChannels.length) {
            throw new ConfigException(null, "down_block_types/up_block_types", downBlockTypes.length + " down_block_types and "
                    + upBlockTypes.length + " up_block_types for " + blockOutChannels.length + " block_out_channels");
        }
        for (String t : downBlockTypes) {
            if (!"DownEncoderBlock2D".equals(t)) throw new ConfigException(null, "down_block_types", "unsupported block " + t + " (supported: DownEncoderBlock2D)");
        }
        for (String t : upBlockTypes) {
            if (!"UpDecoderBlock2D".equals(t)) throw new ConfigException(null, "up_block_types", "unsupported block " + t + " (supported: UpDecoderBlock2D)");
        }
        if (!actFn.equals("silu")) throw new ConfigException(null, "act_fn", "unsupported: " + actFn + " (supported: silu)");
        for (int c : blockOutChannels) {
            if (c <= 0 || c > MAX_CHANNELS || c % normNumGroups != 0) {
                throw new ConfigException(null, "block_out_channels", Arrays.toString(blockOutChannels)
                        + " must be positive multiples of norm_num_groups " + normNumGroups + " up to " + MAX_CHANNELS);
            }
        }
    }

    private static void range(String key, int v, int max) {
        if (v < 1 || v > max) throw new ConfigException(null, key, v + " is out of range [1, " + max + "]");
    }

    private static String[] filled(String s, int n) {
        String[] a = new String[n];
        Arrays.fill(a, s);
        return a;
    }

    /**
     * Reads {@code config.json}, diffusers' defaults for absent keys; problems are a {@link ConfigException} naming
     * the file and the key. The sizes are checked against the weights by {@link #checkWeights}.
     */
    public static AutoencoderKLConfig read(Path configFile) {
        return read(configFile, ConfigReader.of(configFile).root());
    }

    /** As {@link #read(Path)}, for the parsed (or derived) {@code root}; {@code configFile} names it in messages. */
    public static AutoencoderKLConfig read(Path configFile, JsonNode root) {
        ConfigReader j = new ConfigReader(configFile, root);
        try {
            int[] channels = j.ints("block_out_channels", MAX_BLOCKS, 1, MAX_CHANNELS, 64);
            return new AutoencoderKLConfig(
                    j.integer("in_channels", 3, 1, MAX_CHANNELS),
                    j.integer("out_channels", 3, 1, MAX_CHANNELS),
                    j.isSet("down_block_types") ? j.strings("down_block_types", MAX_BLOCKS) : null,
                    j.isSet("up_block_types") ? j.strings("up_block_types", MAX_BLOCKS) : null,
                    channels,
                    j.integer("layers_per_block", 1, 1, MAX_LAYERS),
                    j.string("act_fn", "silu"),
                    j.integer("latent_channels", 4, 1, MAX_CHANNELS),
                    j.integer("norm_num_groups", 32, 1, MAX_CHANNELS),
                    j.integer("sample_size", 32, 1, 1 << 14),
                    j.number("scaling_factor", 0.18215, Double.MIN_VALUE, 1e6),
                    j.isSet("force_upcast") ? j.bool("force_upcast", true) : null,
                    j.isSet("use_quant_conv") ? j.bool("use_quant_conv", true) : null,
                    j.isSet("use_post_quant_conv") ? j.bool("use_post_quant_conv", true) : null,
                    j.isSet("mid_block_add_attention") ? j.bool("mid_block_add_attention", true) : null);
        } catch (ConfigException e) {
            throw e.file() == null ? e.in(configFile) : e;
        }
    }

    /**
     * Checks this config, read from {@code configFile}, against the checkpoint's tensors before any module is built:
     * block and layer counts and channel widths must be what the weights hold.
     */
    public void checkWeights(Path configFile, Map<String, Tensor> weights) {
        WeightShapes w = new WeightShapes(configFile, weights);
        int n = blockOutChannels.length;
        w.expectCount("block_out_channels", n, "encoder.down_blocks.");
        w.expectCount("block_out_channels", n, "decoder.up_blocks.");
        w.expect("in_channels", inChannels, "encoder.conv_in.weight", 1);
        w.expect("out_channels", outChannels, "decoder.conv_out.weight", 0);
        w.expect("latent_channels", latentChannels, "decoder.conv_in.weight", 1);
        for (int i = 0; i < n; i++) {
            String down = "encoder.down_blocks." + i + ".";
            w.expect("block_out_channels", blockOutChannels[i], down + "resnets.0.conv1.weight", 0);
            w.expectCount("layers_per_block", layersPerBlock, down + "resnets.");
            w.expectCount("layers_per_block", layersPerBlock, layersPerBlock + 1L, "decoder.up_blocks." + i + ".resnets.");
        }
    }

    /** The VAE of Stable Diffusion 1.x and 2.x. */
    public static AutoencoderKLConfig sd15() {
        return new AutoencoderKLConfig(3, 3, null, null, new int[] {128, 256, 512, 512}, 2, "silu", 4, 32, 512,
                0.18215, true, true, true, true);
    }

    @Override public int[] blockOutChannels() { return blockOutChannels.clone(); }

    @Override public String[] downBlockTypes() { return downBlockTypes.clone(); }

    @Override public String[] upBlockTypes() { return upBlockTypes.clone(); }

    @Override
    public boolean equals(Object o) {
        return o instanceof AutoencoderKLConfig c && inChannels == c.inChannels && outChannels == c.outChannels
                && Arrays.equals(downBlockTypes, c.downBlockTypes) && Arrays.equals(upBlockTypes, c.upBlockTypes)
                && Arrays.equals(blockOutChannels, c.blockOutChannels) && layersPerBlock == c.layersPerBlock
                && actFn.equals(c.actFn) && latentChannels == c.latentChannels && normNumGroups == c.normNumGroups
                && sampleSize == c.sampleSize && scalingFactor == c.scalingFactor && forceUpcast.equals(c.forceUpcast)
                && useQuantConv.equals(c.useQuantConv) && usePostQuantConv.equals(c.usePostQuantConv)
                && midBlockAddAttention.equals(c.midBlockAddAttention);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(blockOutChannels) * 31 + Double.hashCode(scalingFactor) * 7 + latentChannels;
    }

    @Override
    public String toString() {
        return "AutoencoderKLConfig[block_out_channels=" + Arrays.toString(blockOutChannels) + ", layers_per_block="
                + layersPerBlock + ", latent_channels=" + latentChannels + ", norm_num_groups=" + normNumGroups
                + ", in_channels=" + inChannels + ", out_channels=" + outChannels + ", scaling_factor=" + scalingFactor
                + ", mid_block_add_attention=" + midBlockAddAttention + ", use_quant_conv=" + useQuantConv
                + ", use_post_quant_conv=" + usePostQuantConv + "]";
    }
}
