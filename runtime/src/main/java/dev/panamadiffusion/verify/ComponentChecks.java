package dev.panamadiffusion.verify;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.io.ModelFiles;
import dev.panamadiffusion.io.SafeTensors;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.models.clip.CLIPTextOutput;
import dev.panamadiffusion.models.vae.AutoencoderKL;
import dev.panamadiffusion.models.vae.DiagonalGaussianDistribution;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Single forward passes of the text encoder, UNet and VAE against {@code <component>_io.safetensors}. */
final class ComponentChecks {
    private static final Pattern SCALAR_OUT = Pattern.compile("out_t([0-9]+(?:\\.[0-9]+)?)_scalar");
    private static final Pattern CLIP_SKIP = Pattern.compile("hidden_state_clip_skip([0-9]+)");
    /** SDXL's conditioning: hidden_states[-2] as the encoder layer left it (no final_layer_norm). */
    private static final String PENULTIMATE = "hidden_state_penultimate";

    private ComponentChecks() {}

    /**
     * {@code input_ids} [B, L] → {@code last_hidden_state}, {@code pooler_output}, and each optional
     * {@code hidden_state_clip_skip<k>} (what the UNet gets with clip skip k: hidden_states[-(k+1)] through the final
     * layer norm; k = 1 is the penultimate layer).
     */
    static void textEncoder(ReferenceSet set, Models models, Context ctx, Arena arena) {
        Map<String, Tensor> io = SafeTensors.open(set.io("text_encoder"), arena).tensors();
        String name = set.label() + "text_encoder";
        Tensor ids = require(io, "input_ids", set.io("text_encoder"));
        Backend b = ctx.backend();
        boolean clipSkips = io.keySet().stream().anyMatch(k -> CLIP_SKIP.matcher(k).matches());
        if (!io.containsKey("last_hidden_state") && !io.containsKey("pooler_output") && !clipSkips
                && !io.containsKey(PENULTIMATE)) {
            ctx.report(nothingToCompare(name, set.io("text_encoder"),
                    "last_hidden_state, pooler_output, hidden_state_clip_skip<k> or " + PENULTIMATE));
            return;
        }
        if (io.containsKey(PENULTIMATE)) {
            ctx.report(Compare.tensors(name + " " + PENULTIMATE, b.download(models.textEncoder().forward(ids, 1, false).hiddenState()),
                    io.get(PENULTIMATE), ctx.tolerances().model()));
        }
        CLIPTextOutput out = models.textEncoder().forward(ids, 0);
        if (io.containsKey("last_hidden_state")) {
            ctx.report(Compare.tensors(name + " last_hidden_state", b.download(out.lastHiddenState()),
                    io.get("last_hidden_state"), ctx.tolerances().model()));
        }
        if (io.containsKey("pooler_output")) {
            ctx.report(Compare.tensors(name + " pooler_output", b.download(out.pooledOutput()),
                    io.get("pooler_output"), ctx.tolerances().model()));
        }
        for (String key : new TreeSet<>(io.keySet())) {
            Matcher m = CLIP_SKIP.matcher(key);
            if (!m.matches()) continue;
            int k = Integer.parseInt(m.group(1));
            Tensor hidden = b.download(models.textEncoder().forward(ids, k).hiddenState());
            ctx.report(Compare.tensors(name + " clip skip " + k, hidden, io.get(key), ctx.tolerances().model()));
        }
    }

    /**
     * SDXL's second text encoder ({@code CLIPTextModelWithProjection}, {@code text_encoder_2/}): {@code input_ids} →
     * {@code last_hidden_state}, {@code text_embeds} (text_projection of the pooled output),
     * {@code hidden_state_penultimate} and {@code hidden_state_clip_skip<k>}, each when recorded.
     */
    static void textEncoder2(ReferenceSet set, Models models, Context ctx, Arena arena) {
        Path file = set.io("text_encoder_2");
        Map<String, Tensor> io = SafeTensors.open(file, arena).tensors();
        String name = set.label() + "text_encoder_2";
        Tensor ids = require(io, "input_ids", file);
        Backend b = ctx.backend();
        var model = models.textEncoder2();
        boolean any = false;
        CLIPTextOutput out = model.forward(ids, 0, true);
        if (io.containsKey("last_hidden_state")) {
            any = true;
            ctx.report(Compare.tensors(name + " last_hidden_state", b.download(out.lastHiddenState()), io.get("last_hidden_state"),
                    ctx.tolerances().model()));
        }
        if (io.containsKey("text_embeds")) {
            any = true;
            ctx.report(Compare.tensors(name + " text_embeds", b.download(model.textEmbeds(out)), io.get("text_embeds"),
                    ctx.tolerances().model()));
        }
        if (io.containsKey(PENULTIMATE)) {
            any = true;
            ctx.report(Compare.tensors(name + " " + PENULTIMATE, b.download(model.forward(ids, 1, false).hiddenState()),
                    io.get(PENULTIMATE), ctx.tolerances().model()));
        }
        for (String key : new TreeSet<>(io.keySet())) {
            Matcher m = CLIP_SKIP.matcher(key);
            if (!m.matches()) continue;
            any = true;
            int k = Integer.parseInt(m.group(1));
            ctx.report(Compare.tensors(name + " clip skip " + k, b.download(model.forward(ids, k, true).hiddenState()),
                    io.get(key), ctx.tolerances().model()));
        }
        if (!any) ctx.report(nothingToCompare(name, file, "last_hidden_state, text_embeds, " + PENULTIMATE + " or hidden_state_clip_skip<k>"));
    }

    /**
     * {@code sample} [B, C, h, w], {@code timesteps} [B], {@code encoder_hidden_states} [B, L, D] → {@code out}; and each
     * {@code out_t<T>_scalar}: the output for the single timestep T given to every row.
     */
    static void unet(ReferenceSet set, Models models, Context ctx, Arena arena) {
        Path file = set.io("unet");
        Map<String, Tensor> io = SafeTensors.open(file, arena).tensors();
        String name = set.label() + "unet";
        Backend b = ctx.backend();
        Tensor sample = b.upload(require(io, "sample", file));
        Tensor context = b.upload(require(io, "encoder_hidden_states", file));
        long rows = sample.dim(0);
        // SDXL's added_cond_kwargs: text_embeds [B, P] and time_ids [B, 6], given to every output below
        Tensor addEmbeds = io.containsKey("text_embeds") || io.containsKey("time_ids")
                ? models.unet().addEmbeds(require(io, "text_embeds", file), require(io, "time_ids", file)) : null;
        if (!io.containsKey("out") && io.keySet().stream().noneMatch(k -> SCALAR_OUT.matcher(k).matches())) {
            ctx.report(nothingToCompare(name, file, "out or out_t<T>_scalar"));
            return;
        }
        if (io.containsKey("out")) {
            double[] t = doubles(require(io, "timesteps", file));
            Tensor cond = io.get("timestep_cond");                                 // [B, time_cond_proj_dim] or absent
            if (t.length != rows) {
                ctx.report(CheckResult.error(name + " out", "timesteps has " + t.length + " values for " + rows + " rows"));
            } else {
                Tensor out = b.download(models.unet().forward(sample, t, cond, addEmbeds, context, () -> {}));
                ctx.report(Compare.tensors(name + " t=" + list(t) + (cond == null ? "" : " with timestep_cond"), out,
                        io.get("out"), ctx.tolerances().model()));
                if (cond != null && io.containsKey("out_no_timestep_cond")) {
                    Tensor plain = b.download(models.unet().forward(sample, t, context));
                    ctx.report(Compare.tensors(name + " t=" + list(t) + " without timestep_cond", plain,
                            io.get("out_no_timestep_cond"), ctx.tolerances().model()));
                }
            }
            if (cond != null && io.containsKey("guidance_w")) {  // get_guidance_scale_embedding(w, time_cond_proj_dim)
                Tensor emb = UNet2DConditionModel.guidanceScaleEmbedding(doubles(io.get("guidance_w")),
                        Math.toIntExact(cond.dim(1)));
                ctx.report(Compare.tensors(name + " guidance embedding of w=" + list(doubles(io.get("guidance_w"))), emb,
                        cond, ctx.tolerances().model()));
            }
        }
        for (String key : new TreeSet<>(io.keySet())) {
            Matcher m = SCALAR_OUT.matcher(key);
            if (!m.matches()) continue;
            double[] t = new double[Math.toIntExact(rows)];
            Arrays.fill(t, Double.parseDouble(m.group(1)));
            Tensor out = b.download(models.unet().forward(sample, t, null, addEmbeds, context, () -> {}));
            ctx.report(Compare.tensors(name + " t=" + m.group(1) + " (scalar)", out, io.get(key), ctx.tolerances().model()));
        }
    }

    /**
     * {@code latents} → {@code decoded} (the decoder alone: {@code vae.decode(latents)}, no scaling factor), and
     * {@code enc_image} → {@code enc_mean}, {@code enc_logvar} (the encoder's latent distribution).
     */
    static void vae(ReferenceSet set, Models models, Context ctx, Arena arena) {
        Map<String, Tensor> io = SafeTensors.open(set.io("vae"), arena).tensors();
        String name = set.label() + "vae";
        Backend b = ctx.backend();
        boolean decode = io.containsKey("latents") || io.containsKey("decoded");
        boolean encode = io.containsKey("enc_image") || io.containsKey("enc_mean") || io.containsKey("enc_logvar");
        if (!decode && !encode) {
            ctx.report(nothingToCompare(name, set.io("vae"), "latents + decoded or enc_image + enc_mean/enc_logvar"));
            return;
        }
        if (decode && !(io.containsKey("latents") && io.containsKey("decoded"))) {
            ctx.report(CheckResult.error(name + " decode", set.io("vae").getFileName() + " has "
                    + (io.containsKey("latents") ? "latents but no decoded" : "decoded but no latents")));
        }
        if (encode && !(io.containsKey("enc_image") && (io.containsKey("enc_mean") || io.containsKey("enc_logvar")))) {
            ctx.report(CheckResult.error(name + " encode", set.io("vae").getFileName() + " has "
                    + (io.containsKey("enc_image") ? "enc_image but neither enc_mean nor enc_logvar" : "no enc_image for its encoder outputs")));
        }
        if (io.containsKey("latents") && io.containsKey("decoded")) {
            AutoencoderKL vae = models.vae();  // on its own backend: f32 where the pipeline upcasts it
            Tensor decoded = vae.backend().download(vae.decode(io.get("latents")));
            ctx.report(Compare.tensors(name + " decode", decoded, io.get("decoded"), ctx.tolerances().model()));
        }
        if (io.containsKey("enc_image") && (io.containsKey("enc_mean") || io.containsKey("enc_logvar"))) {
            DiagonalGaussianDistribution d = models.vae().encode(io.get("enc_image"));
            if (io.containsKey("enc_mean")) {
                ctx.report(Compare.tensors(name + " encode mean", b.download(d.mean()), io.get("enc_mean"), ctx.tolerances().model()));
            }
            if (io.containsKey("enc_logvar")) {
                ctx.report(Compare.tensors(name + " encode logvar", b.download(d.logvar()), io.get("enc_logvar"),
                        ctx.tolerances().model()));
            }
        }
    }

    /** The FAIL of a reference file that records inputs but none of the outputs its check compares. */
    static CheckResult nothingToCompare(String name, Path file, String expected) {
        return CheckResult.error(name, file.getFileName() + " records nothing to compare (expected " + expected + ")");
    }

    /** {@code <component>_weights.safetensors} holds exactly the tensors of the {@code <component>/} folder. */
    static void flatWeights(ReferenceSet set, String component, Context ctx, Arena arena) {
        Path flat = set.flatWeights(component);
        String name = set.label() + component + " folder == " + flat.getFileName();
        if (!Files.isDirectory(set.component(component))) {
            ctx.report(CheckResult.error(name, "no " + component + "/ folder beside " + flat.getFileName()));
            return;
        }
        Map<String, Tensor> a = ModelFiles.loadWeights(set.component(component), arena);
        Map<String, Tensor> e = SafeTensors.open(flat, arena).tensors();
        TreeSet<String> onlyFolder = new TreeSet<>(a.keySet());
        onlyFolder.removeAll(e.keySet());
        TreeSet<String> onlyFlat = new TreeSet<>(e.keySet());
        onlyFlat.removeAll(a.keySet());
        if (!onlyFolder.isEmpty() || !onlyFlat.isEmpty()) {
            ctx.report(CheckResult.error(name, onlyFolder.size() + " keys only in the folder " + head(onlyFolder) + ", "
                    + onlyFlat.size() + " only in the file " + head(onlyFlat)));
            return;
        }
        CheckResult worst = null;
        for (String key : new TreeSet<>(a.keySet())) {
            CheckResult r = Compare.tensors(key, a.get(key), e.get(key), Tolerance.EXACT);
            if (worst == null || !r.passed() || r.maxAbsErr() > worst.maxAbsErr()) worst = r;
            if (!r.passed()) break;
        }
        if (worst == null) {
            ctx.report(CheckResult.error(name, "no tensors"));
        } else {
            ctx.report(new CheckResult(name, worst.maxAbsErr(), worst.maxRelErr(), 0, worst.passed(),
                    a.size() + " tensors" + (worst.passed() ? "" : "; " + worst.name() + " differs " + worst.detail())));
        }
    }

    static Tensor require(Map<String, Tensor> io, String key, Path file) {
        Tensor t = io.get(key);
        if (t == null) throw new IllegalArgumentException(file.getFileName() + " has no tensor '" + key + "'");
        return t;
    }

    static double[] doubles(Tensor t) {
        double[] out = new double[Math.toIntExact(t.numel())];
        for (int i = 0; i < out.length; i++) out[i] = t.getDouble(i);
        return out;
    }

    static String list(double[] v) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) {
            if (i > 0) s.append(',');
            s.append(v[i] == Math.rint(v[i]) ? Long.toString((long) v[i])
                    : java.math.BigDecimal.valueOf(v[i]).setScale(4, java.math.RoundingMode.HALF_EVEN).stripTrailingZeros().toPlainString());
        }
        return s.append(']').toString();
    }

    private static String head(TreeSet<String> keys) {
        return keys.isEmpty() ? "" : "(" + String.join(", ", keys.stream().limit(3).toList()) + (keys.size() > 3 ? ", …)" : ")");
    }
}
