// Shared helpers for the Panama Diffusion kernels. Every kernel is extern "C" (unmangled, looked up by name from
// Java with cuModuleGetFunction) and named <op>_<dtype>. Activations are f16, or f32 for a VAE that diffusers'
// force_upcast runs in float32; reductions and accumulations are f32 either way. Kernels for both element types are
// one template each (the body written once over T), instantiated as <op>_f16 and <op>_f32 by PD_FOR_EACH_TYPE.
#pragma once
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>

#define PD_KERNEL extern "C" __global__

typedef long long i64;

// ---- element types ------------------------------------------------------------------------------------------

// The value of one stored element as f32, and an f32 value rounded (round to nearest even) to the stored type.
__device__ __forceinline__ float pd_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float pd_f32(float x) { return x; }
__device__ __forceinline__ float pd_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T pd_cast(float v);
template <> __device__ __forceinline__ __half pd_cast<__half>(float v) { return __float2half(v); }
template <> __device__ __forceinline__ float pd_cast<float>(float v) { return v; }

// M(suffix, type) once per activation type: PD_FOR_EACH_TYPE(M) defines <op>_f16 and <op>_f32.
#define PD_FOR_EACH_TYPE(M) M(f16, __half) M(f32, float)

// Grid-stride loop over [0, n).
#define PD_FOR(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

__device__ __forceinline__ float pd_silu(float x) { return x / (1.0f + __expf(-x)); }

__device__ __forceinline__ float pd_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

__device__ __forceinline__ float pd_quick_gelu(float x) { return x / (1.0f + __expf(-1.702f * x)); }

__device__ __forceinline__ float pd_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the whole block; every thread gets the result. scratch holds at least 32 floats.
__device__ __forceinline__ float pd_block_sum(float v, float* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    v = pd_warp_sum(v);
    __syncthreads();  // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < warps ? scratch[lane] : 0.0f;
    return pd_warp_sum(v);
}

// Welford running statistics and Chan et al.'s merge of two partial results.
struct PdStats {
    float n, mean, m2;
};

__device__ __forceinline__ void pd_stats_push(PdStats& s, float x) {
    s.n += 1.0f;
    float d = x - s.mean;
    s.mean += d / s.n;
    s.m2 += d * (x - s.mean);
}

__device__ __forceinline__ PdStats pd_stats_merge(PdStats a, PdStats b) {
    float n = a.n + b.n;
    if (n == 0.0f) return a;
    float d = b.mean - a.mean;
    float wb = b.n / n;
    PdStats r;
    r.n = n;
    r.mean = a.mean + d * wb;
    r.m2 = a.m2 + b.m2 + d * d * a.n * wb;
    return r;
}

__device__ __forceinline__ PdStats pd_stats_shfl_xor(PdStats s, int o) {
    PdStats t;
    t.n = __shfl_xor_sync(0xffffffffu, s.n, o);
    t.mean = __shfl_xor_sync(0xffffffffu, s.mean, o);
    t.m2 = __shfl_xor_sync(0xffffffffu, s.m2, o);
    return pd_stats_merge(s, t);
}

// Merge over the whole block; thread 0 gets the result. scratch holds at least 32 PdStats.
__device__ __forceinline__ PdStats pd_block_stats(PdStats s, PdStats* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    for (int o = 16; o > 0; o >>= 1) s = pd_stats_shfl_xor(s, o);
    if (lane == 0) scratch[warp] = s;
    __syncthreads();
    if (warp == 0) {
        PdStats z = {0.0f, 0.0f, 0.0f};
        s = lane < warps ? scratch[lane] : z;
        for (int o = 16; o > 0; o >>= 1) s = pd_stats_shfl_xor(s, o);
    }
    return s;
}

// A strided view of up to 6 dimensions, passed by value: element k of a dense iteration over shape (row-major)
// lives at offset sum(index_d * stride_d) in the source. Strides and offsets are in elements.
#define PD_MAX_RANK 6
struct PdStrided {
    i64 shape[PD_MAX_RANK];
    i64 stride[PD_MAX_RANK];
    i64 offset;
    int rank;
};

// Unrolled over PD_MAX_RANK so that every field is read at a constant index, straight from the parameter space: a
// loop bounded by v.rank indexes the struct dynamically, and nvcc then copies all 112 bytes of it to local memory in
// every thread (PTX: __local_depot, 49 param/local moves). Measured on the emulator (PDEMU_PROFILE=1, a 4x demo model,
// 5 steps): copy_strided_f16_f16 598 M -> 502 M thread-instructions.
__device__ __forceinline__ i64 pd_strided_offset(const PdStrided& v, i64 flat) {
    i64 off = v.offset;
#pragma unroll
    for (int d = PD_MAX_RANK - 1; d >= 0; d--) {
        if (d < v.rank) {
            i64 size = v.shape[d];
            i64 idx = flat % size;
            flat /= size;
            off += idx * v.stride[d];
        }
    }
    return off;
}
