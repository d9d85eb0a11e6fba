package dev.panamadiffusion.pipeline;

import java.util.List;

/** A {@link GenerationRequest} with bad fields: one message per field, joined into one line by {@link #getMessage()}. */
public final class InvalidRequestException extends IllegalArgumentException {
    private final List<String> problems;

    public InvalidRequestException(List<String> problems) {
        super(String.join("; ", problems));
        if (problems.isEmpty()) throw new IllegalArgumentException("an invalid request needs at least one problem");
        this.problems = List.copyOf(problems);
    }

    /** One message per bad field, in field order. */
    public List<String> problems() { return problems; }
}
