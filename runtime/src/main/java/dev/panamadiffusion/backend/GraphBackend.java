package dev.panamadiffusion.backend;

import dev.panamadiffusion.tensor.Tensor;

/**
 * A backend that can record the ops some code queues and replay them later without running that code again (the
 * CUDA backend: CUDA graphs). A replay reads the tensors the recorded ops read, with whatever values they hold at
 * replay time, and writes into the very tensors the recording returned; so inputs are fed by {@link #copyInto}
 * into tensors made before the recording, and results are read from the tensors the recording produced.
 *
 * <p>Recorded code may call only ops on tensors of this backend: no {@link #upload}, {@link #download} or
 * {@link #embedding} (their host side would not be replayed). Tensors used by a recording stay valid while its
 * {@link Graph} is open; tensors made before it must stay referenced by the caller.
 */
public interface GraphBackend extends Backend {

    /** A recorded sequence of ops. */
    interface Graph extends AutoCloseable {
        /** Queues one replay of the recorded ops. */
        void replay();

        /** Frees the recording and the tensors it made. */
        @Override
        void close();
    }

    /** Records the ops {@code work} queues on this backend (they are recorded, not run) and returns them as a graph. */
    Graph captureGraph(Runnable work);

    /**
     * Overwrites the values of {@code dst}, a tensor of this backend, with those of {@code src} (same shape, any
     * layout), keeping {@code dst}'s storage: how inputs reach a recorded graph.
     */
    void copyInto(Tensor src, Tensor dst);
}
