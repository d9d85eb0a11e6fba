// Half (IEEE binary16) and bfloat16 conversions with explicit rounding, as PTX cvt specifies them: round to
// nearest even / toward zero / down / up, gradual underflow to subnormals, overflow to infinity or to the largest
// finite value depending on the rounding direction; NaN becomes the canonical NaN (0x7fff, as NVIDIA GPUs produce).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace pdemu::ptx {

enum FpRound { fr_rn, fr_rz, fr_rm, fr_rp };

/** Rounds |x|'s magnitude into a binary format with `mant` fraction bits, exponent range [emin, emax]. */
inline uint32_t round_small_float(double x, int rnd, int mant, int emin, int emax, int bias) {
    bool neg = std::signbit(x);
    uint32_t sign = neg ? 1u << (mant + (bias == 15 ? 5 : 8)) : 0;
    uint32_t inf = ((2u * static_cast<uint32_t>(bias) + 1) << mant);
    uint32_t maxfin = inf - 1;
    if (std::isnan(x)) return bias == 15 ? 0x7fffu : 0x7fffu;
    double a = std::fabs(x);
    if (std::isinf(a)) return sign | inf;
    if (a == 0) return sign;
    int ex = 0;
    std::frexp(a, &ex);
    int e = std::max(ex - 1, emin);
    double scaled = std::ldexp(a, mant - e);   // exact: a power-of-two scaling
    double fl = std::floor(scaled), frac = scaled - fl;
    bool up = false;
    switch (rnd) {
        case fr_rn: up = frac > 0.5 || (frac == 0.5 && std::fmod(fl, 2.0) != 0); break;
        case fr_rz: up = false; break;
        case fr_rm: up = neg && frac > 0; break;
        case fr_rp: up = !neg && frac > 0; break;
    }
    uint64_t M = static_cast<uint64_t>(fl) + (up ? 1 : 0);
    uint64_t bits = e == emin && M < (1ull << mant) ? M
                  : (static_cast<uint64_t>(e + bias) << mant) + M - (1ull << mant);
    if (e > emax || bits >= inf) {
        bool to_inf = rnd == fr_rn || (rnd == fr_rp && !neg) || (rnd == fr_rm && neg);
        return sign | (to_inf ? inf : maxfin);
    }
    return sign | static_cast<uint32_t>(bits);
}

/** Round-to-nearest-even f32 -> f16 by bit manipulation (the hot path); same results as round_small_float. */
inline uint16_t f32_to_f16_rn(float f) {
    uint32_t x = std::bit_cast<uint32_t>(f);
    uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) return 0x7fff;                    // NaN -> canonical NaN
    if (x >= 0x477ff000u) return sign | 0x7c00;           // >= 65520 (incl. inf) -> inf
    if (x >= 0x38800000u) {                               // normal half
        x += 0x0fffu + ((x >> 13) & 1u);
        return sign | static_cast<uint16_t>((x - 0x38000000u) >> 13);
    }
    float s = std::bit_cast<float>(x) * 16777216.0f;       // subnormal half: units of 2^-24 (exact scaling)
    uint32_t i = static_cast<uint32_t>(s);
    float fr = s - static_cast<float>(i);
    if (fr > 0.5f || (fr == 0.5f && (i & 1u))) ++i;
    return sign | static_cast<uint16_t>(i);
}
inline uint16_t f32_to_f16(float f, int rnd) {
    return rnd == fr_rn ? f32_to_f16_rn(f) : static_cast<uint16_t>(round_small_float(f, rnd, 10, -14, 15, 15));
}
inline uint16_t f32_to_bf16(float f, int rnd) { return static_cast<uint16_t>(round_small_float(f, rnd, 7, -126, 127, 127)); }
inline uint16_t f64_to_f16(double f, int rnd) { return static_cast<uint16_t>(round_small_float(f, rnd, 10, -14, 15, 15)); }

inline float f16_to_f32_slow(uint16_t h) {
    uint32_t sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
    if (e == 0) return std::bit_cast<float>(sign) + (sign ? -1.f : 1.f) * std::ldexp(static_cast<float>(m), -24);
    return std::bit_cast<float>(sign | ((e + 112) << 23) | (m << 13));
}
/** f16 -> f32 (exact) through a table of all 65536 values. */
inline float f16_to_f32(uint16_t h) {
    static const struct Table {
        float v[65536];
        Table() { for (uint32_t i = 0; i < 65536; ++i) v[i] = f16_to_f32_slow(static_cast<uint16_t>(i)); }
    } table;
    return table.v[h];
}
inline float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

}  // namespace pdemu::ptx
