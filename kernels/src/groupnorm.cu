// GroupNorm (torch.nn.GroupNorm: biased variance, per-channel affine), optionally followed by SiLU and a residual
// add: y = act(norm(x) * gamma + beta) (+ residual). Three launches so that large images use the whole GPU:
//   groupnorm_stats_{f16,f32}  grid (N*G, splits): Welford statistics of one slice of one group, merged per block
//   groupnorm_finalize_f32     one thread per (n, g): merges the slices, writes mean and 1/sqrt(var + eps)
//   groupnorm_apply_{f16,f32}  elementwise over the whole tensor
// Element (n, c, s) of x (n < N samples, c < C channels, s < S positions) lives at n*C*S + c*strideC + s*strideS:
// channels-last (strideC 1, strideS C: NHWC images) or channels-first (strideC S, strideS 1: [N, C, L]).
#include "common.cuh"

namespace {

template <typename T>
__device__ __forceinline__ void groupnorm_stats(float* partial, const T* x, int C, i64 S, int G, i64 strideC, i64 strideS,
                                                int splits) {
    __shared__ PdStats scratch[32];
    const int ng = blockIdx.x, split = blockIdx.y;
    const int n = ng / G, g = ng % G, cpg = C / G;
    const i64 count = (i64)cpg * S;
    const i64 chunk = (count + splits - 1) / splits;
    const i64 start = split * chunk;
    const i64 end = start + chunk < count ? start + chunk : count;
    const T* base = x + (i64)n * C * S + (i64)g * cpg * strideC;
    PdStats st = {0.0f, 0.0f, 0.0f};
    for (i64 j = start + threadIdx.x; j < end; j += blockDim.x) {
        i64 s, cl;
        if (strideC == 1) {
            s = j / cpg;
            cl = j % cpg;
        } else {
            cl = j / S;
            s = j % S;
        }
        pd_stats_push(st, pd_f32(base[cl * strideC + s * strideS]));
    }
    st = pd_block_stats(st, scratch);
    if (threadIdx.x == 0) {
        float* out = partial + ((i64)ng * splits + split) * 3;
        out[0] = st.n;
        out[1] = st.mean;
        out[2] = st.m2;
    }
}

// residual may be null; y may alias x.
template <typename T>
__device__ __forceinline__ void groupnorm_apply(T* y, const T* x, const float* stats, const T* gamma, const T* beta,
                                                const T* residual, int C, i64 S, int G, i64 strideC, int silu, i64 n) {
    const int cpg = C / G;
    const i64 perSample = (i64)C * S;
    PD_FOR(i, n) {
        int c = (int)((i / strideC) % C);
        i64 b = i / perSample;
        i64 ng = b * G + c / cpg;
        float mean = stats[2 * ng], rstd = stats[2 * ng + 1];
        float v = (pd_f32(x[i]) - mean) * rstd * pd_f32(gamma[c]) + pd_f32(beta[c]);
        if (silu) v = pd_silu(v);
        if (residual) v += pd_f32(residual[i]);
        y[i] = pd_cast<T>(v);
    }
}

}  // namespace

#define PD_GROUPNORM(SUF, T)                                                                                         \
    PD_KERNEL void groupnorm_stats_##SUF(float* partial, const T* x, int C, i64 S, int G, i64 strideC, i64 strideS, \
                                         int splits) {                                                              \
        groupnorm_stats(partial, x, C, S, G, strideC, strideS, splits);                                             \
    }                                                                                                               \
    PD_KERNEL void groupnorm_apply_##SUF(T* y, const T* x, const float* stats, const T* gamma, const T* beta,       \
                                         const T* residual, int C, i64 S, int G, i64 strideC, int silu, i64 n) {    \
        groupnorm_apply(y, x, stats, gamma, beta, residual, C, S, G, strideC, silu, n);                             \
    }

PD_FOR_EACH_TYPE(PD_GROUPNORM)

// stats [NG, 2] = (mean, rstd) from partial [NG, splits, 3] = (count, mean, m2).
PD_KERNEL void groupnorm_finalize_f32(float* stats, const float* partial, int NG, int splits, float eps) {
    int ng = blockIdx.x * blockDim.x + threadIdx.x;
    if (ng >= NG) return;
    PdStats st = {0.0f, 0.0f, 0.0f};
    for (int k = 0; k < splits; k++) {
        const float* p = partial + ((i64)ng * splits + k) * 3;
        PdStats q = {p[0], p[1], p[2]};
        st = pd_stats_merge(st, q);
    }
    float var = st.n > 0.0f ? st.m2 / st.n : 0.0f;
    stats[2 * ng] = st.mean;
    stats[2 * ng + 1] = rsqrtf(fmaxf(var, 0.0f) + eps);
}
