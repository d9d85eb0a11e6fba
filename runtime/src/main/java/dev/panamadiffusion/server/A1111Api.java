package dev.panamadiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import dev.panamadiffusion.api.DiffusionEngine;
import dev.panamadiffusion.api.Generation;
import dev.panamadiffusion.api.Progress;
import dev.panamadiffusion.engine.Engine;
import dev.panamadiffusion.image.ImageFiles;
import dev.panamadiffusion.image.MaskImages;
import dev.panamadiffusion.image.Rgb8Image;
import dev.panamadiffusion.pipeline.GenerationRequest;
import dev.panamadiffusion.pipeline.InitImage;
import dev.panamadiffusion.pipeline.MaskOptions;
import dev.panamadiffusion.pipeline.GenerationResult;
import dev.panamadiffusion.pipeline.InvalidRequestException;
import dev.panamadiffusion.pipeline.RequestLimits;
import dev.panamadiffusion.pipeline.RngKind;
import dev.panamadiffusion.schedulers.Schedulers;

import java.io.IOException;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;

/** AUTOMATIC1111-compatible endpoints, so that existing clients work unchanged. */
final class A1111Api {
    private final DiffusionEngine engine;
    private final Duration timeout;

    A1111Api(DiffusionEngine engine, Duration timeout) {
        this.engine = engine;
        this.timeout = timeout;
    }

    /** A decoded txt2img: the first iteration's request (seed -1 when random) and A1111's {@code n_iter}. */
    record Txt2Img(GenerationRequest first, int iterations, String sampler, int clipSkip) {}

    /** Request field names → this API's JSON names (for the 400s). */
    static final Map<String, String> NAMES = SdxlFields.withNames(Map.ofEntries(Map.entry("negativePrompt", "negative_prompt"),
            Map.entry("guidanceScale", "cfg_scale"), Map.entry("sampler", "sampler_name"), Map.entry("batchSize", "batch_size"),
            Map.entry("clipSkip", "clip_skip"), Map.entry("iterations", "n_iter"), Map.entry("size", "width"),
            Map.entry("strength", "denoising_strength"), Map.entry("initImage", "init_images"), Map.entry("mask", "mask")));

    /**
     * The JSON body of a txt2img as a request, with A1111's defaults (20 steps, CFG 7, Euler, the model's own size,
     * a random seed, clip skip 1 = the last layer). Types and A1111's own encodings are checked here ({@link HttpError},
     * {@link InvalidRequestException}); the limits are {@link dev.panamadiffusion.pipeline.RequestLimits}' (checked
     * by the engine). Needs the model's text encoder depth to map A1111's clip skip (1 = the last layer).
     */
    static Txt2Img decode(JsonNode json, RequestLimits.Model model) {
        JsonFields f = new JsonFields(json);
        String prompt = f.string("prompt", "", false);
        String negative = f.string("negative_prompt", "", false);
        int steps = f.integer("steps", 20);
        double cfg = f.number("cfg_scale", 7.0);
        String sampler = f.string("sampler_name", f.string("sampler_index", "Euler", false), false);
        long seed = f.seed("seed");
        int width = side(f, "width");
        int height = side(f, "height");
        int batch = f.integer("batch_size", 1);
        int iterations = f.integer("n_iter", 1);
        int clipSkip = clipSkip(f, model);
        JsonNode hr = f.node("enable_hr");
        if (hr != null && hr.asBoolean(false)) throw HttpError.badField("enable_hr", "enable_hr is not supported (txt2img only)");
        GenerationRequest first = new GenerationRequest(prompt, negative, steps, cfg, sampler, seed, width, height, batch,
                clipSkip - 1, RngKind.TORCH, SdxlFields.read(f), true); // A1111: image j of a batch from seed + j
        return new Txt2Img(first, iterations, sampler, clipSkip);
    }

    /** A width or height: absent is 0 (the model's own size); given, it must be positive. */
    private static int side(JsonFields f, String field) {
        int v = f.integer(field, 0);
        if (f.has(field) && v <= 0) throw InvalidRequestException.of(field, "must be positive, got " + v);
        return v;
    }

    /**
     * POST /sdapi/v1/txt2img. {@code n_iter} batches run as separate requests with seeds {@code seed + i·batch_size},
     * image j of each from its own seed {@code + j} (A1111's {@code all_seeds}: each image is made again alone from
     * its seed), batched together by the engine. Fields A1111 accepts that do not change a plain
     * txt2img here are ignored; {@code enable_hr} is refused.
     */
    void txt2img(HttpExchange ex, JsonNode json) throws IOException, InterruptedException {
        run(ex, json, null);
    }

    /**
     * POST /sdapi/v1/img2img: txt2img's fields plus {@code init_images} (one base64 picture, a {@code data:} URL prefix
     * allowed) and {@code denoising_strength} (default 0.75), run as image to image
     * ({@link dev.panamadiffusion.pipeline.InitImage}). Without {@code width}/{@code height} the output has the image's
     * size; given, they must equal it (the runtime does not resize, where A1111 would). With {@code mask} (base64, the
     * image's size, white = repaint; {@code inpainting_mask_invert: 1} repaints the black part instead) it inpaints as
     * {@code pdiff generate --mask} does, with {@code mask_blur}, {@code inpaint_full_res},
     * {@code inpaint_full_res_padding} and {@code inpainting_fill} as {@link A1111Inpaint} reads them
     * ({@code --mask-blur}, {@code --mask-crop-padding}).
     */
    void img2img(HttpExchange ex, JsonNode json) throws IOException, InterruptedException {
        JsonFields f = new JsonFields(json);
        JsonNode images = f.node("init_images");
        if (images == null || !images.isArray() || images.isEmpty()) {
            throw HttpError.badField("init_images", "init_images must be a list with one base64 image");
        }
        if (images.size() > 1) throw HttpError.badField("init_images", "init_images holds " + images.size() + " images; one is supported");
        if (!images.get(0).isTextual()) throw HttpError.badField("init_images", "init_images[0] must be a base64 string");
        Rgb8Image image = base64Image(images.get(0).asText(), "init_images", "init_images[0]");
        Rgb8Image mask = null;
        if (f.has("mask")) {
            mask = base64Image(f.string("mask", null, true), "mask", "mask");
            int invert = f.integer("inpainting_mask_invert", 0);
            if (invert != 0 && invert != 1) throw HttpError.badField("inpainting_mask_invert", "inpainting_mask_invert must be 0 or 1, got " + invert);
            if (invert == 1) mask = MaskImages.inverted(mask);
        } else if (f.has("inpainting_mask_invert")) {
            f.integer("inpainting_mask_invert", 0); // typed like the others; without a mask it changes nothing
        }
        MaskOptions options = mask == null ? MaskOptions.NONE : A1111Inpaint.maskOptions(f); // A1111 ignores them without a mask
        double strength = f.number("denoising_strength", 0.75);
        run(ex, json, new InitImage(image, strength, mask, options));
    }

    /** A base64 picture (a {@code data:} URL prefix allowed); anything else is a 400 naming {@code field}. */
    private static Rgb8Image base64Image(String data, String field, String what) {
        if (data.startsWith("data:") && data.contains(",")) data = data.substring(data.indexOf(',') + 1);
        try {
            return ImageFiles.readRgb(java.util.Base64.getDecoder().decode(data.replaceAll("\\s", "")));
        } catch (IllegalArgumentException | IOException e) {
            throw HttpError.badField(field, what + " " + (e instanceof IOException ? e.getMessage()
                    : "is not base64: " + e.getMessage()));
        }
    }

    /** txt2img, or img2img from {@code init}: decode, check, run every n_iter iteration, answer A1111's JSON. */
    private void run(HttpExchange ex, JsonNode json, InitImage init) throws IOException, InterruptedException {
        long deadline = Fields.deadline(timeout);
        Txt2Img t;
        GenerationRequest first;
        try {
            t = decode(json, engine.modelLimits());
            first = t.first().seed() == RequestLimits.RANDOM_SEED
                    ? t.first().withSeed(ThreadLocalRandom.current().nextLong(1L << 32)) : t.first();
            first = Engine.withImageSize(first, init);
            engine.check(first, t.iterations()); // the image's problems: the first iteration's submit, before any other
        } catch (InvalidRequestException e) {
            throw Fields.badRequest(e, NAMES);
        }
        String prompt = first.prompt();
        String negative = first.negativePrompt();
        long seed = first.seed();
        int iterations = t.iterations();
        String sampler = t.sampler();
        int clipSkip = t.clipSkip();
        int steps = first.steps();
        double cfg = first.guidanceScale();
        int batch = first.batchSize();
        List<Generation> generations = new ArrayList<>();
        try {
            for (int i = 0; i < iterations; i++) generations.add(Fields.submit(engine, first.iteration(i), init, NAMES));
        } catch (RuntimeException e) {
            for (Generation g : generations) g.cancel();
            throw e;
        }
        List<String> images = new ArrayList<>();
        List<Object> seeds = new ArrayList<>();
        List<String> infotexts = new ArrayList<>();
        List<GenerationResult> results = results(ex, generations, deadline, timeout);
        if (results == null) {
            interrupted(ex, prompt);
            return;
        }
        for (GenerationResult result : results) {
            for (int k = 0; k < result.size(); k++) {
                images.add(Fields.base64Png(result, k));
                seeds.add(Fields.seedJson(result.seeds().get(k)));
                infotexts.add(result.infotexts().get(k));
            }
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("prompt", prompt);
        info.put("all_prompts", repeat(prompt, images.size()));
        info.put("negative_prompt", negative);
        info.put("all_negative_prompts", repeat(negative, images.size()));
        info.put("seed", Fields.seedJson(seed));
        info.put("all_seeds", seeds);
        info.put("subseed", -1);
        info.put("all_subseeds", repeat(-1, images.size()));
        info.put("subseed_strength", 0);
        info.put("width", generations.get(0).request().width());
        info.put("height", generations.get(0).request().height());
        info.put("sampler_name", sampler);
        info.put("cfg_scale", cfg);
        info.put("steps", steps);
        info.put("batch_size", batch);
        info.put("clip_skip", clipSkip);
        if (init != null) info.put("denoising_strength", init.strength());
        info.put("sd_model_name", engine.modelName());
        info.put("job_timestamp", LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMddHHmmss")));
        info.put("infotexts", infotexts);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("images", images);
        body.put("parameters", Exchanges.JSON.convertValue(json, Map.class));
        body.put("info", Exchanges.JSON.writeValueAsString(info));
        Exchanges.sendJson(ex, 200, body);
    }

    /**
     * A1111's clip skip (1 = the last layer, 2 = the one before, …) from {@code clip_skip} or
     * {@code override_settings.CLIP_stop_at_last_layers} (which wins): 1 to the text encoder's layer count + 1.
     */
    private static int clipSkip(JsonFields f, RequestLimits.Model model) {
        int direct = clipSkipValue(f, "clip_skip", "clip_skip", 1, model);
        JsonNode settings = f.node("override_settings");
        if (settings == null) return direct;
        if (!settings.isObject()) throw HttpError.badField("override_settings", "override_settings must be an object");
        return clipSkipValue(new JsonFields(settings), "CLIP_stop_at_last_layers", "override_settings.CLIP_stop_at_last_layers",
                direct, model);
    }

    private static int clipSkipValue(JsonFields f, String key, String name, int dflt, RequestLimits.Model model) {
        int v = f.integer(key, dflt);
        long max = model.textLayers() + 1L;
        if (v < 1 || v > max) {
            throw HttpError.badField(name, name + " must be between 1 (the last layer) and " + max + " (the text encoder has "
                    + model.textLayers() + " layers), got " + v);
        }
        return v;
    }

    /**
     * Each iteration's result, in order; null when one was interrupted. An iteration that is interrupted or fails
     * cancels the others (the failure is answered as {@link Fields#failed} says).
     */
    static List<GenerationResult> results(HttpExchange ex, List<Generation> generations, long deadline, Duration timeout)
            throws InterruptedException {
        List<GenerationResult> results = new ArrayList<>(generations.size());
        try {
            for (Generation g : generations) results.add(Fields.await(ex, g, deadline, generations, timeout));
            return results;
        } catch (CancellationException | ExecutionException e) {
            for (Generation g : generations) g.cancel();
            if (e instanceof ExecutionException) throw Fields.failed(e.getCause()); // (a cancelled get() throws CancellationException)
            return null;
        }
    }

    private void interrupted(HttpExchange ex, String prompt) throws IOException {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("images", List.of());
        body.put("parameters", Map.of("prompt", prompt));
        body.put("info", "{\"interrupted\": true}");
        Exchanges.sendJson(ex, 200, body);
    }

    private static <T> List<T> repeat(T v, int n) {
        List<T> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(v);
        return out;
    }

    /** GET /sdapi/v1/progress: the oldest running request's progress, as A1111 reports its current job. */
    void progress(HttpExchange ex) throws IOException {
        Exchanges.requireMethod(ex, "GET");
        List<? extends Generation> running = engine.running();
        Progress p = running.isEmpty() ? null : running.get(0).progress();
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("skipped", false);
        state.put("interrupted", false);
        state.put("job", p == null ? "" : "job(" + running.get(0).id() + ")");
        state.put("job_count", running.size() + engine.queued());
        state.put("job_no", 0);
        state.put("sampling_step", p == null ? 0 : p.stepsDone());
        state.put("sampling_steps", p == null ? 0 : p.totalSteps());
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("progress", p == null ? 0.0 : p.fraction());
        body.put("eta_relative", p == null ? 0.0 : p.etaSeconds());
        body.put("state", state);
        body.put("current_image", null);
        body.put("textinfo", null);
        Exchanges.sendJson(ex, 200, body);
    }

    /** POST /sdapi/v1/interrupt: cancels every request being denoised now (queued ones keep their place). */
    void interrupt(HttpExchange ex) throws IOException {
        Exchanges.requireMethod(ex, "POST");
        for (Generation g : engine.running()) g.cancel();
        Exchanges.sendJson(ex, 200, Map.of());
    }

    /** GET /sdapi/v1/samplers: the sampler names txt2img accepts. */
    void samplers(HttpExchange ex) throws IOException {
        Exchanges.requireMethod(ex, "GET");
        List<Map<String, Object>> out = new ArrayList<>();
        for (String name : Schedulers.names()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", name);
            m.put("aliases", List.of());
            m.put("options", Map.of());
            out.add(m);
        }
        Exchanges.sendJson(ex, 200, out);
    }

    /** GET /sdapi/v1/sd-models: the one model this server has loaded. */
    void models(HttpExchange ex) throws IOException {
        Exchanges.requireMethod(ex, "GET");
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("title", engine.modelName());
        m.put("model_name", engine.modelName());
        m.put("hash", null);
        m.put("sha256", null);
        m.put("filename", engine.options().modelDir().toAbsolutePath().toString());
        m.put("config", null);
        Exchanges.sendJson(ex, 200, List.of(m));
    }

    /** GET /sdapi/v1/options: the settings clients read before a txt2img (read-only here). */
    void options(HttpExchange ex) throws IOException {
        Exchanges.requireMethod(ex, "GET");
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("sd_model_checkpoint", engine.modelName());
        m.put("CLIP_stop_at_last_layers", 1);
        Exchanges.sendJson(ex, 200, m);
    }
}
