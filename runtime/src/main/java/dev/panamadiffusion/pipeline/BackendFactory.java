package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;

import java.lang.reflect.InvocationTargetException;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Backends by name: {@code cpu}, {@code cuda}, or {@code auto} (CUDA when a GPU is usable, otherwise the CPU with one
 * log line). The CUDA backend is looked up by class name so that the CPU path never touches CUDA classes.
 */
public final class BackendFactory {
    static final String CUDA_CLASS = "dev.panamadiffusion.cuda.CudaBackend";
    static final String PROBE_CLASS = "dev.panamadiffusion.cuda.CudaProbe";

    private BackendFactory() {}

    /** {@link #create(String, Consumer)} logging to standard error. */
    public static Backend create(String name) {
        return create(name, System.err::println);
    }

    /** The backend called {@code name}; {@code log} receives the one line saying that {@code auto} fell back to the CPU. */
    public static Backend create(String name, Consumer<String> log) {
        String n = name == null ? "auto" : name.toLowerCase(Locale.ROOT);
        switch (n) {
            case "cpu":
                return new CpuBackend();
            case "cuda": {
                String why = cudaUnavailableReason();
                if (why != null) throw new IllegalStateException("backend cuda: " + why);
                return newCuda();
            }
            case "auto": {
                String why = cudaUnavailableReason();
                if (why == null) return newCuda();
                log.accept("pdiff: using the CPU backend (" + why + ")");
                return new CpuBackend();
            }
            default:
                throw new IllegalArgumentException("unknown backend '" + name + "' (use cpu, cuda or auto)");
        }
    }

    /**
     * Null when the CUDA backend can run here, otherwise its one-line reason (no CUDA classes in this build, no driver,
     * no device of compute capability 8.0+, missing libraries), from {@code dev.panamadiffusion.cuda.CudaProbe}.
     */
    public static String cudaUnavailableReason() {
        Object status;
        try {
            status = Class.forName(PROBE_CLASS).getMethod("probe").invoke(null);
        } catch (ClassNotFoundException | NoSuchMethodException | LinkageError e) {
            return "this build has no CUDA backend";
        } catch (InvocationTargetException e) {
            return "the CUDA probe failed: " + e.getCause();
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
        try {
            boolean available = (Boolean) status.getClass().getMethod("available").invoke(status);
            return available ? null : String.valueOf(status.getClass().getMethod("message").invoke(status));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("unexpected CUDA probe result " + status, e);
        }
    }

    private static Backend newCuda() {
        try {
            return (Backend) Class.forName(CUDA_CLASS).getConstructor().newInstance();
        } catch (InvocationTargetException e) {
            Throwable c = e.getCause();
            throw new IllegalStateException("backend cuda failed to start: " + (c.getMessage() != null ? c.getMessage() : c), c);
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new IllegalStateException("backend cuda failed to start: " + e, e);
        }
    }
}
