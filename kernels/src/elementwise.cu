// Elementwise and data-movement kernels on f16 or f32 activations (PD_FOR_EACH_TYPE): activations, add/scale,
// channel broadcasts, nearest upsampling, channel concatenation and padding in NHWC, strided copies with dtype casts
// (layout changes NCHW <-> NHWC, upload/download conversions, f16 <-> f32 between an f16 model and an upcast VAE)
// and the embedding gather. Arithmetic is f32, rounded once to the stored type.
#include "common.cuh"

#include <type_traits>

namespace {

// ---- activations and arithmetic (any layout: the buffers are dense and walked linearly) --------------------

template <typename T>
__device__ __forceinline__ void silu_body(T* y, const T* x, i64 n) {
    PD_FOR(i, n) y[i] = pd_cast<T>(pd_silu(pd_f32(x[i])));
}

template <typename T>
__device__ __forceinline__ void gelu_body(T* y, const T* x, i64 n) {
    PD_FOR(i, n) y[i] = pd_cast<T>(pd_gelu(pd_f32(x[i])));
}

template <typename T>
__device__ __forceinline__ void quick_gelu_body(T* y, const T* x, i64 n) {
    PD_FOR(i, n) y[i] = pd_cast<T>(pd_quick_gelu(pd_f32(x[i])));
}

template <typename T>
__device__ __forceinline__ void add_body(T* y, const T* a, const T* b, i64 n) {
    PD_FOR(i, n) y[i] = pd_cast<T>(pd_f32(a[i]) + pd_f32(b[i]));
}

template <typename T>
__device__ __forceinline__ void scale_body(T* y, const T* x, float s, i64 n) {
    PD_FOR(i, n) y[i] = pd_cast<T>(pd_f32(x[i]) * s);
}

// y[i] = x[i] + v[batch * vBatchStride + c] for a channels-last buffer: c = i % C, batch = i / perBatch.
// Conv bias: vBatchStride 0; addChannelwise (v [N, C]): vBatchStride C, perBatch H*W*C. y may alias x.
template <typename T>
__device__ __forceinline__ void add_channels_body(T* y, const T* x, const T* v, i64 vBatchStride, i64 perBatch, int C, i64 n) {
    PD_FOR(i, n) {
        i64 c = i % C;
        i64 b = i / perBatch;
        y[i] = pd_cast<T>(pd_f32(x[i]) + pd_f32(v[b * vBatchStride + c]));
    }
}

// ---- NHWC spatial ops ----------------------------------------------------------------------------------------

// [N, H, W, C] -> [N, 2H, 2W, C], nearest neighbour.
template <typename T>
__device__ __forceinline__ void upsample_body(T* y, const T* x, int N, int H, int W, int C) {
    const i64 n = (i64)N * 4 * H * W * C;
    const int W2 = 2 * W, H2 = 2 * H;
    PD_FOR(i, n) {
        i64 c = i % C;
        i64 p = i / C;
        i64 ox = p % W2;
        p /= W2;
        i64 oy = p % H2;
        i64 b = p / H2;
        y[i] = x[((b * H + (oy >> 1)) * W + (ox >> 1)) * C + c];
    }
}

// [P, Ca] ++ [P, Cb] -> [P, Ca + Cb] over pixels P = N*H*W (channel concatenation in NHWC).
template <typename T>
__device__ __forceinline__ void concat_body(T* y, const T* a, const T* b, i64 pixels, int Ca, int Cb) {
    const int C = Ca + Cb;
    const i64 n = pixels * C;
    PD_FOR(i, n) {
        i64 p = i / C;
        int c = (int)(i % C);
        y[i] = c < Ca ? a[p * Ca + c] : b[p * Cb + (c - Ca)];
    }
}

// Zero padding of H and W: [N, H, W, C] -> [N, H + top + bottom, W + left + right, C].
template <typename T>
__device__ __forceinline__ void pad2d_body(T* y, const T* x, int N, int H, int W, int C, int left, int right, int top, int bottom) {
    const int Ho = H + top + bottom, Wo = W + left + right;
    const i64 n = (i64)N * Ho * Wo * C;
    PD_FOR(i, n) {
        i64 c = i % C;
        i64 p = i / C;
        int ox = (int)(p % Wo);
        p /= Wo;
        int oy = (int)(p % Ho);
        i64 b = p / Ho;
        int ix = ox - left, iy = oy - top;
        y[i] = (ix >= 0 && ix < W && iy >= 0 && iy < H) ? x[((b * H + iy) * W + ix) * C + c] : pd_cast<T>(0.0f);
    }
}

// ---- embedding ---------------------------------------------------------------------------------------------

// y[t, :] = table[ids[t], :] for t < count; ids were range-checked on the host. table [V, D], y [count, D].
template <typename T>
__device__ __forceinline__ void embedding_body(T* y, const T* table, const int* ids, i64 count, int D) {
    const i64 n = count * D;
    PD_FOR(i, n) {
        i64 t = i / D;
        int d = (int)(i % D);
        y[i] = table[(i64)ids[t] * D + d];
    }
}

// ---- strided copies with casts: y is dense in the iteration order of v.shape; x is read through v -----------

template <typename S, typename D>
__device__ __forceinline__ void copy_strided_body(D* y, const S* x, const PdStrided& v, i64 n) {
    if constexpr (std::is_same_v<S, D>) {
        PD_FOR(i, n) y[i] = x[pd_strided_offset(v, i)];  // a plain copy: bit for bit, NaN payloads included
    } else {
        PD_FOR(i, n) y[i] = pd_cast<D>(pd_f32(x[pd_strided_offset(v, i)]));
    }
}

}  // namespace

#define PD_ELEMENTWISE(SUF, T)                                                                                       \
    PD_KERNEL void silu_##SUF(T* y, const T* x, i64 n) { silu_body(y, x, n); }                                      \
    PD_KERNEL void gelu_##SUF(T* y, const T* x, i64 n) { gelu_body(y, x, n); }                                      \
    PD_KERNEL void quick_gelu_##SUF(T* y, const T* x, i64 n) { quick_gelu_body(y, x, n); }                          \
    PD_KERNEL void add_##SUF(T* y, const T* a, const T* b, i64 n) { add_body(y, a, b, n); }                         \
    PD_KERNEL void scale_##SUF(T* y, const T* x, float s, i64 n) { scale_body(y, x, s, n); }                        \
    PD_KERNEL void add_channels_##SUF(T* y, const T* x, const T* v, i64 vBatchStride, i64 perBatch, int C, i64 n) { \
        add_channels_body(y, x, v, vBatchStride, perBatch, C, n);                                                   \
    }                                                                                                               \
    PD_KERNEL void upsample_nearest2x_nhwc_##SUF(T* y, const T* x, int N, int H, int W, int C) {                    \
        upsample_body(y, x, N, H, W, C);                                                                            \
    }                                                                                                               \
    PD_KERNEL void concat_channels_nhwc_##SUF(T* y, const T* a, const T* b, i64 pixels, int Ca, int Cb) {           \
        concat_body(y, a, b, pixels, Ca, Cb);                                                                       \
    }                                                                                                               \
    PD_KERNEL void pad2d_nhwc_##SUF(T* y, const T* x, int N, int H, int W, int C, int left, int right, int top,     \
                                    int bottom) {                                                                   \
        pad2d_body(y, x, N, H, W, C, left, right, top, bottom);                                                     \
    }                                                                                                               \
    PD_KERNEL void embedding_##SUF(T* y, const T* table, const int* ids, i64 count, int D) {                        \
        embedding_body(y, table, ids, count, D);                                                                    \
    }                                                                                                               \
    PD_KERNEL void copy_strided_f16_##SUF(T* y, const __half* x, PdStrided v, i64 n) { copy_strided_body(y, x, v, n); } \
    PD_KERNEL void copy_strided_f32_##SUF(T* y, const float* x, PdStrided v, i64 n) { copy_strided_body(y, x, v, n); }  \
    PD_KERNEL void copy_strided_bf16_##SUF(T* y, const __nv_bfloat16* x, PdStrided v, i64 n) {                      \
        copy_strided_body(y, x, v, n);                                                                              \
    }

PD_FOR_EACH_TYPE(PD_ELEMENTWISE)
