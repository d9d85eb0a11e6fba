package dev.panamadiffusion.models.vae;

import dev.panamadiffusion.config.ConfigJson;

import java.nio.file.Path;
import java.util.Arrays;

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

    public AutoencoderKLConfig {
        if (inChannels == 0) inChannels = 3;
        if (outChannels == 0) outChannels = 3;
        if (blockOutChannels == null) blockOutChannels = new int[] {64};
        if (downBlockTypes == null) downBlockTypes = filled("DownEncoderBlock2D", blockOutChannels.length);
        if (upBlockTypes == null) upBlockTypes = filled("UpDecoderBlock2D", blockOutChannels.length);
        if (layersPerBlock == 0) layersPerBlock = 1;
        if (actFn == null) actFn = "silu";
        if (latentChannels == 0) latentChannels = 4;
        if (normNumGroups == 0) normNumGroups = 32;
        if (sampleSize == 0) sampleSize = 32;
        if (scalingFactor == 0) scalingFactor = 0.18215;
        if (forceUpcast == null) forceUpcast = true;
        if (useQuantConv == null) useQuantConv = true;
        if (usePostQuantConv == null) usePostQuantConv = true;
        if (midBlockAddAttention == null) midBlockAddAttention = true;
        blockOutChannels = blockOutChannels.clone();
        downBlockTypes = downBlockTypes.clone();
        upBlockTypes = upBlockTypes.clone();
        if (blockOutChannels.length == 0) throw new IllegalArgumentException("AutoencoderKLConfig: empty block_out_channels");
        if (downBlockTypes.length != blockOutChannels.length || upBlockTypes.length != blockOutChannels.length) {
            throw new IllegalArgumentException("AutoencoderKLConfig: " + downBlockTypes.length + " down_block_types and "
                    + upBlockTypes.length + " up_block_types for " + blockOutChannels.length + " block_out_channels");
        }
        for (String t : downBlockTypes) {
            if (!t.equals("DownEncoderBlock2D")) throw new IllegalArgumentException("AutoencoderKLConfig: down block type " + t + " (supported: DownEncoderBlock2D)");
        }
        for (String t : upBlockTypes) {
            if (!t.equals("UpDecoderBlock2D")) throw new IllegalArgumentException("AutoencoderKLConfig: up block type " + t + " (supported: UpDecoderBlock2D)");
        }
        if (!actFn.equals("silu")) throw new IllegalArgumentException("AutoencoderKLConfig: act_fn " + actFn + " (supported: silu)");
        for (int c : blockOutChannels) {
            if (c <= 0 || c % normNumGroups != 0) {
                throw new IllegalArgumentException("AutoencoderKLConfig: block_out_channels " + Arrays.toString(blockOutChannels)
                        + " must be positive multiples of norm_num_groups " + normNumGroups);
            }
        }
    }

    private static String[] filled(String s, int n) {
        String[] a = new String[n];
        Arrays.fill(a, s);
        return a;
    }

    /** Reads {@code config.json}; problems are an {@link IllegalArgumentException} naming the file. */
    public static AutoencoderKLConfig read(Path configFile) {
        return ConfigJson.read(configFile, AutoencoderKLConfig.class);
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
