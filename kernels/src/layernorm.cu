// LayerNorm over the last dimension (biased variance, affine): one block per row, the row kept in shared memory
// as f32 (dynamic shared memory of D floats), mean and variance by two block reductions.
#include "common.cuh"

PD_KERNEL void layernorm_f16(__half* y, const __half* x, const __half* gamma, const __half* beta, int D, float eps) {
    extern __shared__ float row[];
    __shared__ float scratch[32];
    const i64 r = blockIdx.x;
    const __half* xr = x + r * D;
    float sum = 0.0f;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        float v = __half2float(xr[j]);
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
    __half* yr = y + r * D;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        yr[j] = __float2half((row[j] - mean) * rstd * __half2float(gamma[j]) + __half2float(beta[j]));
    }
}
