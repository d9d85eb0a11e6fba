// GEGLU gate of diffusers' FeedForward: x [rows, 2F] -> y [rows, F], y = x[:, :F] * gelu(x[:, F:]) (exact erf GELU).
// geglu_{f16,f32}.
#include "common.cuh"

namespace {

template <typename T>
__device__ __forceinline__ void geglu(T* y, const T* x, i64 rows, int F) {
    const i64 n = rows * F;
    PD_FOR(i, n) {
        i64 r = i / F;
        int f = (int)(i % F);
        const T* row = x + r * 2 * F;
        y[i] = pd_cast<T>(pd_f32(row[f]) * pd_gelu(pd_f32(row[F + f])));
    }
}

}  // namespace

#define PD_GEGLU(SUF, T) \
    PD_KERNEL void geglu_##SUF(T* y, const T* x, i64 rows, int F) { geglu(y, x, rows, F); }

PD_FOR_EACH_TYPE(PD_GEGLU)
