package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.models.unet.UNet2DConditionConfig;
import dev.panamadiffusion.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The request fields only Stable Diffusion XL reads: the arguments of diffusers' (0.27.2)
 * {@code StableDiffusionXLPipeline.__call__} for its second text encoder and its size conditioning ("micro-conditioning",
 * section 2.2 of the SDXL paper). Every field is optional (null): {@link #NONE} is diffusers' defaults. The limits on
 * each are {@link RequestLimits}' (which also refuses them on a model without SDXL's {@code text_time} UNet).
 *
 * @param prompt2                    {@code prompt_2}: the text for {@code tokenizer_2}/{@code text_encoder_2} (whose
 *                                   pooled output is the pooled embedding); null or empty: the prompt
 * @param negativePrompt2            {@code negative_prompt_2}; null or empty: the negative prompt. Unused when the
 *                                   negative prompt is empty on a model with {@code force_zeros_for_empty_prompt}
 *                                   (the unconditional embeddings are then zeros, as diffusers)
 * @param originalSize               {@code original_size}; null: the image's size
 * @param cropsCoordsTopLeft         {@code crops_coords_top_left}; null: (0, 0)
 * @param targetSize                 {@code target_size}; null: the image's size
 * @param negativeOriginalSize       {@code negative_original_size}: with {@code negativeTargetSize}, the unconditional
 *                                   rows' time ids; null (either of the two): the unconditional rows take the
 *                                   conditional rows' time ids (image to image: each on its own, {@link #imageTimeIdRows})
 * @param negativeCropsCoordsTopLeft {@code negative_crops_coords_top_left}; null: (0, 0), diffusers' default (not the
 *                                   positive crop); only read with both negative sizes, and never by SDXL base's
 *                                   image-to-image and inpainting ({@link #imageTimeIdRows})
 * @param negativeTargetSize         {@code negative_target_size}
 * @param aestheticScore             the SDXL refiner's {@code aesthetic_score} ({@code StableDiffusionXLImg2ImgPipeline}
 *                                   with {@code requires_aesthetics_score}): the last of its 5 time ids, in place of
 *                                   the target size; null: {@link #DEFAULT_AESTHETIC_SCORE}
 * @param negativeAestheticScore     the refiner's {@code negative_aesthetic_score}, the unconditional rows' last time
 *                                   id; null: {@link #DEFAULT_NEGATIVE_AESTHETIC_SCORE}
 * @param denoisingStart             {@code denoising_start} of the image-to-image pipelines (the refiner's half of
 *                                   diffusers' "ensemble of expert denoisers"): the share of the schedule already
 *                                   done, in (0, 1); the loop starts where the timesteps fall below
 *                                   {@code round(T · (1 − start))} and the start latents get no noise (strength is
 *                                   not read); null: none
 * @param denoisingEnd               {@code denoising_end} (the base's half): the loop stops before the timesteps fall
 *                                   below {@code round(T · (1 − end))}, leaving the latents partly denoised for a
 *                                   refiner; null: none
 */
public record SdxlOptions(String prompt2, String negativePrompt2, Size originalSize, Crop cropsCoordsTopLeft,
                          Size targetSize, Size negativeOriginalSize, Crop negativeCropsCoordsTopLeft,
                          Size negativeTargetSize, Double aestheticScore, Double negativeAestheticScore,
                          Double denoisingStart, Double denoisingEnd) {
    /** diffusers' defaults: no second prompt, time ids (H, W, 0, 0, H, W) for every row. */
    public static final SdxlOptions NONE = new SdxlOptions(null, null, null, null, null, null, null, null);
    /** diffusers' {@code aesthetic_score} default. */
    public static final double DEFAULT_AESTHETIC_SCORE = 6.0;
    /** diffusers' {@code negative_aesthetic_score} default. */
    public static final double DEFAULT_NEGATIVE_AESTHETIC_SCORE = 2.5;

    /** SDXL base's fields alone (no aesthetic scores, no denoising window). */
    public SdxlOptions(String prompt2, String negativePrompt2, Size originalSize, Crop cropsCoordsTopLeft, Size targetSize,
                       Size negativeOriginalSize, Crop negativeCropsCoordsTopLeft, Size negativeTargetSize) {
        this(prompt2, negativePrompt2, originalSize, cropsCoordsTopLeft, targetSize, negativeOriginalSize,
                negativeCropsCoordsTopLeft, negativeTargetSize, null, null);
    }

    /** Without a denoising window. */
    public SdxlOptions(String prompt2, String negativePrompt2, Size originalSize, Crop cropsCoordsTopLeft, Size targetSize,
                       Size negativeOriginalSize, Crop negativeCropsCoordsTopLeft, Size negativeTargetSize,
                       Double aestheticScore, Double negativeAestheticScore) {
        this(prompt2, negativePrompt2, originalSize, cropsCoordsTopLeft, targetSize, negativeOriginalSize,
                negativeCropsCoordsTopLeft, negativeTargetSize, aestheticScore, negativeAestheticScore, null, null);
    }

    /**
     * A size in pixels. diffusers' tuples are (height, width), the time ids' order; here width comes first, as in
     * {@code --original-size WxH} and A1111's {@code Size: WxH}.
     */
    public record Size(int width, int height) {
        @Override
        public String toString() { return width + "x" + height; }
    }

    /**
     * A crop's top-left corner in pixels: {@code top} from the image's top edge, {@code left} from its left edge;
     * diffusers' {@code crops_coords_top_left} tuple is (top, left) in this order.
     */
    public record Crop(int top, int left) {
        @Override
        public String toString() { return top + "," + left; }
    }

    public SdxlOptions {
        if (prompt2 != null && prompt2.isEmpty()) prompt2 = null;                    // diffusers: prompt_2 or prompt
        if (negativePrompt2 != null && negativePrompt2.isEmpty()) negativePrompt2 = null;
    }

    public SdxlOptions withPrompt2(String v) {
        return new SdxlOptions(v, negativePrompt2, originalSize, cropsCoordsTopLeft, targetSize, negativeOriginalSize,
                negativeCropsCoordsTopLeft, negativeTargetSize, aestheticScore, negativeAestheticScore,
                denoisingStart, denoisingEnd);
    }

    public SdxlOptions withNegativePrompt2(String v) {
        return new SdxlOptions(prompt2, v, originalSize, cropsCoordsTopLeft, targetSize, negativeOriginalSize,
                negativeCropsCoordsTopLeft, negativeTargetSize, aestheticScore, negativeAestheticScore,
                denoisingStart, denoisingEnd);
    }

    /** The conditional rows' size conditioning (any of the three null: its default). */
    public SdxlOptions withSizes(Size original, Crop crop, Size target) {
        return new SdxlOptions(prompt2, negativePrompt2, original, crop, target, negativeOriginalSize,
                negativeCropsCoordsTopLeft, negativeTargetSize, aestheticScore, negativeAestheticScore,
                denoisingStart, denoisingEnd);
    }

    /** The unconditional rows' size conditioning (SDXL base: both sizes or neither; the refiner reads no target size). */
    public SdxlOptions withNegativeSizes(Size original, Crop crop, Size target) {
        return new SdxlOptions(prompt2, negativePrompt2, originalSize, cropsCoordsTopLeft, targetSize, original, crop, target,
                aestheticScore, negativeAestheticScore, denoisingStart, denoisingEnd);
    }

    /** The refiner's aesthetic scores (either null: its default). */
    public SdxlOptions withAestheticScores(Double score, Double negativeScore) {
        return new SdxlOptions(prompt2, negativePrompt2, originalSize, cropsCoordsTopLeft, targetSize, negativeOriginalSize,
                negativeCropsCoordsTopLeft, negativeTargetSize, score, negativeScore, denoisingStart, denoisingEnd);
    }

    /** {@code denoising_start} and {@code denoising_end} (either null: none). */
    public SdxlOptions withDenoising(Double start, Double end) {
        return new SdxlOptions(prompt2, negativePrompt2, originalSize, cropsCoordsTopLeft, targetSize, negativeOriginalSize,
                negativeCropsCoordsTopLeft, negativeTargetSize, aestheticScore, negativeAestheticScore, start, end);
    }

    /**
     * diffusers' {@code discrete_timestep_cutoff} for a {@code denoising_start} or {@code denoising_end} of
     * {@code fraction} on a schedule of {@code trainTimesteps}: {@code int(round(T − fraction · T))}, Python's round
     * (half to even).
     */
    public static int timestepCutoff(double fraction, int trainTimesteps) {
        return (int) Math.rint(trainTimesteps - fraction * trainTimesteps);
    }

    /** The text for the second text encoder: {@code prompt_2 or prompt}. */
    public String prompt2Or(String prompt) { return prompt2 != null ? prompt2 : prompt; }

    /** The negative text for the second text encoder: {@code negative_prompt_2 or negative_prompt}. */
    public String negativePrompt2Or(String negativePrompt) { return negativePrompt2 != null ? negativePrompt2 : negativePrompt; }

    /** Whether the unconditional rows have time ids of their own (diffusers: both negative sizes given). */
    public boolean hasNegativeTimeIds() { return negativeOriginalSize != null && negativeTargetSize != null; }

    /** The names of the fields that are set (diffusers' argument names), in declaration order; empty for {@link #NONE}. */
    public List<String> given() {
        List<String> out = new ArrayList<>();
        if (prompt2 != null) out.add("prompt_2");
        if (negativePrompt2 != null) out.add("negative_prompt_2");
        if (originalSize != null) out.add("original_size");
        if (cropsCoordsTopLeft != null) out.add("crops_coords_top_left");
        if (targetSize != null) out.add("target_size");
        if (negativeOriginalSize != null) out.add("negative_original_size");
        if (negativeCropsCoordsTopLeft != null) out.add("negative_crops_coords_top_left");
        if (negativeTargetSize != null) out.add("negative_target_size");
        if (aestheticScore != null) out.add("aesthetic_score");
        if (negativeAestheticScore != null) out.add("negative_aesthetic_score");
        if (denoisingStart != null) out.add("denoising_start");
        if (denoisingEnd != null) out.add("denoising_end");
        return out;
    }

    /**
     * Every option's diffusers argument name, in {@link #given}'s order: the one table the fronts derive their names
     * from (the HTTP APIs take these names as they are, the CLI as {@code --kebab-case} options, the request fields are
     * their {@link #fieldName}s).
     */
    public static final List<String> ARGUMENTS = List.of("prompt_2", "negative_prompt_2", "original_size",
            "crops_coords_top_left", "target_size", "negative_original_size", "negative_crops_coords_top_left",
            "negative_target_size", "aesthetic_score", "negative_aesthetic_score", "denoising_start", "denoising_end");

    /** Request field name ({@code prompt2}, …) → {@code spelling} of its diffusers argument name, for every {@link #ARGUMENTS} entry. */
    public static Map<String, String> names(java.util.function.UnaryOperator<String> spelling) {
        Map<String, String> names = new java.util.LinkedHashMap<>();
        for (String a : ARGUMENTS) names.put(fieldName(a), spelling.apply(a));
        return Map.copyOf(names);
    }

    /** The request field name ({@code prompt2}, {@code originalSize}, …) of a diffusers argument name {@link #given} lists. */
    public static String fieldName(String diffusersName) {
        StringBuilder b = new StringBuilder();
        boolean upper = false;
        for (char ch : diffusersName.toCharArray()) {
            if (ch == '_') upper = true;
            else {
                b.append(upper ? Character.toUpperCase(ch) : ch);
                upper = false;
            }
        }
        return b.toString();
    }

    /**
     * {@code add_time_ids} for a {@code width} × {@code height} image, as {@code _get_add_time_ids} lists them:
     * original (height, width), crop (top, left), target (height, width).
     */
    public float[] timeIds(int width, int height) {
        return row(originalSize, cropsCoordsTopLeft, targetSize, width, height);
    }

    /** {@code negative_add_time_ids}: the negative sizes' when both are given, else {@link #timeIds}. */
    public float[] negativeTimeIds(int width, int height) {
        if (!hasNegativeTimeIds()) return timeIds(width, height);
        return row(negativeOriginalSize, negativeCropsCoordsTopLeft, negativeTargetSize, width, height);
    }

    /**
     * The time ids of {@code batch} images of {@code width} × {@code height}, host f32 [(2)B, 6], as diffusers 0.27.2's
     * {@code StableDiffusionXLPipeline.__call__} lays them out: unguided, B rows of {@link #timeIds}; guided,
     * {@code cat([negative_add_time_ids, add_time_ids]).repeat(B, 1)}, so that with B > 1 and negative time ids of their
     * own the rows alternate negative, positive, … while the embeddings' rows are B unconditional then B conditional
     * ones (diffusers' layout, followed so that the same seed gives the same pictures). With {@code fromImage}, the
     * image-to-image and inpainting pipelines' rows instead ({@link #imageTimeIdRows}).
     */
    public Tensor timeIdRows(int width, int height, boolean guided, int batch, boolean fromImage) {
        if (fromImage) return imageTimeIdRows(width, height, guided, batch);
        float[] pos = timeIds(width, height);
        float[] neg = negativeTimeIds(width, height);
        int rows = guided ? 2 * batch : batch;
        int n = UNet2DConditionConfig.TIME_IDS;
        float[] out = new float[rows * n];
        for (int r = 0; r < rows; r++) System.arraycopy(guided && r % 2 == 0 ? neg : pos, 0, out, r * n, n);
        return Tensor.fromFloats(out, rows, n);                                          // [(2)B, 6]
    }

    /**
     * SDXL base's time ids in diffusers 0.27.2's {@code StableDiffusionXLImg2ImgPipeline} and
     * {@code StableDiffusionXLInpaintPipeline} ({@code requires_aesthetics_score} false), host f32 [(2)B, 6]: the
     * positive row as {@link #timeIds}; the negative row = negative original size (default the original size), the
     * <em>positive</em> crop (diffusers' {@code _get_add_time_ids} there reads {@code crops_coords_top_left}, never the
     * negative crop) and negative target size (default the target size), each negative size used on its own. Guided,
     * B negative rows then B positive ones ({@code cat([add_neg_time_ids.repeat(B), add_time_ids.repeat(B)])}).
     */
    public Tensor imageTimeIdRows(int width, int height, boolean guided, int batch) {
        Size o = originalSize != null ? originalSize : new Size(width, height);
        Size t = targetSize != null ? targetSize : new Size(width, height);
        float[] pos = timeIds(width, height);
        float[] neg = row(negativeOriginalSize != null ? negativeOriginalSize : o, cropsCoordsTopLeft,
                negativeTargetSize != null ? negativeTargetSize : t, width, height);
        int rows = guided ? 2 * batch : batch;
        int n = UNet2DConditionConfig.TIME_IDS;
        float[] out = new float[rows * n];
        for (int r = 0; r < rows; r++) System.arraycopy(guided && r < batch ? neg : pos, 0, out, r * n, n);
        return Tensor.fromFloats(out, rows, n);                                          // [(2)B, 6]
    }

    /**
     * The SDXL refiner's time ids ({@code requires_aesthetics_score}) for {@code batch} images of {@code width} ×
     * {@code height}, host f32 [(2)B, 5], as diffusers 0.27.2's {@code StableDiffusionXLImg2ImgPipeline} makes them:
     * {@code add_time_ids} = original (h, w) (default the image's), crop (top, left) (default (0, 0)), aesthetic score
     * (default 6); {@code add_neg_time_ids} = negative original size (default the original size), negative crop
     * (default (0, 0)), negative aesthetic score (default 2.5). Guided, the rows are B negative then B positive ones
     * ({@code cat([add_neg_time_ids.repeat(B), add_time_ids.repeat(B)])}, the embeddings' order); target sizes are
     * not read.
     */
    public Tensor aestheticTimeIdRows(int width, int height, boolean guided, int batch) {
        Size o = originalSize != null ? originalSize : new Size(width, height);
        Crop c = cropsCoordsTopLeft != null ? cropsCoordsTopLeft : new Crop(0, 0);
        Size no = negativeOriginalSize != null ? negativeOriginalSize : o;
        Crop nc = negativeCropsCoordsTopLeft != null ? negativeCropsCoordsTopLeft : new Crop(0, 0);
        float[] pos = {o.height(), o.width(), c.top(), c.left(),
                (float) (aestheticScore != null ? aestheticScore : DEFAULT_AESTHETIC_SCORE)};
        float[] neg = {no.height(), no.width(), nc.top(), nc.left(),
                (float) (negativeAestheticScore != null ? negativeAestheticScore : DEFAULT_NEGATIVE_AESTHETIC_SCORE)};
        int rows = guided ? 2 * batch : batch;
        int n = UNet2DConditionConfig.AESTHETIC_TIME_IDS;
        float[] out = new float[rows * n];
        for (int r = 0; r < rows; r++) System.arraycopy(guided && r < batch ? neg : pos, 0, out, r * n, n);
        return Tensor.fromFloats(out, rows, n);                                          // [(2)B, 5]
    }

    private static float[] row(Size original, Crop crop, Size target, int width, int height) {
        Size o = original != null ? original : new Size(width, height);
        Crop c = crop != null ? crop : new Crop(0, 0);
        Size t = target != null ? target : new Size(width, height);
        return new float[] {o.height(), o.width(), c.top(), c.left(), t.height(), t.width()};
    }
}
