// Element formats the reference GEMM and convolution read and write: IEEE half (binary16) and bfloat16 to and from
// float, rounding to nearest even as the GPU's conversions do.
#pragma once

#include <cstdint>
#include <cstring>

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

inline float half_to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (man << 13));  // inf / nan
    if (exp == 0) {
        if (man == 0) return bits_to_float(sign);
        float v = float(man) * (1.0f / 16777216.0f);  // subnormal: man * 2^-24
        return (h & 0x8000) ? -v : v;
    }
    return bits_to_float(sign | ((exp + 112) << 23) | (man << 13));
}

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

inline float bf16_to_float(uint16_t h) { return bits_to_float(uint32_t(h) << 16); }

inline uint16_t float_to_bf16(float f) {
    uint32_t x = float_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40);  // quiet nan
    uint32_t rounding = 0x7fff + ((x >> 16) & 1);
    return uint16_t((x + rounding) >> 16);
}

}  // namespace pdemu::num

namespace pdemu::num {

/** Dot product of two f32 vectors (the reference GEMM's and convolution's inner loop): eight partial sums in two
 *  four-lane vectors, then a fixed pairwise reduction, so the result does not depend on the thread count. */
inline float dot(const float* a, const float* b, uint64_t n) {
    typedef float v4 __attribute__((vector_size(16)));
    v4 s0 = {0, 0, 0, 0}, s1 = s0;
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v4 x0, x1, y0, y1;
        std::memcpy(&x0, a + i, 16);
        std::memcpy(&x1, a + i + 4, 16);
        std::memcpy(&y0, b + i, 16);
        std::memcpy(&y1, b + i + 4, 16);
        s0 += x0 * y0;
        s1 += x1 * y1;
    }
    v4 s = s0 + s1;
    float tail = 0.0f;
    for (; i < n; ++i) tail += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + tail;
}

/** Four dot products of a0..a3 with the same b, each summed exactly as dot() sums it; b is loaded once for all. */
inline void dot4(const float* a0, const float* a1, const float* a2, const float* a3, const float* b, uint64_t n,
                 float out[4]) {
    typedef float v4 __attribute__((vector_size(16)));
    v4 z = {0, 0, 0, 0};
    v4 s00 = z, s01 = z, s10 = z, s11 = z, s20 = z, s21 = z, s30 = z, s31 = z;
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v4 y0, y1, x0, x1;
        std::memcpy(&y0, b + i, 16);
        std::memcpy(&y1, b + i + 4, 16);
        std::memcpy(&x0, a0 + i, 16);
        std::memcpy(&x1, a0 + i + 4, 16);
        s00 += x0 * y0;
        s01 += x1 * y1;
        std::memcpy(&x0, a1 + i, 16);
        std::memcpy(&x1, a1 + i + 4, 16);
        s10 += x0 * y0;
        s11 += x1 * y1;
        std::memcpy(&x0, a2 + i, 16);
        std::memcpy(&x1, a2 + i + 4, 16);
        s20 += x0 * y0;
        s21 += x1 * y1;
        std::memcpy(&x0, a3 + i, 16);
        std::memcpy(&x1, a3 + i + 4, 16);
        s30 += x0 * y0;
        s31 += x1 * y1;
    }
    const float* a[4] = {a0, a1, a2, a3};
    v4 s[4] = {s00 + s01, s10 + s11, s20 + s21, s30 + s31};
    for (int r = 0; r < 4; ++r) {
        float tail = 0.0f;
        for (uint64_t j = i; j < n; ++j) tail += a[r][j] * b[j];
        out[r] = ((s[r][0] + s[r][1]) + (s[r][2] + s[r][3])) + tail;
    }
}

}  // namespace pdemu::num
