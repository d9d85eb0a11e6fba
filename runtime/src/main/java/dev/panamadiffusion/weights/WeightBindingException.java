package dev.panamadiffusion.weights;

import java.util.List;

/** Weights that do not fit a model: the lists of missing, shape-mismatched and unexpected keys. */
public class WeightBindingException extends RuntimeException {
    private final List<String> missing;
    private final List<String> mismatched;
    private final List<String> unexpected;

    public WeightBindingException(String what, List<String> missing, List<String> mismatched, List<String> unexpected) {
        super(message(what, missing, mismatched, unexpected));
        this.missing = missing;
        this.mismatched = mismatched;
        this.unexpected = unexpected;
    }

    private static String message(String what, List<String> missing, List<String> mismatched, List<String> unexpected) {
        StringBuilder sb = new StringBuilder("weights for ").append(what).append(" do not match the model:");
        section(sb, "missing", missing);
        section(sb, "wrong shape", mismatched);
        section(sb, "unexpected", unexpected);
        return sb.toString();
    }

    private static void section(StringBuilder sb, String title, List<String> keys) {
        if (keys.isEmpty()) return;
        sb.append("\n  ").append(title).append(" (").append(keys.size()).append("):");
        int shown = 0;
        for (String k : keys) {
            if (shown++ == 50) {
                sb.append("\n    ... and ").append(keys.size() - 50).append(" more");
                break;
            }
            sb.append("\n    ").append(k);
        }
    }

    public List<String> missing() { return missing; }

    public List<String> mismatched() { return mismatched; }

    public List<String> unexpected() { return unexpected; }
}
