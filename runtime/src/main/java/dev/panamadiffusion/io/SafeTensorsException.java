package dev.panamadiffusion.io;

import dev.panamadiffusion.config.ConfigException;

import java.nio.file.Path;

/**
 * A safetensors file that cannot be trusted: the message names the file, the tensor (if any) and what is wrong, in one
 * line (control characters in a tensor name are escaped).
 */
public class SafeTensorsException extends RuntimeException {
    private final Path file;
    private final String tensor;

    public SafeTensorsException(Path file, String tensor, String problem) {
        super(ConfigException.oneLine(file + (tensor == null ? "" : ": tensor '" + tensor + "'") + ": " + problem));
        this.file = file;
        this.tensor = tensor;
    }

    public SafeTensorsException(Path file, String tensor, String problem, Throwable cause) {
        this(file, tensor, problem);
        initCause(cause);
    }

    public Path file() { return file; }

    /** The tensor the problem is about, or null for a problem with the file as a whole. */
    public String tensor() { return tensor; }
}
