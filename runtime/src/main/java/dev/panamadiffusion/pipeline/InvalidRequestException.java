package dev.panamadiffusion.pipeline;

import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * A {@link GenerationRequest} with bad fields: one {@link Problem} per field, each naming the field by its request
 * component name ({@code steps}, {@code guidanceScale}, {@code batchSize}, …; see {@link RequestLimits}). Each front
 * words the problems with its own names for the fields ({@link #describe}): the CLI's options, the JSON fields of
 * each HTTP API; {@link #getMessage()} uses plain words ("guidance scale").
 */
public final class InvalidRequestException extends IllegalArgumentException {
    /** Plain-words names of the request fields, for {@link #getMessage()}. */
    public static final Map<String, String> PLAIN_NAMES = Map.ofEntries(Map.entry("negativePrompt", "negative prompt"),
            Map.entry("guidanceScale", "guidance scale"), Map.entry("batchSize", "batch size"),
            Map.entry("clipSkip", "clip skip"), Map.entry("iterations", "n_iter"), Map.entry("prompt2", "prompt_2"),
            Map.entry("negativePrompt2", "negative_prompt_2"), Map.entry("originalSize", "original_size"),
            Map.entry("cropsCoordsTopLeft", "crops_coords_top_left"), Map.entry("targetSize", "target_size"),
            Map.entry("negativeOriginalSize", "negative_original_size"),
            Map.entry("negativeCropsCoordsTopLeft", "negative_crops_coords_top_left"),
            Map.entry("negativeTargetSize", "negative_target_size"), Map.entry("aestheticScore", "aesthetic_score"),
            Map.entry("negativeAestheticScore", "negative_aesthetic_score"), Map.entry("initImage", "init image"),
            Map.entry("denoisingStart", "denoising_start"), Map.entry("denoisingEnd", "denoising_end"));

    /**
     * One bad field.
     *
     * @param field   the request component at fault ({@code width}, {@code batchSize}, …), or {@code size} for width
     *                and height together, {@code iterations} for A1111's {@code n_iter}
     * @param message what is wrong, to follow the field's name ("must be between 1 and 150, got 0")
     */
    public record Problem(String field, String message) {
        public Problem {
            if (field == null || message == null) throw new IllegalArgumentException("a problem needs a field and a message");
        }

        /** The field's name as {@code names} gives it (the name itself when absent), then the message. */
        public String describe(Function<String, String> names) {
            String name = names.apply(field);
            return (name == null ? field : name) + " " + message;
        }
    }

    private final List<Problem> problems;

    public InvalidRequestException(List<Problem> problems) {
        super(join(problems, f -> PLAIN_NAMES.getOrDefault(f, f)));
        this.problems = List.copyOf(problems);
    }

    /** A request with one bad field. */
    public static InvalidRequestException of(String field, String message) {
        return new InvalidRequestException(List.of(new Problem(field, message)));
    }

    /** One problem per bad field, in field order. */
    public List<Problem> problems() { return problems; }

    /** Every problem on one line ("; " between them), each field named by {@code names} (a field it lacks keeps its own name). */
    public String describe(Map<String, String> names) {
        return join(problems, f -> names.getOrDefault(f, PLAIN_NAMES.getOrDefault(f, f)));
    }

    private static String join(List<Problem> problems, Function<String, String> names) {
        if (problems == null || problems.isEmpty()) throw new IllegalArgumentException("an invalid request needs at least one problem");
        StringBuilder sb = new StringBuilder();
        for (Problem p : problems) {
            if (!sb.isEmpty()) sb.append("; ");
            sb.append(p.describe(names));
        }
        return sb.toString();
    }
}
