package dev.panamadiffusion.pipeline;

import dev.panamadiffusion.backend.GraphBackend;
import dev.panamadiffusion.models.unet.UNet2DConditionModel;
import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * UNet steps as graph replays ({@link GraphBackend}, i.e. CUDA graphs): the first step of a {@link UNetShape} runs the
 * forward pass once eagerly (its result is that step's answer, and it lets the backend make its plans and load its
 * kernels outside a capture), then records {@link UNet2DConditionModel#forwardProjected} over input tensors it owns.
 * Every later step of that shape copies the latents, the time projection and the context into those inputs, queues
 * one replay and downloads the prediction: no forward-pass code runs on the host, the backend allocates nothing for
 * the graph, and the download is the only wait for the device.
 *
 * <p>Up to {@code maxGraphs} shapes are kept, least recently used first out: each graph keeps the intermediate
 * tensors of one forward pass for as long as it lives (bench/CudaUNetProfile reports how much, {@code graph_held_gb}).
 * Batches whose row count changes from step to step (the engine's continuous batching) record one graph per row count
 * seen; an evicted shape is recorded again, at the cost of one eager pass and a recording. The time projection is
 * computed on the host per step ({@link UNet2DConditionModel#timeProjection}) and uploaded, as in the eager pass; a
 * {@code timestep_cond} (LCM-distilled UNets) is projected and added to it eagerly, before the graph's input is filled
 * ({@link UNet2DConditionModel#conditionedTimeProjection}); so is SDXL's added embedding
 * ({@link UNet2DConditionModel#addedEmbedding}), a fourth input of the graph.
 */
public final class GraphedUNet implements UNetRunner {
    /** Shapes kept by {@link UNetRunner#create} unless {@value #MAX_GRAPHS_PROPERTY} says: guided and unguided steps of one size. */
    public static final int DEFAULT_MAX_GRAPHS = 2;
    /** System property: how many shapes {@link UNetRunner#create} keeps recorded (at least 1). */
    public static final String MAX_GRAPHS_PROPERTY = "pd.cuda.graphs.max";

    /** One recorded forward pass: the inputs it reads in place, the output it writes, the graph. */
    private record Captured(Tensor sample, Tensor timeProjection, Tensor addedEmbedding, Tensor context, Tensor output,
                            GraphBackend.Graph graph) {}

    private final UNet2DConditionModel unet;
    private final GraphBackend backend;
    private final int maxGraphs;
    private final LinkedHashMap<UNetShape, Captured> graphs = new LinkedHashMap<>(8, 0.75f, true);
    private int captures;
    private int replays;
    private int evictions;
    private long recordingNanos;
    private boolean closed;

    public GraphedUNet(UNet2DConditionModel unet, GraphBackend backend, int maxGraphs) {
        if (maxGraphs < 1) throw new IllegalArgumentException("maxGraphs must be at least 1, got " + maxGraphs);
        this.unet = unet;
        this.backend = backend;
        this.maxGraphs = maxGraphs;
    }

    @Override
    public Tensor predict(Tensor sample, double[] timesteps, Tensor timestepCond, Tensor addEmbeds, Tensor context) {
        if (closed) throw new IllegalStateException("GraphedUNet is closed");
        UNetShape shape = UNetShape.of(sample, timesteps, context);
        Tensor timeProjection = unet.conditionedTimeProjection(timesteps, timestepCond); // [B, c0]
        Tensor added = unet.addedEmbedding(addEmbeds);                             // [B, T] (SDXL) or null
        Captured g = graphs.get(shape);
        if (g == null) return captureAndRun(shape, sample, timeProjection, added, context);
        backend.copyInto(backend.upload(sample), g.sample());                      // [B, C, h, w]
        backend.copyInto(timeProjection, g.timeProjection());                      // [B, c0]
        if (added != null) backend.copyInto(added, g.addedEmbedding());            // [B, T]
        backend.copyInto(context, g.context());                                    // [B, L, D]
        g.graph().replay();
        replays++;
        return backend.download(g.output());                                       // [B, out, h, w]
    }

    /** The first step of {@code shape}: one eager pass (the answer), then the recording for later steps. */
    private Tensor captureAndRun(UNetShape shape, Tensor sample, Tensor timeProjection, Tensor added, Tensor context) {
        while (graphs.size() >= maxGraphs) evictEldest();
        // inputs the graph reads in place: tensors of our own (a backend may adopt host tensors on upload)
        Tensor sampleIn = backend.upload(hostCopy(sample));                    // [B, C, h, w]
        Tensor contextIn = backend.upload(backend.download(context));          // [B, L, D]
        Tensor answer = backend.download(unet.forwardProjected(sampleIn, timeProjection, added, contextIn)); // [B, out, h, w]
        Tensor[] output = new Tensor[1];
        long t0 = System.nanoTime();
        GraphBackend.Graph graph = backend.captureGraph(
                () -> output[0] = unet.forwardProjected(sampleIn, timeProjection, added, contextIn));
        recordingNanos += System.nanoTime() - t0;
        graphs.put(shape, new Captured(sampleIn, timeProjection, added, contextIn, output[0], graph));
        captures++;
        return answer;
    }

    private void evictEldest() {
        Iterator<Map.Entry<UNetShape, Captured>> it = graphs.entrySet().iterator();
        Captured eldest = it.next().getValue();
        it.remove();
        evictions++;
        eldest.graph().close();
    }

    /** The maximum from {@value #MAX_GRAPHS_PROPERTY}, else {@link #DEFAULT_MAX_GRAPHS}; not a number ≥ 1 is refused. */
    static int maxGraphsSetting() {
        String v = System.getProperty(MAX_GRAPHS_PROPERTY);
        if (v == null || v.isBlank()) return DEFAULT_MAX_GRAPHS;
        try {
            int n = Integer.parseInt(v.strip());
            if (n >= 1) return n;
        } catch (NumberFormatException ignored) {
            // refused below
        }
        throw new IllegalArgumentException("-D" + MAX_GRAPHS_PROPERTY + "=" + v + " must be a whole number of at least 1");
    }

    /** A host f32 copy of {@code t} that nobody else holds. */
    private static Tensor hostCopy(Tensor t) {
        Tensor f = t.to(DType.F32);  // a fresh contiguous copy unless t already is contiguous f32
        if (f != t) return f;
        Tensor c = Tensor.allocate(DType.F32, t.shape());
        MemorySegment.copy(t.segment(), 0, c.segment(), 0, t.byteSize());
        return c;
    }

    /** Drops every recorded graph (they hold the old weights' addresses); the next step of each shape records anew. */
    @Override
    public void weightsChanged() {
        while (!graphs.isEmpty()) evictEldest();
    }

    /** Drops every recorded graph (after running out of device memory: each holds a forward pass's activations). */
    @Override
    public void releaseRecordings() {
        while (!graphs.isEmpty()) evictEldest();
    }

    /** The most shapes kept recorded at once. */
    public int maxGraphs() { return maxGraphs; }

    /** Graphs closed to make room or on request ({@link #weightsChanged}, {@link #releaseRecordings}). */
    public int evictions() { return evictions; }

    /** Host time spent recording and instantiating graphs, all captures together (not the eager pass before each). */
    public long recordingNanos() { return recordingNanos; }

    /** Graphs recorded so far (one per shape seen, plus re-recordings after eviction). */
    public int captures() { return captures; }

    /** Steps answered by a replay. */
    public int replays() { return replays; }

    /** The shapes with a recorded graph, least recently used first. */
    public List<UNetShape> cachedShapes() { return List.copyOf(graphs.keySet()); }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        RuntimeException failure = null;
        for (Captured g : graphs.values()) {
            try {
                g.graph().close();
            } catch (RuntimeException e) {
                if (failure == null) failure = e;
                else failure.addSuppressed(e);
            }
        }
        graphs.clear();
        if (failure != null) throw failure;
    }
}
