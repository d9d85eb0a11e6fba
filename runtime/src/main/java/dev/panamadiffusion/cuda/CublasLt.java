package dev.panamadiffusion.cuda;

import dev.panamadiffusion.bindings.cublaslt.cublasLtMatmulAlgo_t;
import dev.panamadiffusion.bindings.cublaslt.cublasLtMatmulHeuristicResult_t;
import dev.panamadiffusion.bindings.cublaslt.cublasLt_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;

/**
 * Matrix products through cuBLASLt: f16 (or f32) operands, f32 accumulation and scaling (CUBLAS_COMPUTE_32F: f32
 * operands are multiplied in full f32, never TF32), an optional bias epilogue. Operands use cuBLASLt's column-major convention ({@link Matrix}); {@link #linear} wraps
 * the row-major {@code x · wᵀ + b} of torch.nn.Linear. For each distinct problem (shapes, strides, transposes,
 * pointer alignment) the descriptors and the heuristic's first algorithm are made once and cached.
 */
public final class CublasLt implements AutoCloseable {
    /** Element types of operands. */
    public enum Type {
        F16(2), F32(4);

        final int bytes;

        Type(int bytes) { this.bytes = bytes; }

        int cuda() { return this == F16 ? cublasLt_h.CUDA_R_16F() : cublasLt_h.CUDA_R_32F(); }
    }

    /**
     * A column-major operand as stored: {@code rows × cols}, leading dimension {@code ld} (elements between
     * columns), {@code batch} matrices {@code batchStride} elements apart (batch 1: stride ignored).
     */
    public record Matrix(long address, Type type, long rows, long cols, long ld, int batch, long batchStride) {
        public Matrix {
            if (ld < rows) throw new IllegalArgumentException("leading dimension " + ld + " < rows " + rows);
        }

        public static Matrix of(long address, Type type, long rows, long cols, long ld) {
            return new Matrix(address, type, rows, cols, ld, 1, 0);
        }

        Shape shape() { return new Shape(type, rows, cols, ld, batch, batch > 1 ? batchStride : 0); }
    }

    private record Shape(Type type, long rows, long cols, long ld, int batch, long batchStride) {}

    private record Key(boolean transA, boolean transB, Shape a, Shape b, Shape d, boolean bias,
                       int alignA, int alignB, int alignD) {}

    private record Plan(MemorySegment desc, MemorySegment aDesc, MemorySegment bDesc, MemorySegment dDesc,
                        MemorySegment algo, long workspace) {}

    private final CudaStream stream;
    private final DeviceArena arena;
    private final Arena handles = Arena.ofShared();
    private final MemorySegment handle;
    private final long workspace;
    private final long workspaceBytes;
    private final Map<Key, Plan> plans = new HashMap<>();
    private boolean closed;

    /** A cuBLASLt handle working on {@code stream}, with a workspace of {@code workspaceBytes} from {@code arena}. */
    public CublasLt(CudaStream stream, DeviceArena arena, long workspaceBytes) {
        this.stream = stream;
        this.arena = arena;
        MemorySegment p = handles.allocate(ValueLayout.ADDRESS);
        Check.cublas(cublasLt_h.cublasLtCreate(p), "cublasLtCreate");
        this.handle = p.get(ValueLayout.ADDRESS, 0);
        this.workspaceBytes = workspaceBytes;
        this.workspace = arena.allocateScratch(workspaceBytes);
    }

    /**
     * Row-major {@code y[M, N] = x[M, K] · w[N, K]ᵀ (+ bias[N])}, all of {@code type} and densely packed (bias 0:
     * none). In column-major terms: yᵀ (N × M) = op_T(w as K × N) · x as K × M.
     */
    public void linear(Type type, long x, long w, long bias, long y, long M, long N, long K) {
        matmul(true, Matrix.of(w, type, K, N, K), false, Matrix.of(x, type, K, M, K),
                Matrix.of(y, type, N, M, N), bias, 1.0f, 0.0f);
    }

    /**
     * {@code D = alpha · op(A) · op(B) + beta · D}, plus {@code bias} (of D's type, one value per row of D) when not 0.
     * With m × n for D: op(A) is m × k and op(B) is k × n; {@code a} and {@code b} describe the stored matrices
     * (transposed ones stored k × m and n × k).
     */
    public synchronized void matmul(boolean transA, Matrix a, boolean transB, Matrix b, Matrix d, long bias,
                                    float alpha, float beta) {
        if (closed) throw new IllegalStateException("cuBLASLt handle is closed");
        long m = transA ? a.cols() : a.rows(), k = transA ? a.rows() : a.cols();
        long kb = transB ? b.cols() : b.rows(), n = transB ? b.rows() : b.cols();
        if (k != kb || d.rows() != m || d.cols() != n) {
            throw new IllegalArgumentException("matmul shapes: op(A) " + m + "x" + k + ", op(B) " + kb + "x" + n
                    + ", D " + d.rows() + "x" + d.cols());
        }
        if (m == 0 || n == 0) return;
        Key key = new Key(transA, transB, a.shape(), b.shape(), d.shape(), bias != 0,
                alignment(a.address()), alignment(b.address()), alignment(d.address()));
        Plan plan = plans.computeIfAbsent(key, this::plan);
        try (Arena call = Arena.ofConfined()) {
            if (bias != 0) {
                MemorySegment bp = call.allocateFrom(ValueLayout.JAVA_LONG, bias);
                Check.cublas(cublasLt_h.cublasLtMatmulDescSetAttribute(plan.desc(),
                        cublasLt_h.CUBLASLT_MATMUL_DESC_BIAS_POINTER(), bp, 8), "cublasLtMatmulDescSetAttribute(BIAS_POINTER)");
            }
            MemorySegment al = call.allocateFrom(ValueLayout.JAVA_FLOAT, alpha);
            MemorySegment be = call.allocateFrom(ValueLayout.JAVA_FLOAT, beta);
            MemorySegment dptr = MemorySegment.ofAddress(d.address());
            Check.cublas(cublasLt_h.cublasLtMatmul(handle, plan.desc(), al, MemorySegment.ofAddress(a.address()), plan.aDesc(),
                    MemorySegment.ofAddress(b.address()), plan.bDesc(), be, dptr, plan.dDesc(), dptr, plan.dDesc(),
                    plan.algo(), MemorySegment.ofAddress(workspace), plan.workspace(), stream.handle()), "cublasLtMatmul");
        }
    }

    private Plan plan(Key key) {
        MemorySegment p = handles.allocate(ValueLayout.ADDRESS);
        Check.cublas(cublasLt_h.cublasLtMatmulDescCreate(p, cublasLt_h.CUBLAS_COMPUTE_32F(), cublasLt_h.CUDA_R_32F()),
                "cublasLtMatmulDescCreate");
        MemorySegment desc = p.get(ValueLayout.ADDRESS, 0);
        try (Arena a = Arena.ofConfined()) {
            setDesc(desc, cublasLt_h.CUBLASLT_MATMUL_DESC_TRANSA(), a.allocateFrom(ValueLayout.JAVA_INT,
                    key.transA() ? cublasLt_h.CUBLAS_OP_T() : cublasLt_h.CUBLAS_OP_N()), 4, "TRANSA");
            setDesc(desc, cublasLt_h.CUBLASLT_MATMUL_DESC_TRANSB(), a.allocateFrom(ValueLayout.JAVA_INT,
                    key.transB() ? cublasLt_h.CUBLAS_OP_T() : cublasLt_h.CUBLAS_OP_N()), 4, "TRANSB");
            if (key.bias()) {
                setDesc(desc, cublasLt_h.CUBLASLT_MATMUL_DESC_EPILOGUE(),
                        a.allocateFrom(ValueLayout.JAVA_INT, cublasLt_h.CUBLASLT_EPILOGUE_BIAS()), 4, "EPILOGUE");
            }
            MemorySegment aDesc = layout(key.a()), bDesc = layout(key.b()), dDesc = layout(key.d());

            MemorySegment pp = a.allocate(ValueLayout.ADDRESS);
            Check.cublas(cublasLt_h.cublasLtMatmulPreferenceCreate(pp), "cublasLtMatmulPreferenceCreate");
            MemorySegment pref = pp.get(ValueLayout.ADDRESS, 0);
            try {
                setPref(pref, cublasLt_h.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES(), a.allocateFrom(ValueLayout.JAVA_LONG, workspaceBytes), 8);
                setPref(pref, cublasLt_h.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES(), a.allocateFrom(ValueLayout.JAVA_INT, key.alignA()), 4);
                setPref(pref, cublasLt_h.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES(), a.allocateFrom(ValueLayout.JAVA_INT, key.alignB()), 4);
                setPref(pref, cublasLt_h.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES(), a.allocateFrom(ValueLayout.JAVA_INT, key.alignD()), 4);
                setPref(pref, cublasLt_h.CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES(), a.allocateFrom(ValueLayout.JAVA_INT, key.alignD()), 4);
                MemorySegment result = a.allocate(cublasLtMatmulHeuristicResult_t.layout());
                MemorySegment count = a.allocate(ValueLayout.JAVA_INT);
                Check.cublas(cublasLt_h.cublasLtMatmulAlgoGetHeuristic(handle, desc, aDesc, bDesc, dDesc, dDesc, pref, 1,
                        result, count), "cublasLtMatmulAlgoGetHeuristic");
                if (count.get(ValueLayout.JAVA_INT, 0) < 1 || cublasLtMatmulHeuristicResult_t.state(result) != cublasLt_h.CUBLAS_STATUS_SUCCESS()) {
                    throw new CudaException("cublasLtMatmulAlgoGetHeuristic", cublasLt_h.CUBLAS_STATUS_NOT_SUPPORTED(),
                            "CUBLAS_STATUS_NOT_SUPPORTED", "no algorithm for " + key);
                }
                MemorySegment algo = handles.allocate(cublasLtMatmulAlgo_t.layout());
                algo.copyFrom(cublasLtMatmulHeuristicResult_t.algo(result));
                return new Plan(desc, aDesc, bDesc, dDesc, algo, cublasLtMatmulHeuristicResult_t.workspaceSize(result));
            } finally {
                cublasLt_h.cublasLtMatmulPreferenceDestroy(pref);
            }
        }
    }

    private MemorySegment layout(Shape s) {
        MemorySegment p = handles.allocate(ValueLayout.ADDRESS);
        Check.cublas(cublasLt_h.cublasLtMatrixLayoutCreate(p, s.type().cuda(), s.rows(), s.cols(), s.ld()),
                "cublasLtMatrixLayoutCreate");
        MemorySegment desc = p.get(ValueLayout.ADDRESS, 0);
        if (s.batch() > 1) {
            try (Arena a = Arena.ofConfined()) {
                Check.cublas(cublasLt_h.cublasLtMatrixLayoutSetAttribute(desc, cublasLt_h.CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT(),
                        a.allocateFrom(ValueLayout.JAVA_INT, s.batch()), 4), "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)");
                Check.cublas(cublasLt_h.cublasLtMatrixLayoutSetAttribute(desc, cublasLt_h.CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET(),
                        a.allocateFrom(ValueLayout.JAVA_LONG, s.batchStride()), 8), "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)");
            }
        }
        return desc;
    }

    private static void setDesc(MemorySegment desc, int attr, MemorySegment value, long size, String name) {
        Check.cublas(cublasLt_h.cublasLtMatmulDescSetAttribute(desc, attr, value, size), "cublasLtMatmulDescSetAttribute(" + name + ")");
    }

    private static void setPref(MemorySegment pref, int attr, MemorySegment value, long size) {
        Check.cublas(cublasLt_h.cublasLtMatmulPreferenceSetAttribute(pref, attr, value, size), "cublasLtMatmulPreferenceSetAttribute");
    }

    /** The largest power of two (at most 256) dividing {@code address}. */
    static int alignment(long address) {
        if (address == 0) return 256;
        return (int) Math.min(256, Long.lowestOneBit(address));
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        for (Plan p : plans.values()) {
            cublasLt_h.cublasLtMatrixLayoutDestroy(p.aDesc());
            cublasLt_h.cublasLtMatrixLayoutDestroy(p.bDesc());
            cublasLt_h.cublasLtMatrixLayoutDestroy(p.dDesc());
            cublasLt_h.cublasLtMatmulDescDestroy(p.desc());
        }
        plans.clear();
        arena.release(workspace, workspaceBytes);
        Check.cublas(cublasLt_h.cublasLtDestroy(handle), "cublasLtDestroy");
        handles.close();
    }
}
