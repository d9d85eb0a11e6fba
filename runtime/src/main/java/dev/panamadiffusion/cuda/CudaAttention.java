package dev.panamadiffusion.cuda;

import dev.panamadiffusion.tensor.DType;
import dev.panamadiffusion.tensor.Tensor;

import java.util.Arrays;

/**
 * {@link CudaBackend#attention}: the flash kernels (kernels/src/attention.cu, f16 only) for the head dims of SD and
 * CLIP, else per head S = Q Kᵀ in f32 by cuBLASLt, the softmax kernel and O = P V, in chunks of query rows that bound
 * the score buffer. That second path serves other head dims (the VAE's single 512-wide head) and every f32 backend
 * (an upcast VAE), where Q, K, V, P and O stay f32.
 */
final class CudaAttention {
    private static final int[] FLASH_HEAD_DIMS = {40, 64, 80, 128, 160};
    private static final long FALLBACK_SCORE_BYTES = 256L << 20;  // bound on the fallback attention's score chunk

    private CudaAttention() {}

    /** q [B, Lq, H*d], k and v [B, Lk, H*d] of {@code be}'s element type (checked by the caller) → [B, Lq, H*d]. */
    static Tensor run(CudaBackend be, CudaDevice dev, Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
        int b = (int) q.dim(0), lq = (int) q.dim(1), lk = (int) k.dim(1), e = (int) q.dim(2), d = e / heads;
        Tensor out = be.newRowMajor(new long[] {b, lq, e});  // [B, Lq, H*d]
        if (out.numel() == 0) return out;
        if (lk == 0) return be.fill0(out);
        float scale = (float) (1.0 / Math.sqrt(d));
        if (be.dtype() == DType.F16 && Arrays.stream(FLASH_HEAD_DIMS).anyMatch(x -> x == d)) {
            Tensor qa = operand(be, q), ka = operand(be, k), va = operand(be, v);
            int bc = d >= 128 ? 32 : 64;
            int sharedBytes = (64 + 2 * bc) * ((d + 15) / 16 * 16 + 8) * 2;
            dev.kernels.function("attention_f16_d" + d).launch(dev.stream, (lq + 63) / 64, heads, b, 128, 1, 1, sharedBytes,
                    KernelArgs.of().ptr(Layouts.address(out)).ptr(Layouts.address(qa)).ptr(Layouts.address(ka))
                            .ptr(Layouts.address(va)).i32(heads).i32(lq).i32(lk).i64(qa.strides()[1])
                            .i64(ka.strides()[1]).i64(va.strides()[1]).i64(e).f32(scale).i32(causal ? 1 : 0));
        } else {
            byGemm(be, dev, be.rowMajor(q), be.rowMajor(k), be.rowMajor(v), out, b, lq, lk, heads, d, scale, causal);
        }
        return out;
    }

    /** A view the flash kernel can read: unit stride in the last dim, dense rows per batch, 16-byte aligned rows. */
    private static Tensor operand(CudaBackend be, Tensor t) {
        long[] st = t.strides();
        boolean ok = st[2] == 1 && (t.dim(0) == 1 || st[0] == t.dim(1) * st[1]) && st[1] % 8 == 0 && Layouts.address(t) % 16 == 0;
        return ok ? t : be.materializeRowMajor(t);
    }

    private static void byGemm(CudaBackend be, CudaDevice dev, Tensor q, Tensor k, Tensor v, Tensor out, int b, int lq,
                               int lk, int heads, int d, float scale, boolean causal) {
        long e = (long) heads * d;
        long es = be.dtype().byteSize();
        CublasLt.Type type = be.dtype() == DType.F32 ? CublasLt.Type.F32 : CublasLt.Type.F16;
        int chunk = (int) Math.max(1, Math.min(lq, FALLBACK_SCORE_BYTES / ((4 + es) * b * lk)));
        long sBytes = 4L * b * chunk * lk, pBytes = es * b * chunk * lk;
        long s = dev.arena.allocateScratch(sBytes), p = dev.arena.allocateScratch(pBytes);
        try {
            for (int h = 0; h < heads; h++) {
                for (int q0 = 0; q0 < lq; q0 += chunk) {
                    int rows = Math.min(chunk, lq - q0);
                    long qAddr = Layouts.address(q) + es * ((long) q0 * e + (long) h * d);
                    long kAddr = Layouts.address(k) + es * h * d;
                    long vAddr = Layouts.address(v) + es * h * d;
                    long oAddr = Layouts.address(out) + es * ((long) q0 * e + (long) h * d);
                    // Sᵀ (col-major Lk × rows) = op_T(K as d × Lk) · (Q as d × rows): row-major S [rows, Lk]
                    dev.blas.matmul(true, new CublasLt.Matrix(kAddr, type, d, lk, e, b, (long) lk * e),
                            false, new CublasLt.Matrix(qAddr, type, d, rows, e, b, (long) lq * e),
                            new CublasLt.Matrix(s, CublasLt.Type.F32, lk, rows, lk, b, (long) rows * lk), 0, 1.0f, 0.0f);
                    dev.kernels.function(be.kernel("softmax_rows_f32")).launch(dev.stream, b * rows, CudaDevice.rowBlock(lk), 0,
                            KernelArgs.of().ptr(p).ptr(s).i32(lk).i32(rows).i32(q0).f32(scale).i32(causal ? 1 : 0));
                    // Oᵀ (col-major d × rows) = (V as d × Lk) · (P as Lk × rows)
                    dev.blas.matmul(false, new CublasLt.Matrix(vAddr, type, d, lk, e, b, (long) lk * e),
                            false, new CublasLt.Matrix(p, type, lk, rows, lk, b, (long) rows * lk),
                            new CublasLt.Matrix(oAddr, type, d, rows, e, b, (long) lq * e), 0, 1.0f, 0.0f);
                }
            }
        } finally {
            dev.arena.release(s, sBytes);
            dev.arena.release(p, pBytes);
        }
    }
}
