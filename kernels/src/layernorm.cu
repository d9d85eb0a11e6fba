// LayerNorm over the last dimension (biased variance, affine): one block per row, the row kept in shared memory
// as f32 (dynamic shared memory of D floats), mean and variance by two block reductions. layernorm_{f16,f32}.
#include "common.cuh"

namespace {

template <typename T>
__device__ __forceinline__ void layernorm(T* y, const T* x, const T* gamma, const T* beta, int D, float eps) {
    extern __shared__ float row[];
    __shared__ float scratch[32];
    const i64 r = blockIdx.x;
    const T* xr = x + r * D;
    float sum = 0.0f;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        float v = pd_f32(xr[j]);
        row[j] = v;
        sum += v;
    }
    const float mean = pd_block_sum(sum, scratch) / D;
    float sq = 0.0f;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        float d = row[j] - mean;
        sq += d * d;
    }
    const float rstd = rsqrtf(pd_block_sum(sq, scratch) / D + eps);
    T* yr = y + r * D;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        yr[j] = pd_cast<T>((row[j] - mean) * rstd * pd_f32(gamma[j]) + pd_f32(beta[j]));
    }
}

}  // namespace

#define PD_LAYERNORM(SUF, T)                                                                                        \
    PD_KERNEL void layernorm_##SUF(T* y, const T* x, const T* gamma, const T* beta, int D, float eps) {            \
        layernorm(y, x, gamma, beta, D, eps);                                                                      \
    }

PD_FOR_EACH_TYPE(PD_LAYERNORM)
