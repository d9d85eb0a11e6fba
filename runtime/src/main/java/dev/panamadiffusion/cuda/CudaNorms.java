package dev.panamadiffusion.cuda;

import dev.panamadiffusion.tensor.Tensor;

/**
 * {@link CudaBackend#groupNorm} and {@link CudaBackend#layerNorm} (kernels/src/groupnorm.cu, layernorm.cu) on the
 * backend's element type, statistics in f32. Arguments are checked by the backend.
 */
final class CudaNorms {
    private CudaNorms() {}

    /**
     * GroupNorm in three launches: per-slice Welford statistics (one block per group and slice, the slices sized so
     * that large images fill the GPU), their merge into mean and 1/σ, and the elementwise affine (+ SiLU).
     */
    static Tensor groupNorm(CudaBackend be, CudaDevice dev, Tensor x, int groups, Tensor gamma, Tensor beta, float eps,
                            boolean silu) {
        long n = x.dim(0), c = x.dim(1);
        Tensor xin, y;
        long spatial, strideC, strideS;
        if (Layouts.isChannelsLast(x)) {
            xin = x;
            spatial = x.dim(2) * x.dim(3);
            strideC = 1;
            strideS = c;
            y = be.newChannelsLast(x.shape());
        } else {
            xin = be.rowMajor(x);
            spatial = c == 0 || n == 0 ? 0 : x.numel() / (n * c);
            strideC = spatial;
            strideS = 1;
            y = be.newRowMajor(x.shape());
        }
        long total = x.numel();
        if (total == 0) return y;
        Tensor g = be.rowMajor(gamma), bt = be.rowMajor(beta);
        int ng = (int) (n * groups);
        long count = (c / groups) * spatial;
        int splits = (int) Math.max(1, Math.min(64, Math.min((count + 8191) / 8192, (4L * dev.maxGrid / 32 + ng - 1) / ng)));
        long partialBytes = 12L * ng * splits, statsBytes = 8L * ng;
        long partial = dev.arena.allocateScratch(partialBytes), stats = dev.arena.allocateScratch(statsBytes);
        try {
            dev.kernels.function(be.kernel("groupnorm_stats")).launch(dev.stream, ng, splits, 1,
                    CudaDevice.rowBlock((count + splits - 1) / splits), 1, 1, 0, KernelArgs.of()
                    .ptr(partial).ptr(Layouts.address(xin)).i32((int) c).i64(spatial).i32(groups).i64(strideC)
                    .i64(strideS).i32(splits));
            dev.kernels.function("groupnorm_finalize_f32").launch(dev.stream, (ng + 127) / 128, 128, 0, KernelArgs.of()
                    .ptr(stats).ptr(partial).i32(ng).i32(splits).f32(eps));
            dev.launch(be.kernel("groupnorm_apply"), total, KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xin))
                    .ptr(stats).ptr(Layouts.address(g)).ptr(Layouts.address(bt)).ptr(0).i32((int) c).i64(spatial)
                    .i32(groups).i64(strideC).i32(silu ? 1 : 0).i64(total));
        } finally {
            dev.arena.release(partial, partialBytes);
            dev.arena.release(stats, statsBytes);
        }
        return y;
    }

    /** LayerNorm over the last dim {@code d} (≤ 12288: the row is held in shared memory): one block per row. */
    static Tensor layerNorm(CudaBackend be, CudaDevice dev, Tensor x, Tensor gamma, Tensor beta, float eps) {
        long d = x.dim(-1);
        Tensor xr = be.rowMajor(x), g = be.rowMajor(gamma), bt = be.rowMajor(beta);
        Tensor y = be.newRowMajor(x.shape());
        if (x.numel() == 0) return y;
        long rows = x.numel() / d;
        dev.kernels.function(be.kernel("layernorm")).launch(dev.stream, Math.toIntExact(rows), CudaDevice.rowBlock(d),
                (int) (d * 4), KernelArgs.of().ptr(Layouts.address(y)).ptr(Layouts.address(xr)).ptr(Layouts.address(g))
                        .ptr(Layouts.address(bt)).i32((int) d).f32(eps));
        return y;
    }
}
