package dev.panamadiffusion.cuda;

import dev.panamadiffusion.bindings.cuda.cuda_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A captured and instantiated CUDA graph: the work {@link #capture} saw queued on a stream (kernel launches,
 * cuBLASLt and cuDNN calls, async copies), replayed with one {@link #launch}. The captured work must not
 * synchronise or allocate with cuMemAlloc (the {@link DeviceArena} never does), and every buffer it touches must
 * stay allocated, at the same address, for as long as the graph is launched.
 */
public final class CudaGraph implements AutoCloseable {
    private final MemorySegment graph;
    private final MemorySegment exec;
    private final Runnable onClose;
    private boolean closed;

    private CudaGraph(MemorySegment graph, MemorySegment exec, Runnable onClose) {
        this.graph = graph;
        this.exec = exec;
        this.onClose = onClose;
    }

    /** Captures what {@code work} queues on {@code stream} (thread-local capture mode) and instantiates it. */
    public static CudaGraph capture(CudaStream stream, Runnable work) {
        return capture(stream, work, () -> {});
    }

    /** As {@link #capture(CudaStream, Runnable)}; {@code onClose} runs after the graph is destroyed. */
    static CudaGraph capture(CudaStream stream, Runnable work, Runnable onClose) {
        Check.cu(cuda_h.cuStreamBeginCapture_v2(stream.handle(), cuda_h.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL()),
                "cuStreamBeginCapture_v2");
        MemorySegment graph;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            RuntimeException failure = null;
            try {
                work.run();
            } catch (RuntimeException e) {
                failure = e;
            }
            int rc = cuda_h.cuStreamEndCapture(stream.handle(), p);
            graph = p.get(ValueLayout.ADDRESS, 0);
            if (failure != null) {
                if (rc == cuda_h.CUDA_SUCCESS() && !graph.equals(MemorySegment.NULL)) cuda_h.cuGraphDestroy(graph);
                throw failure;
            }
            Check.cu(rc, "cuStreamEndCapture");
            MemorySegment e = a.allocate(ValueLayout.ADDRESS);
            int irc = cuda_h.cuGraphInstantiateWithFlags(e, graph, 0L);
            if (irc != cuda_h.CUDA_SUCCESS()) {
                cuda_h.cuGraphDestroy(graph);
                Check.cu(irc, "cuGraphInstantiateWithFlags");
            }
            return new CudaGraph(graph, e.get(ValueLayout.ADDRESS, 0), onClose);
        }
    }

    /** Queues one replay of the graph on {@code stream}. */
    public void launch(CudaStream stream) {
        if (closed) throw new IllegalStateException("graph is closed");
        Check.cu(cuda_h.cuGraphLaunch(exec, stream.handle()), "cuGraphLaunch");
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        Check.cu(cuda_h.cuGraphExecDestroy(exec), "cuGraphExecDestroy");
        Check.cu(cuda_h.cuGraphDestroy(graph), "cuGraphDestroy");
        onClose.run();
    }
}
