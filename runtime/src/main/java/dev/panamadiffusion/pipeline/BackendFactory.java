package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.Backend;
import dev.panamadiffusion.backend.OutOfDeviceMemoryException;
import dev.panamadiffusion.backend.WeightPrecision;
import dev.panamadiffusion.backend.cpu.CpuBackend;
import dev.panamadiffusion.cuda.CudaBackend;
import dev.panamadiffusion.cuda.CudaDriver;
import dev.panamadiffusion.cuda.CudaProbe;
import dev.panamadiffusion.cuda.CudaStatus;

import java.util.Locale;
import java.util.function.Consumer;

/**
 * Backends by name: {@code cpu}, {@code cuda}, {@code cuda-emu} (the CUDA backend on this project's CUDA emulator:
 * the same Java code and kernels, executed on the CPU; slow, for checking the GPU path without a GPU), or
 * {@code auto} (CUDA when a GPU is usable, otherwise the CPU with one short log line; never the emulator). The CPU path
 * never loads a CUDA library: the probe looks for the driver first. A {@link WeightPrecision} other than f32 is the CPU
 * backend's alone (the CUDA backend keeps its weights in f16): asking it of CUDA, or of {@code auto} where CUDA is
 * usable, is refused.
 */
public final class BackendFactory {
    private BackendFactory() {}

    /** {@link #create(String, Consumer)} logging to standard error. */
    public static Backend create(String name) {
        return create(name, System.err::println);
    }

    /** The backend called {@code name}; {@code log} receives the one line saying that {@code auto} fell back to the CPU. */
    public static Backend create(String name, Consumer<String> log) {
        return create(name, null, log);
    }

    /**
     * The backend called {@code name}, the CPU backend's weights stored in {@code weights} (null: its default,
     * {@code -Dpd.cpu.weights} or f32). {@code weights} other than f32 with a CUDA backend is an
     * IllegalArgumentException saying so, thrown before any device memory is taken.
     */
    public static Backend create(String name, WeightPrecision weights, Consumer<String> log) {
        return create(name, weights, log, Cuda.PROCESS);
    }

    /**
     * What the factory asks of CUDA: this process's probes and the CUDA backend's constructor, or (tests) stand-ins
     * for a machine that has a GPU, or none, or an emulator that fails to load.
     */
    interface Cuda {
        /** The probe of the driver this JVM binds ({@link CudaProbe#probe()}). */
        CudaStatus probe();

        /** The probe of the CUDA emulator ({@link CudaProbe#probe(CudaDriver)}). */
        CudaStatus probeEmulator();

        /** The driver this JVM is bound to, or null ({@link CudaProbe#boundDriver()}). */
        CudaDriver boundDriver();

        /** A new CUDA backend on the bound driver. */
        Backend newBackend();

        Cuda PROCESS = new Cuda() {
            @Override public CudaStatus probe() { return CudaProbe.probe(); }
            @Override public CudaStatus probeEmulator() { return CudaProbe.probe(CudaDriver.EMULATOR); }
            @Override public CudaDriver boundDriver() { return CudaProbe.boundDriver(); }
            @Override public Backend newBackend() { return new CudaBackend(); }
        };
    }

    static Backend create(String name, WeightPrecision weights, Consumer<String> log, Cuda cuda) {
        String n = name == null ? "auto" : name.toLowerCase(Locale.ROOT);
        switch (n) {
            case "cpu":
                return cpu(weights);
            case "cuda": {
                refuseReducedWeights("cuda", weights);
                String why = cudaUnavailableReason(cuda);
                if (why != null) throw new IllegalStateException("backend cuda: " + why);
                return newCuda(cuda);
            }
            case "cuda-emu": {
                refuseReducedWeights("cuda-emu", weights);
                CudaStatus status = cuda.probeEmulator();
                if (!status.available()) throw new IllegalStateException("backend cuda-emu: " + status.message());
                return newCuda(cuda);
            }
            case "auto": {
                CudaStatus status = cuda.probe();
                String why = cudaUnavailableReason(cuda);
                if (why == null) {
                    refuseReducedWeights("auto (CUDA is usable here)", weights);
                    return newCuda(cuda);
                }
                log.accept(autoNote(status, why));
                return cpu(weights);
            }
            default:
                throw new IllegalArgumentException("unknown backend '" + name + "' (use cpu, cuda, cuda-emu or auto)");
        }
    }

    /**
     * The one short line {@code auto} logs when it falls back to the CPU: on a machine with no NVIDIA driver or device
     * (the usual CPU machine) just that; where a GPU was found but cannot be used, why (which is worth fixing).
     */
    static String autoNote(CudaStatus status, String why) {
        if (status.available()) return "note: CUDA is unavailable (" + why.replaceFirst("^CUDA unavailable: ", "") + "); using the CPU backend";
        if (status.deviceName().isEmpty() && status.driverVersion() == 0) return "note: no CUDA GPU found; using the CPU backend";
        return "note: the CUDA GPU " + status.deviceName() + " is unusable (" + why.replaceFirst("^CUDA unavailable: ", "")
                + "); using the CPU backend";
    }

    /**
     * Null when the CUDA backend can run here on NVIDIA's driver, otherwise its one-line reason (no driver, no device
     * of compute capability 8.0+, missing libraries, or a JVM bound to the emulator), from {@link CudaProbe}, which
     * never throws and never loads a CUDA library that is not there.
     */
    public static String cudaUnavailableReason() {
        return cudaUnavailableReason(Cuda.PROCESS);
    }

    static String cudaUnavailableReason(Cuda cuda) {
        CudaStatus status = cuda.probe();
        if (!status.available()) return status.message();
        if (cuda.boundDriver() == CudaDriver.EMULATOR) {
            return "CUDA unavailable: this JVM is bound to the CUDA emulator (-D" + CudaDriver.PROPERTY
                    + "), which only backend cuda-emu uses";
        }
        return null;
    }

    private static Backend cpu(WeightPrecision weights) {
        return weights == null ? new CpuBackend() : new CpuBackend(Runtime.getRuntime().availableProcessors(), weights);
    }

    /** Weights other than f32 are the CPU backend's: refused for {@code backend}, a CUDA one. */
    static void refuseReducedWeights(String backend, WeightPrecision weights) {
        if (weights == null || weights == WeightPrecision.F32) return;
        throw new IllegalArgumentException("--weights " + weights.label() + " is for the cpu backend: backend " + backend
                + " keeps its weights in f16; use --backend cpu, or leave --weights out");
    }

    private static Backend newCuda(Cuda cuda) {
        try {
            return cuda.newBackend();
        } catch (OutOfDeviceMemoryException e) { // the arena does not fit: the same kind as weights that do not
            throw new OutOfDeviceMemoryException("backend cuda failed to start", e);
        } catch (RuntimeException | LinkageError e) {
            throw new IllegalStateException("backend cuda failed to start: " + (e.getMessage() != null ? e.getMessage() : e), e);
        }
    }
}
