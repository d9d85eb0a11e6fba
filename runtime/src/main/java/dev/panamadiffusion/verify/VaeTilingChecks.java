package dev.panamadiffusion.verify;

import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.models.vae.DiagonalGaussianDistribution;
import dev.panamadiffusion.models.vae.VaeTiles;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * {@code vae_tiling_<name>.safetensors} (docs/VERIFY.md): diffusers' {@code AutoencoderKL.enable_tiling()} with the
 * recorded {@code tile_sample_min_size}, {@code tile_latent_min_size} and {@code tile_overlap_factor}: {@code latents}
 * → {@code decoded_tiled} through {@link AutoencoderKL#decode(Tensor, VaeTiles)} (which tiles as diffusers' switch
 * says) and {@code decoded} untiled; {@code enc_image} → {@code enc_mean_tiled}/{@code enc_logvar_tiled} and
 * {@code enc_mean}/{@code enc_logvar}. Each pair the file holds is one check.
 */
final class VaeTilingChecks {
    static final Pattern FILE = Pattern.compile("vae_tiling_[A-Za-z0-9_.-]+\\.safetensors");

    private VaeTilingChecks() {}

    static void run(ReferenceSet set, Path file, Models models, Context ctx, Arena arena) {
        Map<String, Tensor> io = SafeTensors.open(file, arena).tensors();
        String n = file.getFileName().toString();
        String name = set.label() + n.substring(0, n.length() - ".safetensors".length());
        VaeTiles tiles = new VaeTiles(integer(io, "tile_sample_min_size", file), integer(io, "tile_latent_min_size", file),
                ComponentChecks.require(io, "tile_overlap_factor", file).getDouble(0));
        boolean decode = io.containsKey("decoded_tiled") || io.containsKey("decoded");
        boolean encode = io.keySet().stream().anyMatch(k -> k.startsWith("enc_mean") || k.startsWith("enc_logvar"));
        if (!decode && !encode) {
            ctx.report(ComponentChecks.nothingToCompare(name, file, "decoded_tiled, decoded, enc_mean_tiled, enc_logvar_tiled,"
                    + " enc_mean or enc_logvar"));
            return;
        }
        AutoencoderKL vae = models.vae();
        if (decode) {
            Tensor latents = ComponentChecks.require(io, "latents", file);                          // [B, C, h, w]
            if (io.containsKey("decoded_tiled")) {
                ctx.report(Compare.tensors(name + " decode tiled", vae.decode(latents, tiles), io.get("decoded_tiled"),
                        ctx.tolerances().model()));
            }
            if (io.containsKey("decoded")) {
                ctx.report(Compare.tensors(name + " decode", vae.decode(latents, null), io.get("decoded"), ctx.tolerances().model()));
            }
        }
        if (encode) {
            Tensor image = ComponentChecks.require(io, "enc_image", file);                          // [B, 3, H, W]
            for (String suffix : new String[] {"_tiled", ""}) {
                if (!io.containsKey("enc_mean" + suffix) && !io.containsKey("enc_logvar" + suffix)) continue;
                DiagonalGaussianDistribution d = vae.encode(image, suffix.isEmpty() ? null : tiles);
                String check = name + " encode" + suffix.replace('_', ' ');
                CheckResult mean = io.containsKey("enc_mean" + suffix)
                        ? Compare.tensors("mean", d.mean(), io.get("enc_mean" + suffix), ctx.tolerances().model()) : null;
                CheckResult logvar = io.containsKey("enc_logvar" + suffix)
                        ? Compare.tensors("logvar", d.logvar(), io.get("enc_logvar" + suffix), ctx.tolerances().model()) : null;
                ctx.report(mean == null ? rename(logvar, check) : logvar == null ? rename(mean, check)
                        : Compare.worst(check, mean, logvar));
            }
        }
    }

    private static CheckResult rename(CheckResult r, String name) {
        return new CheckResult(name, r.maxAbsErr(), r.maxRelErr(), r.tolerance(), r.passed(), r.name());
    }

    private static int integer(Map<String, Tensor> io, String key, Path file) {
        return Math.toIntExact(ComponentChecks.require(io, key, file).getLong(0));
    }
}
