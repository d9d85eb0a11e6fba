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
    public static final Map<String, String> PLAIN_NAMES = plainNames();

    private static Map<String, String> plainNames() {
        Map<String, String> names = new java.util.HashMap<>(SdxlOptions.names(a -> a)); // diffusers' own words
        names.putAll(Map.of("negativePrompt", "negative prompt", "guidanceScale", "guidance scale", "batchSize", "batch size",
                "clipSkip", "clip skip", "iterations", "n_iter", "initImage", "init image"));
        return Map.copyOf(names);
    }

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
