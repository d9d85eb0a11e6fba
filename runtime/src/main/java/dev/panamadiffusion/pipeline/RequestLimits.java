package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.pipeline.InvalidRequestException.Problem;
import dev.panamadiffusion.schedulers.SamplerName;

import java.util.ArrayList;
import java.util.List;

/**
 * Every limit on a {@link GenerationRequest}, in one place: the CLI ({@link #DEFAULT}), the Java API (its
 * {@link dev.panamadiffusion.api.EngineOptions}) and both HTTP APIs ({@link #SERVER} unless the engine's options say
 * otherwise) check requests here and nowhere else, so that a field has one limit and one message.
 *
 * <ul>
 *   <li>steps 1 to {@code maxSteps}; batch size 1 to {@code maxBatch}; A1111's {@code n_iter} 1 to {@code maxIterations};
 *   <li>guidance scale a finite number from 0 to {@link #MAX_GUIDANCE};
 *   <li>width and height 0 (the model's own size) or positive multiples of the model's {@link SizeRule#multiple()} up to
 *       {@code maxSide}, and together at most {@code maxPixelFactor} times the model's own pixel count (16 × 512 × 512
 *       for SD 1.5, 16 × 64 × 64 for the demo model): the work of a step grows with the pixels, and attention with their
 *       square;
 *   <li>prompt and negative prompt at most {@code maxPromptChars} characters each (the text encoder reads 75 tokens);
 *   <li>clip skip 0 to the text encoder's layer count;
 *   <li>seeds are unsigned 64-bit numbers, 0 to {@link #MAX_SEED} (2^64 − 2; Java holds them in a {@code long}'s bits),
 *       and -1 (whose bits are 2^64 − 1) picks a random one. A1111's {@code n_iter} numbers its iterations
 *       {@code seed + i · batch_size} (and a batch's images {@code + j} with per-image seeds); a request whose last
 *       seed would pass {@link #MAX_SEED} is refused rather than wrapped round to 0. The torch generator reads a
 *       seed's low 32 bits, as {@code torch.manual_seed} does;
 *   <li>SDXL's own fields ({@link SdxlOptions}) only on a model with SDXL's {@code text_time} UNet; its second prompts
 *       as long as the prompt; its sizes' sides 1 to {@link #MAX_CONDITIONING_SIDE} and crop coordinates 0 to it (they
 *       are only numbers the UNet embeds, not pixels it computes); the negative sizes both or neither, and the negative
 *       crop only with them (diffusers reads the three only together);
 *   <li>the SDXL refiner's ({@code requires_aesthetics_score}, {@link Model#refiner()}) time ids hold an aesthetic
 *       score instead of the target size: its aesthetic scores are refused on every other model, and on the refiner
 *       the fields it does not read (the target sizes, and {@code prompt2}/{@code negativePrompt2}: its one text
 *       encoder reads the prompt, as diffusers' {@code encode_prompt} pairs them) are refused rather than ignored;
 *       its negative size and crop may come alone (diffusers defaults each); scores are finite, from
 *       −{@link #MAX_AESTHETIC_SCORE} to {@link #MAX_AESTHETIC_SCORE};
 *   <li>SDXL's {@code denoisingStart}/{@code denoisingEnd} strictly between 0 and 1, the start below the end.
 * </ul>
 */
public record RequestLimits(int maxSteps, int maxBatch, int maxIterations, int maxSide, int maxPixelFactor, int maxPromptChars) {
    /** The CLI's and a pipeline's: 1000 steps, 16 images, 64 iterations, sides to 8192, 16× the model's pixels, 10000 characters. */
    public static final RequestLimits DEFAULT = new RequestLimits(1000, 16, 64, 8192, 16, 10_000);
    /** A server's: 150 steps, 8 images, 16 iterations, sides to 2048, 16× the model's pixels, 10000 characters. */
    public static final RequestLimits SERVER = new RequestLimits(150, 8, 16, 2048, 16, 10_000);
    /** Largest guidance scale. */
    public static final double MAX_GUIDANCE = 100;
    /** Largest seed, 2^64 − 2 as an unsigned 64-bit number (2^64 − 1 is -1's bit pattern, which means "random"). */
    public static final long MAX_SEED = 0xFFFF_FFFF_FFFF_FFFEL;
    /** The seed that asks for a random one. */
    public static final long RANDOM_SEED = -1;
    /** Largest side of an SDXL size-conditioning size, and largest crop coordinate ({@link SdxlOptions}). */
    public static final int MAX_CONDITIONING_SIDE = 16384;
    /** Largest magnitude of an SDXL refiner aesthetic score (LAION's aesthetic scores run from about 1 to 10). */
    public static final double MAX_AESTHETIC_SCORE = 100;

    public RequestLimits {
        if (maxSteps < 1 || maxBatch < 1 || maxIterations < 1 || maxSide < 8 || maxPixelFactor < 1 || maxPromptChars < 1) {
            throw new IllegalArgumentException("request limits must be positive (sides at least 8)");
        }
    }

    /**
     * What a model allows, read from its configs: the sizes it can make, its own size (what a width or height of 0
     * means), its text encoder's layer count (the largest clip skip), whether it is SDXL (its UNet has the
     * {@code text_time} added conditioning that {@link SdxlOptions} feed) and whether it is an SDXL refiner
     * ({@code requires_aesthetics_score}: 5 time ids with an aesthetic score; image to image only).
     */
    public record Model(SizeRule sizes, int defaultWidth, int defaultHeight, int textLayers, boolean sdxl, boolean refiner) {
        public Model {
            if (sizes == null || defaultWidth < 1 || defaultHeight < 1 || textLayers < 0 || refiner && !sdxl) {
                throw new IllegalArgumentException("model limits " + sizes + ", " + defaultWidth + "x" + defaultHeight + ", " + textLayers);
            }
        }

        /** A model that is not an SDXL refiner. */
        public Model(SizeRule sizes, int defaultWidth, int defaultHeight, int textLayers, boolean sdxl) {
            this(sizes, defaultWidth, defaultHeight, textLayers, sdxl, false);
        }

        /** A model that is not SDXL. */
        public Model(SizeRule sizes, int defaultWidth, int defaultHeight, int textLayers) {
            this(sizes, defaultWidth, defaultHeight, textLayers, false);
        }
    }

    public RequestLimits withMaxSteps(int n) { return new RequestLimits(n, maxBatch, maxIterations, maxSide, maxPixelFactor, maxPromptChars); }

    public RequestLimits withMaxBatch(int n) { return new RequestLimits(maxSteps, n, maxIterations, maxSide, maxPixelFactor, maxPromptChars); }

    public RequestLimits withMaxSide(int n) { return new RequestLimits(maxSteps, maxBatch, maxIterations, n, maxPixelFactor, maxPromptChars); }

    /** Most pixels (width × height) one image may have on {@code model}. */
    public long maxPixels(Model model) {
        return Math.min((long) maxSide * maxSide, (long) maxPixelFactor * model.defaultWidth() * model.defaultHeight());
    }

    /** {@link #problems(GenerationRequest, int, Model)} for one iteration. */
    public List<Problem> problems(GenerationRequest r, Model model) {
        return problems(r, 1, model);
    }

    /**
     * One problem per bad field of {@code r} run {@code iterations} times (A1111's {@code n_iter}, seeds
     * {@code seed + i · batch size}) on {@code model}; empty when it can run.
     */
    public List<Problem> problems(GenerationRequest r, int iterations, Model model) {
        List<Problem> out = new ArrayList<>();
        if (r.prompt() == null) out.add(new Problem("prompt", "is required"));
        else promptLength(out, "prompt", r.prompt());
        promptLength(out, "negativePrompt", r.negativePrompt());
        if (r.steps() < 1 || r.steps() > maxSteps) out.add(new Problem("steps", "must be between 1 and " + maxSteps + ", got " + r.steps()));
        double g = r.guidanceScale();
        if (!(g >= 0 && g <= MAX_GUIDANCE)) {
            out.add(new Problem("guidanceScale", "must be a number between 0 and " + (int) MAX_GUIDANCE + ", got " + g));
        }
        if (r.sampler() != null) {
            try {
                SamplerName.parse(r.sampler());
            } catch (IllegalArgumentException e) {
                out.add(new Problem("sampler", e.getMessage()));
            }
        }
        boolean sidesOk = side(out, "width", r.width(), model) & side(out, "height", r.height(), model);
        if (sidesOk) {
            long w = r.width() == 0 ? model.defaultWidth() : r.width();
            long h = r.height() == 0 ? model.defaultHeight() : r.height();
            long max = maxPixels(model);
            if (w * h > max) {
                out.add(new Problem("size", w + "x" + h + " is " + w * h + " pixels; this model allows at most " + max + " ("
                        + (max == (long) maxSide * maxSide ? maxSide + "x" + maxSide : maxPixelFactor + " times its own "
                        + model.defaultWidth() + "x" + model.defaultHeight()) + ")"));
            }
        }
        if (r.batchSize() < 1 || r.batchSize() > maxBatch) {
            out.add(new Problem("batchSize", "must be between 1 and " + maxBatch + ", got " + r.batchSize()));
        }
        if (iterations < 1 || iterations > maxIterations) {
            out.add(new Problem("iterations", "must be between 1 and " + maxIterations + ", got " + iterations));
        } else if (r.seed() != RANDOM_SEED && r.batchSize() >= 1 && r.batchSize() <= maxBatch) {
            long span = (long) (iterations - 1) * r.batchSize() + (r.seedPerImage() ? r.batchSize() - 1 : 0);
            if (Long.compareUnsigned(r.seed(), MAX_SEED - span) > 0) {
                out.add(new Problem("seed", seedText(r.seed()) + " is too large for " + iterations + " iterations of "
                        + r.batchSize() + ": the last would be past " + seedText(MAX_SEED) + ", the largest seed"));
            }
        }
        if (r.clipSkip() < 0 || r.clipSkip() > model.textLayers()) {
            out.add(new Problem("clipSkip", "must be between 0 (the last layer) and " + model.textLayers()
                    + " (the text encoder has " + model.textLayers() + " layers), got " + r.clipSkip()));
        }
        sdxl(out, r.sdxl(), model);
        return out;
    }

    /** {@link SdxlOptions}: SDXL's only, the prompts' lengths, sizes and crops in range, negative sizes together. */
    private void sdxl(List<Problem> out, SdxlOptions o, Model model) {
        if (!model.sdxl()) {
            for (String field : fields(o)) {
                out.add(isAesthetic(field) ? notRefiner(field, "this model is not SDXL")
                        : new Problem(field, "is SDXL's, but this model is not SDXL (SD 1.x/2.x: one text encoder, no size"
                        + " conditioning)"));
            }
            return;
        }
        window(out, o);
        if (model.refiner()) {
            refiner(out, o);
            return;
        }
        if (o.aestheticScore() != null) out.add(notRefiner("aestheticScore", "this model is SDXL base"));
        if (o.negativeAestheticScore() != null) out.add(notRefiner("negativeAestheticScore", "this model is SDXL base"));
        promptLength(out, "prompt2", o.prompt2());
        promptLength(out, "negativePrompt2", o.negativePrompt2());
        conditioningSize(out, "originalSize", o.originalSize());
        crop(out, "cropsCoordsTopLeft", o.cropsCoordsTopLeft());
        conditioningSize(out, "targetSize", o.targetSize());
        conditioningSize(out, "negativeOriginalSize", o.negativeOriginalSize());
        crop(out, "negativeCropsCoordsTopLeft", o.negativeCropsCoordsTopLeft());
        conditioningSize(out, "negativeTargetSize", o.negativeTargetSize());
        if ((o.negativeOriginalSize() == null) != (o.negativeTargetSize() == null)) {
            String given = o.negativeOriginalSize() != null ? "negativeOriginalSize" : "negativeTargetSize";
            String missing = o.negativeOriginalSize() != null ? "target" : "original";
            out.add(new Problem(given, "needs the negative " + missing + " size too: diffusers uses the negative sizes"
                    + " only together (else the unconditional rows take the conditional time ids)"));
        } else if (o.negativeCropsCoordsTopLeft() != null && !o.hasNegativeTimeIds()) {
            out.add(new Problem("negativeCropsCoordsTopLeft", "needs the negative original and target sizes: diffusers"
                    + " uses the negative crop only with both"));
        }
    }

    /**
     * The SDXL refiner's fields ({@link SdxlOptions#aestheticTimeIdRows}): sizes, crops and scores in range; what it
     * does not read refused.
     */
    private static void refiner(List<Problem> out, SdxlOptions o) {
        String unused = "is not read by an SDXL refiner";
        if (o.prompt2() != null) out.add(new Problem("prompt2", unused + ": its one text encoder (text_encoder_2) reads the"
                + " prompt, as diffusers' encode_prompt gives it; put the text in the prompt"));
        if (o.negativePrompt2() != null) out.add(new Problem("negativePrompt2", unused + ": its one text encoder reads the"
                + " negative prompt; put the text there"));
        if (o.targetSize() != null) out.add(new Problem("targetSize", unused + ": its time ids hold the aesthetic score"
                + " where SDXL base's hold the target size"));
        if (o.negativeTargetSize() != null) out.add(new Problem("negativeTargetSize", unused + ": its time ids hold the"
                + " negative aesthetic score there"));
        conditioningSize(out, "originalSize", o.originalSize());
        crop(out, "cropsCoordsTopLeft", o.cropsCoordsTopLeft());
        conditioningSize(out, "negativeOriginalSize", o.negativeOriginalSize());
        crop(out, "negativeCropsCoordsTopLeft", o.negativeCropsCoordsTopLeft());
        score(out, "aestheticScore", o.aestheticScore());
        score(out, "negativeAestheticScore", o.negativeAestheticScore());
    }

    /**
     * {@code denoising_start}/{@code denoising_end}: each strictly between 0 and 1 (diffusers silently ignores other
     * values; refused here), the start before the end.
     */
    private static void window(List<Problem> out, SdxlOptions o) {
        boolean ok = fraction(out, "denoisingStart", o.denoisingStart()) & fraction(out, "denoisingEnd", o.denoisingEnd());
        if (ok && o.denoisingStart() != null && o.denoisingEnd() != null && o.denoisingStart() >= o.denoisingEnd()) {
            out.add(new Problem("denoisingStart", o.denoisingStart() + " must be below denoisingEnd " + o.denoisingEnd()));
        }
    }

    private static boolean fraction(List<Problem> out, String field, Double v) {
        if (v == null || v > 0 && v < 1) return true;
        out.add(new Problem(field, "must be a share of the schedule strictly between 0 and 1, got " + v));
        return false;
    }

    private static boolean isAesthetic(String field) {
        return field.equals("aestheticScore") || field.equals("negativeAestheticScore");
    }

    private static Problem notRefiner(String field, String what) {
        return new Problem(field, "is the SDXL refiner's (requires_aesthetics_score: an aesthetic score in its time ids),"
                + " but " + what);
    }

    private static void score(List<Problem> out, String field, Double v) {
        if (v != null && !(v >= -MAX_AESTHETIC_SCORE && v <= MAX_AESTHETIC_SCORE)) {
            out.add(new Problem(field, "must be a number from " + (int) -MAX_AESTHETIC_SCORE + " to " + (int) MAX_AESTHETIC_SCORE
                    + ", got " + v));
        }
    }

    /** The request field names of the {@link SdxlOptions} that are set. */
    static List<String> fields(SdxlOptions o) {
        List<String> out = new ArrayList<>();
        for (String d : o.given()) out.add(SdxlOptions.fieldName(d));
        return out;
    }

    private static void conditioningSize(List<Problem> out, String field, SdxlOptions.Size s) {
        if (s == null) return;
        if (s.width() < 1 || s.height() < 1 || s.width() > MAX_CONDITIONING_SIDE || s.height() > MAX_CONDITIONING_SIDE) {
            out.add(new Problem(field, "sides must be between 1 and " + MAX_CONDITIONING_SIDE + ", got " + s));
        }
    }

    private static void crop(List<Problem> out, String field, SdxlOptions.Crop c) {
        if (c == null) return;
        if (c.top() < 0 || c.left() < 0 || c.top() > MAX_CONDITIONING_SIDE || c.left() > MAX_CONDITIONING_SIDE) {
            out.add(new Problem(field, "coordinates must be between 0 and " + MAX_CONDITIONING_SIDE + ", got (top " + c.top()
                    + ", left " + c.left() + ")"));
        }
    }

    /** Throws {@link InvalidRequestException} listing every problem of {@code r} on {@code model}, if any. */
    public GenerationRequest check(GenerationRequest r, int iterations, Model model) {
        List<Problem> p = problems(r, iterations, model);
        if (!p.isEmpty()) throw new InvalidRequestException(p);
        return r;
    }

    public GenerationRequest check(GenerationRequest r, Model model) {
        return check(r, 1, model);
    }

    /** A seed as the unsigned number it stands for ("-1" for the random seed). */
    public static String seedText(long seed) {
        return seed == RANDOM_SEED ? "-1" : Long.toUnsignedString(seed);
    }

    /**
     * {@code text} as a seed: -1 (random) or an unsigned decimal from 0 to {@link #MAX_SEED}; otherwise an
     * {@link IllegalArgumentException} saying so.
     */
    public static long parseSeed(String text) {
        String t = text == null ? "" : text.strip();
        if (t.equals("-1")) return RANDOM_SEED;
        try {
            if (!t.startsWith("-") && !t.startsWith("+")) {
                long v = Long.parseUnsignedLong(t);
                if (v != RANDOM_SEED) return v;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException("seed must be -1 (random) or a whole number from 0 to " + seedText(MAX_SEED) + ", got '" + text + "'");
    }

    private boolean side(List<Problem> out, String field, int value, Model model) {
        if (value == 0) return true; // the model's own
        String problem;
        if (value < 0) problem = "must be positive, got " + value;
        else if (value > maxSide) problem = "must be at most " + maxSide + ", got " + value;
        else problem = model.sizes().check(value);
        if (problem != null) out.add(new Problem(field, problem));
        return problem == null;
    }

    private void promptLength(List<Problem> out, String field, String text) {
        if (text != null && text.length() > maxPromptChars) {
            out.add(new Problem(field, "is " + text.length() + " characters long; at most " + maxPromptChars + " are accepted"));
        }
    }
}
