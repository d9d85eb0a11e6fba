// Element formats the reference GEMM and convolution read and write: IEEE half (binary16) and bfloat16 to and from
// float, rounding to nearest even as the GPU's conversions do. The narrowing ones keep a NaN's payload (quieted),
// where PTX cvt (ptx/fp16.h) gives the canonical NaN, so only the exact widening conversions are shared with it.
#pragma once

#include <cstdint>
#include <cstring>

#include "ptx/fp16.h"

namespace pdemu::num {

inline float bits_to_float(uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}

inline uint32_t float_to_bits(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
}

/** Widening is exact, so it is the interpreter's conversion (ptx/fp16.h). */
inline float half_to_float(uint16_t h) { return ptx::f16_to_f32(h); }

inline uint16_t float_to_half(float f) {
    uint32_t x = float_to_bits(f);
    uint16_t sign = uint16_t((x >> 16) & 0x8000);
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return uint16_t(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 | ((absx >> 13) & 0x3ff) : 0));
    if (absx >= 0x477ff000u) return uint16_t(sign | 0x7c00);  // rounds to >= 65520: infinity
    if (absx < 0x38800000u) {                                  // below 2^-14: subnormal half (or zero)
        if (absx < 0x33000000u) return sign;                   // below 2^-25: rounds to zero
        uint32_t e = absx >> 23;
        uint32_t man = (absx & 0x7fffff) | 0x800000;
        // value = man * 2^(e-150); in units of the smallest half subnormal (2^-24): man * 2^(e-126)
        uint32_t shift = 126 - e;
        uint32_t q = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (q & 1))) ++q;
        return uint16_t(sign | q);
    }
    uint32_t q = ((absx >> 13) - (112u << 10));
    uint32_t rem = absx & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) ++q;
    return uint16_t(sign | q);
}

inline float bf16_to_float(uint16_t h) { return ptx::bf16_to_f32(h); }

inline uint16_t float_to_bf16(float f) {
    uint32_t x = float_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40);  // quiet nan
    uint32_t rounding = 0x7fff + ((x >> 16) & 1);
    return uint16_t((x + rounding) >> 16);
}

}  // namespace pdemu::num

namespace pdemu::num {

namespace detail {
typedef float v4 __attribute__((vector_size(16)));

/** p[0..3] into lo, p[4..7] into hi (unaligned). */
inline void load8(const float* p, v4& lo, v4& hi) {
    std::memcpy(&lo, p, 16);
    std::memcpy(&hi, p + 4, 16);
}

/** s0 += a[0..3] * y0 and s1 += a[4..7] * y1: one step of the eight partial sums. */
inline void accumulate8(const float* a, v4 y0, v4 y1, v4& s0, v4& s1) {
    v4 x0, x1;
    load8(a, x0, x1);
    s0 += x0 * y0;
    s1 += x1 * y1;
}

/** The fixed pairwise reduction of the partial sums `s`, plus a[i..n) . b[i..n) summed in order. */
inline float reduce(v4 s, const float* a, const float* b, uint64_t i, uint64_t n) {
    float tail = 0.0f;
    for (; i < n; ++i) tail += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + tail;
}
}  // namespace detail

/** Dot product of two f32 vectors (the reference GEMM's and convolution's inner loop): eight partial sums in two
 *  four-lane vectors, then a fixed pairwise reduction, so the result does not depend on the thread count. */
inline float dot(const float* a, const float* b, uint64_t n) {
    using detail::v4;
    v4 s0 = {0, 0, 0, 0}, s1 = s0;
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v4 y0, y1;
        detail::load8(b + i, y0, y1);
        detail::accumulate8(a + i, y0, y1, s0, s1);
    }
    return detail::reduce(s0 + s1, a, b, i, n);
}

/** Four dot products of a0..a3 with the same b, each summed exactly as dot() sums it; b is loaded once for all. */
inline void dot4(const float* a0, const float* a1, const float* a2, const float* a3, const float* b, uint64_t n,
                 float out[4]) {
    using detail::v4;
    v4 z = {0, 0, 0, 0};
    v4 s00 = z, s01 = z, s10 = z, s11 = z, s20 = z, s21 = z, s30 = z, s31 = z;
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v4 y0, y1;
        detail::load8(b + i, y0, y1);
        detail::accumulate8(a0 + i, y0, y1, s00, s01);
        detail::accumulate8(a1 + i, y0, y1, s10, s11);
        detail::accumulate8(a2 + i, y0, y1, s20, s21);
        detail::accumulate8(a3 + i, y0, y1, s30, s31);
    }
    const float* a[4] = {a0, a1, a2, a3};
    v4 s[4] = {s00 + s01, s10 + s11, s20 + s21, s30 + s31};
    for (int r = 0; r < 4; ++r) out[r] = detail::reduce(s[r], a[r], b, i, n);
}

}  // namespace pdemu::num
