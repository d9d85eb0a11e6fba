package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.cpu.CpuBackend;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Backends by name: {@code cpu}, {@code cuda}, or {@code auto} (CUDA when a GPU is usable, otherwise the CPU with one
 * log line). The CUDA backend is looked up by class name so that the CPU path never touches CUDA classes.
 */
public final class BackendFactory {
    static final String CUDA_CLASS = "dev.panamadiffusion.cuda.CudaBackend";

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
                if (why != null) throw new IllegalStateException("backend cuda is not available: " + why);
                return newCuda();
            }
            case "auto": {
                String why = cudaUnavailableReason();
                if (why == null) return newCuda();
                log.accept("pdiff: no usable CUDA GPU (" + why + "); using the CPU backend");
                return new CpuBackend();
            }
            default:
                throw new IllegalArgumentException("unknown backend '" + name + "' (use cpu, cuda or auto)");
        }
    }

    /** Null when the CUDA backend can run here, otherwise why not (no backend class, no driver, no device). */
    public static String cudaUnavailableReason() {
        Class<?> cls;
        try {
            cls = Class.forName(CUDA_CLASS);
        } catch (ClassNotFoundException | LinkageError e) {
            return "this build has no CUDA backend";
        }
        for (String probe : new String[] {"unavailableReason", "availabilityProblem"}) {
            Method m = staticMethod(cls, probe, String.class);
            if (m != null) return (String) invoke(m);
        }
        for (String probe : new String[] {"isAvailable", "available"}) {
            Method m = staticMethod(cls, probe, boolean.class);
            if (m != null) return (Boolean) invoke(m) ? null : "no CUDA driver or device found";
        }
        return null; // no probe: let construction report what is missing
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

    private static Method staticMethod(Class<?> cls, String name, Class<?> returnType) {
        try {
            Method m = cls.getMethod(name);
            return Modifier.isStatic(m.getModifiers()) && m.getReturnType() == returnType ? m : null;
        } catch (NoSuchMethodException e) {
            return null;
        }
    }

    private static Object invoke(Method m) {
        try {
            return m.invoke(null);
        } catch (InvocationTargetException e) {
            Throwable c = e.getCause();
            if (c instanceof RuntimeException r) throw r;
            if (c instanceof Error err) throw err;
            throw new IllegalStateException(c);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }
}
