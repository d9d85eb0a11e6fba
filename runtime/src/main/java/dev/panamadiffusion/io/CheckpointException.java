package dev.panamadiffusion.io;

import dev.panamadiffusion.config.ConfigException;

import java.nio.file.Path;

/**
 * A single-file checkpoint this runtime refuses: a pickle file, a truncated or incomplete file, an unknown key layout,
 * or a model family it does not run (SDXL). The message is one line naming the file and saying why and what to do;
 * as a {@link ConfigException}, the CLI reports it with exit code 2.
 */
public final class CheckpointException extends ConfigException {
    public CheckpointException(Path file, String problem) {
        super(file, null, problem);
    }

    public CheckpointException(Path file, String problem, Throwable cause) {
        super(file, null, problem);
        initCause(cause);
    }
}
