// Flash attention (FlashAttention-2 scheme): f16 Q, K, V, f32 scores, softmax statistics and accumulators,
// tensor cores through mma.sync.m16n8k16 (sm_80+). One block of 4 warps computes 64 query rows of one (batch, head);
// each warp owns 16 rows and keeps its scores, probabilities and output in registers; key/value tiles of BC rows
// are staged in shared memory. Self and cross attention (Lq != Lk), optional causal mask (key j > query i masked).
//
// Layout: q [B, Lq, *], k [B, Lk, *], v [B, Lk, *], o [B, Lq, *]; head h of row r starts at r * rowStride + h * D
// (row strides in elements: H * D for the usual [B, L, H*D] tensors). Pointers and row strides must be multiples of
// 8 halves (16-byte vector loads); the host checks this and otherwise uses the GEMM + softmax path below.
//
// attention_f16_d{40,64,80,128,160}: the head dims of Stable Diffusion 1.x/2.x and CLIP.
// softmax_rows_f32_{f16,f32}: the softmax of the fallback path (scores from cuBLASLt) for other head dims and for f32
// activations (an upcast VAE: the flash kernels are f16 only).
#include "common.cuh"

namespace {

constexpr int BR = 64;     // query rows per block
constexpr int WARPS = 4;   // 16 query rows per warp
constexpr float LOG2E = 1.4426950408889634f;

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
}

__device__ __forceinline__ uint32_t ld_u32(const __half* p) { return *reinterpret_cast<const uint32_t*>(p); }

__device__ __forceinline__ uint32_t pack_two(const __half a, const __half b) {
    __half2 h = __halves2half2(a, b);
    return *reinterpret_cast<uint32_t*>(&h);
}

// D (16x8 f32) += A (16x16 f16, row-major) * B (16x8 f16, column-major).
__device__ __forceinline__ void mma_16816(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                          uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Copies rows [row0, row0 + ROWS) of one head (D halves each) into shared memory tile[ROWS][SD], zero-filling
// rows past `rows` and columns [D, DP).
template <int D, int DP, int SD, int ROWS>
__device__ __forceinline__ void load_tile(__half* tile, const __half* src, i64 rowStride, int row0, int rows) {
    constexpr int CHUNKS = DP / 8;  // 16-byte chunks per shared-memory row (padding columns included)
    for (int idx = threadIdx.x; idx < ROWS * CHUNKS; idx += WARPS * 32) {
        int r = idx / CHUNKS, c = idx % CHUNKS;
        uint4 val = make_uint4(0, 0, 0, 0);
        if (row0 + r < rows && c * 8 < D) {
            val = *reinterpret_cast<const uint4*>(src + (i64)(row0 + r) * rowStride + c * 8);
        }
        *reinterpret_cast<uint4*>(tile + r * SD + c * 8) = val;
    }
}

template <int D, int BC>
__device__ __forceinline__ void flash_attention(__half* __restrict__ o, const __half* __restrict__ q,
                                                const __half* __restrict__ k, const __half* __restrict__ v,
                                                int H, int Lq, int Lk, i64 qStride, i64 kStride, i64 vStride,
                                                i64 oStride, float scale, int causal) {
    constexpr int DP = (D + 15) / 16 * 16;  // head dim padded to the mma K step
    constexpr int SD = DP + 8;              // shared-memory row stride (halves): 16-byte rows, no bank conflicts
    constexpr int KSTEPS = DP / 16;         // k-steps of S = Q K^T
    constexpr int SN = BC / 8;              // n-tiles of S
    constexpr int ON = D / 8;               // n-tiles of O
    extern __shared__ __align__(16) __half smem[];
    __half* Qs = smem;
    __half* Ks = Qs + BR * SD;
    __half* Vs = Ks + BC * SD;

    const int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * BR;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, tig = lane & 3;
    const int r0 = warp * 16;  // this warp's first row within the tile

    const __half* qb = q + (i64)b * Lq * qStride + (i64)h * D;
    const __half* kb = k + (i64)b * Lk * kStride + (i64)h * D;
    const __half* vb = v + (i64)b * Lk * vStride + (i64)h * D;
    load_tile<D, DP, SD, BR>(Qs, qb, qStride, q0, Lq);

    const float sl2 = scale * LOG2E;
    float oacc[ON][4];
#pragma unroll
    for (int j = 0; j < ON; j++) oacc[j][0] = oacc[j][1] = oacc[j][2] = oacc[j][3] = 0.0f;
    float mrow[2] = {-INFINITY, -INFINITY};  // running max (log2 units) of rows g and g + 8
    float lrow[2] = {0.0f, 0.0f};            // this thread's part of the running denominators

    const int rowA = q0 + r0 + g, rowB = rowA + 8;  // query indices of this thread's two rows
    int kEnd = Lk;
    if (causal) kEnd = min(Lk, q0 + BR);  // keys past the tile's last query are masked for every row
    for (int kt = 0; kt < kEnd; kt += BC) {
        __syncthreads();  // previous tiles fully consumed
        load_tile<D, DP, SD, BC>(Ks, kb, kStride, kt, Lk);
        load_tile<D, DP, SD, BC>(Vs, vb, vStride, kt, Lk);
        __syncthreads();

        // S = Q K^T for this warp's 16 rows and BC keys.
        float s[SN][4];
#pragma unroll
        for (int j = 0; j < SN; j++) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < KSTEPS; kk++) {
            const __half* qa = Qs + (r0 + g) * SD + kk * 16 + tig * 2;
            uint32_t a0 = ld_u32(qa), a1 = ld_u32(qa + 8 * SD), a2 = ld_u32(qa + 8), a3 = ld_u32(qa + 8 * SD + 8);
#pragma unroll
            for (int j = 0; j < SN; j++) {
                const __half* kp = Ks + (j * 8 + g) * SD + kk * 16 + tig * 2;
                mma_16816(s[j], a0, a1, a2, a3, ld_u32(kp), ld_u32(kp + 8));
            }
        }

        // Scale, mask, and update the running max of each row.
        float tmax[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int j = 0; j < SN; j++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = kt + j * 8 + tig * 2 + (e & 1);
                int row = e < 2 ? rowA : rowB;
                float val = s[j][e] * sl2;
                if (key >= Lk || (causal && key > row)) val = -INFINITY;
                s[j][e] = val;
                tmax[e >> 1] = fmaxf(tmax[e >> 1], val);
            }
        }
        float mref[2], alpha[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            tmax[r] = fmaxf(tmax[r], __shfl_xor_sync(0xffffffffu, tmax[r], 1));
            tmax[r] = fmaxf(tmax[r], __shfl_xor_sync(0xffffffffu, tmax[r], 2));
            float mnew = fmaxf(mrow[r], tmax[r]);
            mref[r] = mnew == -INFINITY ? 0.0f : mnew;  // a row with every key masked so far stays at zero
            alpha[r] = exp2f(mrow[r] - mref[r]);       // exp2(-inf) = 0 on the first tile
            mrow[r] = mnew;
            lrow[r] *= alpha[r];
        }
#pragma unroll
        for (int j = 0; j < ON; j++) {
            oacc[j][0] *= alpha[0];
            oacc[j][1] *= alpha[0];
            oacc[j][2] *= alpha[1];
            oacc[j][3] *= alpha[1];
        }

        // P = exp2(S - m); O += P V with P taken straight from the score registers (C layout == A layout).
#pragma unroll
        for (int kc = 0; kc < BC / 16; kc++) {
            float p[8];
#pragma unroll
            for (int e = 0; e < 4; e++) {
                p[e] = exp2f(s[2 * kc][e] - mref[e >> 1]);
                p[4 + e] = exp2f(s[2 * kc + 1][e] - mref[e >> 1]);
            }
            lrow[0] += p[0] + p[1] + p[4] + p[5];
            lrow[1] += p[2] + p[3] + p[6] + p[7];
            uint32_t a0 = pack_half2(p[0], p[1]);  // row g,     keys kc*16 + tig*2 + {0,1}
            uint32_t a1 = pack_half2(p[2], p[3]);  // row g + 8, same keys
            uint32_t a2 = pack_half2(p[4], p[5]);  // row g,     keys kc*16 + 8 + tig*2 + {0,1}
            uint32_t a3 = pack_half2(p[6], p[7]);  // row g + 8
            const __half* vk = Vs + (kc * 16 + tig * 2) * SD + g;
#pragma unroll
            for (int j = 0; j < ON; j++) {
                const __half* vp = vk + j * 8;
                uint32_t b0 = pack_two(vp[0], vp[SD]);
                uint32_t b1 = pack_two(vp[8 * SD], vp[9 * SD]);
                mma_16816(oacc[j], a0, a1, a2, a3, b0, b1);
            }
        }
    }

    // Full row sums across the 4 threads of each quad, normalise, store.
#pragma unroll
    for (int r = 0; r < 2; r++) {
        lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 1);
        lrow[r] += __shfl_xor_sync(0xffffffffu, lrow[r], 2);
    }
    const float invA = lrow[0] > 0.0f ? 1.0f / lrow[0] : 0.0f;
    const float invB = lrow[1] > 0.0f ? 1.0f / lrow[1] : 0.0f;
    __half* ob = o + (i64)b * Lq * oStride + (i64)h * D + tig * 2;
#pragma unroll
    for (int j = 0; j < ON; j++) {
        if (rowA < Lq) {
            *reinterpret_cast<uint32_t*>(ob + (i64)rowA * oStride + j * 8) = pack_half2(oacc[j][0] * invA, oacc[j][1] * invA);
        }
        if (rowB < Lq) {
            *reinterpret_cast<uint32_t*>(ob + (i64)rowB * oStride + j * 8) = pack_half2(oacc[j][2] * invB, oacc[j][3] * invB);
        }
    }
}

}  // namespace

// Shared memory per launch: (64 + 2 * BC) * (roundup16(D) + 8) * 2 bytes (host: CudaAttention.run).
#define PD_ATTENTION(D, BC)                                                                                       \
    PD_KERNEL void __launch_bounds__(128) attention_f16_d##D(                                                     \
        __half* o, const __half* q, const __half* k, const __half* v, int H, int Lq, int Lk, i64 qStride,          \
        i64 kStride, i64 vStride, i64 oStride, float scale, int causal) {                                          \
        flash_attention<D, BC>(o, q, k, v, H, Lq, Lk, qStride, kStride, vStride, oStride, scale, causal);          \
    }

PD_ATTENTION(40, 64)
PD_ATTENTION(64, 64)
PD_ATTENTION(80, 64)
PD_ATTENTION(128, 32)
PD_ATTENTION(160, 32)

namespace {

// Fallback softmax: s [rows, cols] f32 scores (rows = batch * Lq, a chunk of Lq queries starting at query
// rowOffset) -> p [rows, cols] probabilities of softmax(scale * s) in T; when causal, key col is masked for query
// rowOffset + row % Lq if col > that query. One block per row.
template <typename T>
__device__ __forceinline__ void softmax_rows(T* p, const float* s, int cols, int Lq, int rowOffset, float scale, int causal) {
    __shared__ float scratch[32];
    const i64 r = blockIdx.x;
    const int qi = rowOffset + (int)(r % Lq);
    const int limit = causal ? min(cols, qi + 1) : cols;
    const float* sr = s + r * cols;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < limit; j += blockDim.x) m = fmaxf(m, sr[j] * scale);
    // block max via the sum helper's pattern
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = m;
    __syncthreads();
    m = (threadIdx.x & 31) < ((blockDim.x + 31) >> 5) ? scratch[threadIdx.x & 31] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float sum = 0.0f;
    for (int j = threadIdx.x; j < limit; j += blockDim.x) sum += __expf(sr[j] * scale - m);
    const float inv = 1.0f / pd_block_sum(sum, scratch);
    T* pr = p + r * cols;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        pr[j] = pd_cast<T>(j < limit ? __expf(sr[j] * scale - m) * inv : 0.0f);
    }
}

}  // namespace

// softmax_rows_f32_f16 (the f16 path: P feeds an f16 product) and softmax_rows_f32_f32 (f32 activations).
#define PD_SOFTMAX_ROWS(SUF, T)                                                                                     \
    PD_KERNEL void softmax_rows_f32_##SUF(T* p, const float* s, int cols, int Lq, int rowOffset, float scale,      \
                                          int causal) {                                                             \
        softmax_rows(p, s, cols, Lq, rowOffset, scale, causal);                                                     \
    }

PD_FOR_EACH_TYPE(PD_SOFTMAX_ROWS)
