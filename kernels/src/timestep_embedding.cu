// Sinusoidal timestep embedding, diffusers' get_timestep_embedding:
//   half = dim / 2, freq_j = exp(-ln(max_period) * j / (half - downscale_freq_shift)), arg = scale * t * freq_j,
//   emb = [sin(arg), cos(arg)] (or [cos, sin] with flip_sin_to_cos), zero-padded when dim is odd.
// t [B] f32 -> y [B, dim] f16 or f32 (timestep_embedding_{f16,f32}). Computed in f32 with the precise sinf/cosf (arguments reach ~1000 rad).
#include "common.cuh"

namespace {

template <typename T>
__device__ __forceinline__ void timestep_embedding(T* y, const float* t, int B, int dim, int flipSinToCos,
                                                   float downscaleFreqShift, float maxPeriod, float scale) {
    const int half = dim / 2;
    const i64 n = (i64)B * dim;
    PD_FOR(i, n) {
        int b = (int)(i / dim);
        int j = (int)(i % dim);
        float out = 0.0f;
        if (j < 2 * half) {
            int k = j < half ? j : j - half;
            bool first = j < half;
            float freq = expf(-logf(maxPeriod) * (float)k / ((float)half - downscaleFreqShift));
            float arg = (t[b] * freq) * scale;
            bool useSin = flipSinToCos ? !first : first;
            out = useSin ? sinf(arg) : cosf(arg);
        }
        y[i] = pd_cast<T>(out);
    }
}

}  // namespace

#define PD_TIMESTEP_EMBEDDING(SUF, T)                                                                               \
    PD_KERNEL void timestep_embedding_##SUF(T* y, const float* t, int B, int dim, int flipSinToCos,                \
                                            float downscaleFreqShift, float maxPeriod, float scale) {              \
        timestep_embedding(y, t, B, dim, flipSinToCos, downscaleFreqShift, maxPeriod, scale);                      \
    }

PD_FOR_EACH_TYPE(PD_TIMESTEP_EMBEDDING)
