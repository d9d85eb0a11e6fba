package dev.panamadiffusion.cuda;

import dev.panamadiffusion.bindings.cudnn.cudnnConvolutionFwdAlgoPerfStruct;
import dev.panamadiffusion.bindings.cudnn.cudnn_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * 2-D convolutions through cuDNN 9's convolution API on channels-last f16 data with f32 accumulation
 * (CUDNN_DATA_FLOAT compute, tensor-core math allowed), or on f32 data in FMA math (no TF32, so an upcast VAE gets
 * f32 results as torch's CPU would): x [N, H, W, C], filter [O, kh, kw, C] (KRSC), y [N, Ho, Wo, O].
 * For each distinct problem the descriptors and the algorithm (the first of cudnnGetConvolutionForwardAlgorithm_v7's
 * ranking that succeeds within the workspace limit; no benchmarking runs, so calls can be graph-captured) are made
 * once and cached; the workspace comes from the {@link DeviceArena} per call.
 */
public final class Cudnn implements AutoCloseable {
    /** Problem of one convolution: symmetric padding, equal strides, no dilation, one group. */
    public record Conv(int n, int c, int h, int w, int o, int kh, int kw, int stride, int pad) {
        public int outH() { return (h + 2 * pad - kh) / stride + 1; }

        public int outW() { return (w + 2 * pad - kw) / stride + 1; }
    }

    /**
     * cudnnMathType_t's CUDNN_FMA_MATH (cudnn_graph.h: only kernels of FMA instructions, so f32 data is never rounded
     * to TF32), missing from the generated bindings (native/cudnn/includes.txt names it for the next regeneration).
     */
    static final int CUDNN_FMA_MATH = 3;

    private record Key(Conv conv, boolean f32) {}

    private record Plan(MemorySegment x, MemorySegment f, MemorySegment conv, MemorySegment y, int algo, long workspace) {}

    private final DeviceArena arena;
    private final long maxWorkspace;
    private final Arena handles = Arena.ofShared();
    private final MemorySegment handle;
    private final Map<Key, Plan> plans = new HashMap<>();
    private boolean closed;

    /** A cuDNN handle bound to {@code stream}; workspaces up to {@code maxWorkspace} bytes come from {@code arena}. */
    public Cudnn(CudaStream stream, DeviceArena arena, long maxWorkspace) {
        this.arena = arena;
        this.maxWorkspace = maxWorkspace;
        MemorySegment p = handles.allocate(ValueLayout.ADDRESS);
        Check.cudnn(cudnn_h.cudnnCreate(p), "cudnnCreate");
        this.handle = p.get(ValueLayout.ADDRESS, 0);
        Check.cudnn(cudnn_h.cudnnSetStream(handle, stream.handle()), "cudnnSetStream");
    }

    /** y = conv(x, filter) for channels-last f16 (f32: {@code f32}) device buffers (no bias: the caller adds it). */
    public synchronized void conv2dNhwc(Conv p, boolean f32, long x, long filter, long y) {
        if (closed) throw new IllegalStateException("cuDNN handle is closed");
        if (p.n() == 0 || p.o() == 0 || p.outH() <= 0 || p.outW() <= 0) return;
        Plan plan = plans.computeIfAbsent(new Key(p, f32), this::plan);
        long ws = plan.workspace() > 0 ? arena.allocateScratch(plan.workspace()) : 0;
        try (Arena call = Arena.ofConfined()) {
            MemorySegment alpha = call.allocateFrom(ValueLayout.JAVA_FLOAT, 1.0f);
            MemorySegment beta = call.allocateFrom(ValueLayout.JAVA_FLOAT, 0.0f);
            Check.cudnn(cudnn_h.cudnnConvolutionForward(handle, alpha, plan.x(), MemorySegment.ofAddress(x), plan.f(),
                    MemorySegment.ofAddress(filter), plan.conv(), plan.algo(), MemorySegment.ofAddress(ws),
                    plan.workspace(), beta, plan.y(), MemorySegment.ofAddress(y)), "cudnnConvolutionForward");
        } finally {
            if (ws != 0) arena.release(ws, plan.workspace());  // stream-ordered: later work is queued after this
        }
    }

    private Plan plan(Key key) {
        Conv p = key.conv();
        int data = key.f32() ? cudnn_h.CUDNN_DATA_FLOAT() : cudnn_h.CUDNN_DATA_HALF(), nhwc = cudnn_h.CUDNN_TENSOR_NHWC();
        int math = key.f32() ? CUDNN_FMA_MATH : cudnn_h.CUDNN_TENSOR_OP_MATH();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ptr = a.allocate(ValueLayout.ADDRESS);
            Check.cudnn(cudnn_h.cudnnCreateTensorDescriptor(ptr), "cudnnCreateTensorDescriptor");
            MemorySegment x = ptr.get(ValueLayout.ADDRESS, 0);
            Check.cudnn(cudnn_h.cudnnSetTensor4dDescriptor(x, nhwc, data, p.n(), p.c(), p.h(), p.w()), "cudnnSetTensor4dDescriptor(x)");
            Check.cudnn(cudnn_h.cudnnCreateFilterDescriptor(ptr), "cudnnCreateFilterDescriptor");
            MemorySegment f = ptr.get(ValueLayout.ADDRESS, 0);
            Check.cudnn(cudnn_h.cudnnSetFilter4dDescriptor(f, data, nhwc, p.o(), p.c(), p.kh(), p.kw()), "cudnnSetFilter4dDescriptor");
            Check.cudnn(cudnn_h.cudnnCreateConvolutionDescriptor(ptr), "cudnnCreateConvolutionDescriptor");
            MemorySegment conv = ptr.get(ValueLayout.ADDRESS, 0);
            Check.cudnn(cudnn_h.cudnnSetConvolution2dDescriptor(conv, p.pad(), p.pad(), p.stride(), p.stride(), 1, 1,
                    cudnn_h.CUDNN_CROSS_CORRELATION(), cudnn_h.CUDNN_DATA_FLOAT()), "cudnnSetConvolution2dDescriptor");
            Check.cudnn(cudnn_h.cudnnSetConvolutionMathType(conv, math), "cudnnSetConvolutionMathType");

            MemorySegment n = a.allocate(ValueLayout.JAVA_INT), c = a.allocate(ValueLayout.JAVA_INT),
                    h = a.allocate(ValueLayout.JAVA_INT), w = a.allocate(ValueLayout.JAVA_INT);
            Check.cudnn(cudnn_h.cudnnGetConvolution2dForwardOutputDim(conv, x, f, n, c, h, w), "cudnnGetConvolution2dForwardOutputDim");
            if (n.get(ValueLayout.JAVA_INT, 0) != p.n() || c.get(ValueLayout.JAVA_INT, 0) != p.o()
                    || h.get(ValueLayout.JAVA_INT, 0) != p.outH() || w.get(ValueLayout.JAVA_INT, 0) != p.outW()) {
                throw new CudaException("cuDNN output shape for " + p + " is [" + n.get(ValueLayout.JAVA_INT, 0) + ", "
                        + c.get(ValueLayout.JAVA_INT, 0) + ", " + h.get(ValueLayout.JAVA_INT, 0) + ", " + w.get(ValueLayout.JAVA_INT, 0) + "]");
            }
            Check.cudnn(cudnn_h.cudnnCreateTensorDescriptor(ptr), "cudnnCreateTensorDescriptor");
            MemorySegment y = ptr.get(ValueLayout.ADDRESS, 0);
            Check.cudnn(cudnn_h.cudnnSetTensor4dDescriptor(y, nhwc, data, p.n(), p.o(), p.outH(), p.outW()), "cudnnSetTensor4dDescriptor(y)");

            int requested = cudnn_h.CUDNN_CONVOLUTION_FWD_ALGO_COUNT();
            long perfSize = cudnnConvolutionFwdAlgoPerfStruct.layout().byteSize();
            MemorySegment perf = a.allocate(cudnnConvolutionFwdAlgoPerfStruct.layout(), requested);
            MemorySegment returned = a.allocate(ValueLayout.JAVA_INT);
            Check.cudnn(cudnn_h.cudnnGetConvolutionForwardAlgorithm_v7(handle, x, f, conv, y, requested, returned, perf),
                    "cudnnGetConvolutionForwardAlgorithm_v7");
            int count = returned.get(ValueLayout.JAVA_INT, 0);
            MemorySegment size = a.allocate(ValueLayout.JAVA_LONG);
            for (int i = 0; i < count; i++) {
                MemorySegment r = perf.asSlice(i * perfSize, perfSize);
                if (cudnnConvolutionFwdAlgoPerfStruct.status(r) != cudnn_h.CUDNN_STATUS_SUCCESS()) continue;
                int algo = cudnnConvolutionFwdAlgoPerfStruct.algo(r);
                int algoMath = cudnnConvolutionFwdAlgoPerfStruct.mathType(r);
                // f32: no tensor-op (TF32) kernels, and the descriptor stays in FMA math whatever the ranking reports
                if (key.f32() && algoMath != CUDNN_FMA_MATH && algoMath != cudnn_h.CUDNN_DEFAULT_MATH()) continue;
                Check.cudnn(cudnn_h.cudnnSetConvolutionMathType(conv, key.f32() ? CUDNN_FMA_MATH : algoMath),
                        "cudnnSetConvolutionMathType");
                if (cudnn_h.cudnnGetConvolutionForwardWorkspaceSize(handle, x, f, conv, y, algo, size) != cudnn_h.CUDNN_STATUS_SUCCESS()) continue;
                long ws = size.get(ValueLayout.JAVA_LONG, 0);
                if (ws <= maxWorkspace) return new Plan(x, f, conv, y, algo, ws);
            }
            throw new CudaException("cudnnGetConvolutionForwardAlgorithm_v7", cudnn_h.CUDNN_STATUS_SUCCESS(),
                    "no usable algorithm", "for " + p + " within a workspace of " + maxWorkspace + " bytes ("
                    + count + " candidates)");
        }
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        for (Plan p : plans.values()) {
            cudnn_h.cudnnDestroyTensorDescriptor(p.x());
            cudnn_h.cudnnDestroyTensorDescriptor(p.y());
            cudnn_h.cudnnDestroyFilterDescriptor(p.f());
            cudnn_h.cudnnDestroyConvolutionDescriptor(p.conv());
        }
        plans.clear();
        Check.cudnn(cudnn_h.cudnnDestroy(handle), "cudnnDestroy");
        handles.close();
    }
}
