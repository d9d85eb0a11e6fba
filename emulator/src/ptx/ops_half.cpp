// Half-precision arithmetic: add/sub/mul/fma (.rn, optional .ftz/.sat), neg/abs, min/max (incl. .NaN) on .f16,
// .f16x2, .bf16 and .bf16x2 (PTX ISA "Half Precision Floating-Point Instructions"). The x2 forms work on both
// 16-bit halves independently. add/sub/mul are computed exactly in double and rounded once to f16/bf16 (correct
// rounding); fma computes a*b+c as a correctly rounded double first and then rounds to 16 bits, which can differ
// from a single rounding in rare double-rounding cases (docs/PTX.md). NaN results are the canonical NaN 0x7fff.
// Not used by our kernels today.
#include <cmath>

#include "ptx/fp16.h"
#include "ptx/ir.h"

namespace pdemu::ptx {

namespace {

enum HOp { h_add, h_sub, h_mul, h_fma, h_neg, h_abs, h_min, h_max };

// flags: bit0 bf16, bit1 ftz, bit2 sat, bit3 .NaN; n: 1 or 2 halves; size: op
inline double to_d(uint16_t h, bool bf, bool ftz) {
    if (ftz && !bf && (h & 0x7c00) == 0) h &= 0x8000;   // f16 subnormal -> signed zero
    return bf ? bf16_to_f32(h) : f16_to_f32(h);
}
inline uint16_t from_d(double v, bool bf, bool ftz, bool sat) {
    if (sat) v = std::isnan(v) ? 0.0 : std::min(std::max(v, 0.0), 1.0);
    uint16_t h = bf ? static_cast<uint16_t>(round_small_float(v, fr_rn, 7, -126, 127, 127)) : f64_to_f16(v, fr_rn);
    if (ftz && !bf && (h & 0x7c00) == 0) h &= 0x8000;
    return h;
}

inline uint16_t half_op(int op, uint16_t a, uint16_t b, uint16_t c, int flags) {
    const bool bf = flags & 1, ftz = flags & 2, sat = flags & 4, nanp = flags & 8;
    if (op == h_neg) return a ^ 0x8000;
    if (op == h_abs) return a & 0x7fff;
    double x = to_d(a, bf, ftz), y = to_d(b, bf, ftz);
    switch (op) {
        case h_add: return from_d(x + y, bf, ftz, sat);
        case h_sub: return from_d(x - y, bf, ftz, sat);
        case h_mul: return from_d(x * y, bf, ftz, sat);
        case h_fma: return from_d(std::fma(x, y, to_d(c, bf, ftz)), bf, ftz, sat);
        default: {   // min/max: a NaN operand yields the other; both (or any with .NaN) the canonical NaN; -0 < +0
            bool nx = std::isnan(x), ny = std::isnan(y);
            if (nx || ny) {
                if (nanp || (nx && ny)) return 0x7fff;
                return nx ? b : a;
            }
            bool mx = op == h_max;
            if (x == y) return (std::signbit(x) == mx) ? b : a;
            return (mx ? x > y : x < y) ? a : b;
        }
    }
}

// o: 0 d, 1 a, 2 b, 3 c
void half_exec(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t *a = reg(w, in.o[1]), *b = reg(w, in.o[2]), *c = reg(w, in.o[3]);
    const int op = in.size, flags = in.flags, n = in.n;
    for_lanes(m, [&](int l) {
        uint64_t r = 0;
        for (int k = 0; k < n; ++k) {
            int sh = 16 * k;
            r |= static_cast<uint64_t>(half_op(op, static_cast<uint16_t>(a[l] >> sh), static_cast<uint16_t>(b[l] >> sh),
                                               static_cast<uint16_t>(c[l] >> sh), flags)) << sh;
        }
        d[l] = r;
    });
}

}  // namespace

bool decode_half_arith(Decoder& d, const Stmt& s, Inst& in) {
    static const std::pair<std::string_view, int> ops[] = {{"add", h_add}, {"sub", h_sub}, {"mul", h_mul}, {"fma", h_fma},
                                                           {"neg", h_neg}, {"abs", h_abs}, {"min", h_min}, {"max", h_max}};
    int op = -1;
    for (auto& [n, v] : ops) if (n == s.base) op = v;
    T t = T::none;
    bool rn = false;
    in.flags = 0;
    for (auto m : s.mods) {
        if (m == "rn") rn = true;
        else if (m == "ftz") in.flags |= 2;
        else if (m == "sat") in.flags |= 4;
        else if (m == "NaN") in.flags |= 8;
        else if (parse_type(m) != T::none) t = parse_type(m);
        else { d.fail("unsupported half-precision qualifier ." + std::string(m)); return false; }
    }
    if (op < 0 || (t != T::f16 && t != T::f16x2 && t != T::bf16 && t != T::bf16x2)) return false;
    bool bf = t == T::bf16 || t == T::bf16x2;
    if (bf) in.flags |= 1;
    if (op == h_fma && !rn) { d.fail("fma on half types needs .rn"); return false; }
    if ((op >= h_neg) && (rn || (in.flags & 4))) return false;
    if ((in.flags & 8) && op != h_min && op != h_max) return false;
    if (bf && (in.flags & 6)) return false;   // no .ftz/.sat for bf16
    in.n = (t == T::f16x2 || t == T::bf16x2) ? 2 : 1;
    in.size = static_cast<uint8_t>(op);
    in.type = t;
    size_t nops = op == h_fma ? 4 : (op == h_neg || op == h_abs) ? 2 : 3;
    if (s.ops.size() != nops) return false;
    in.o[0] = d.dst(s.ops[0]);
    T st = in.n == 2 ? T::b32 : T::b16;
    for (size_t i = 1; i < 4; ++i) in.o[i] = i < nops ? d.src(s.ops[i], st) : static_cast<uint32_t>(sp_zero);
    in.fn = half_exec;
    return !d.failed();
}

}  // namespace pdemu::ptx
