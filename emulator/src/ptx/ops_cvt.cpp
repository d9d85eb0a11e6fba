// Conversion family: cvt between integer types (truncation, extension, .sat), float -> integer (.rni/.rzi/.rmi/.rpi,
// saturating, NaN -> 0 as PTX specifies), integer -> float (.rn/.rz/.rm/.rp), float <-> float (f16/bf16/f32/f64
// with rounding modifiers, .ftz, .sat, .rni etc. to an integral float), and the packed cvt.rn.f16x2.f32 /
// cvt.rn.bf16x2.f32 (a goes to the upper half, b to the lower half: PTX ISA, cvt).
// Compiled with -frounding-math: directed rounding of f64->f32 and int->float uses the host rounding mode.
#include <cfenv>
#include <cmath>
#include <limits>

#include "ptx/fp16.h"
#include "ptx/ir.h"

namespace pdemu::ptx {

namespace {

enum IRnd { i_none, i_rni, i_rzi, i_rmi, i_rpi };

// Reads a source as a double (floats exactly; 64-bit integers may round, so integer paths use int64/uint64).
inline double read_float(T t, uint64_t x, bool ftz) {
    double v;
    switch (t) {
        case T::f16: v = f16_to_f32(static_cast<uint16_t>(x)); break;
        case T::bf16: v = bf16_to_f32(static_cast<uint16_t>(x)); break;
        case T::f32: v = ld<float>(x); break;
        default: v = ld<double>(x); break;
    }
    if (ftz && t == T::f32 && std::fpclassify(static_cast<float>(v)) == FP_SUBNORMAL) v = std::copysign(0.0, v);
    return v;
}

inline int64_t read_int(T t, uint64_t x) {
    uint32_t b = type_bits(t);
    if (b == 64) return static_cast<int64_t>(x);
    uint64_t mask = (1ull << b) - 1;
    x &= mask;
    if (is_signed(t) && (x >> (b - 1)) & 1) x |= ~mask;
    return static_cast<int64_t>(x);
}

inline uint64_t clamp_int(T dt, long double v) {   // saturating float->int or .sat int->int
    uint32_t b = type_bits(dt);
    long double lo, hi;
    if (is_signed(dt)) { lo = -std::ldexp(1.0L, static_cast<int>(b) - 1); hi = std::ldexp(1.0L, static_cast<int>(b) - 1) - 1; }
    else { lo = 0; hi = std::ldexp(1.0L, static_cast<int>(b)) - 1; }
    if (std::isnan(v)) return 0;
    v = std::min(std::max(v, lo), hi);
    uint64_t mask = b == 64 ? ~0ull : (1ull << b) - 1;
    if (is_signed(dt)) return static_cast<uint64_t>(static_cast<int64_t>(v)) & mask;
    return static_cast<uint64_t>(v) & mask;
}

inline uint64_t write_float(T dt, double v, int frnd, bool ftz, bool sat) {
    if (sat) v = std::isnan(v) ? 0.0 : std::min(std::max(v, 0.0), 1.0);
    int r = frnd < 0 ? fr_rn : frnd;
    switch (dt) {
        case T::f16: return f64_to_f16(v, r);
        case T::bf16: return static_cast<uint16_t>(round_small_float(v, r, 7, -126, 127, 127));
        case T::f32: {
            float f;
            if (r == fr_rn) f = static_cast<float>(v);
            else {
                int old = std::fegetround();
                std::fesetround(r == fr_rz ? FE_TOWARDZERO : r == fr_rm ? FE_DOWNWARD : FE_UPWARD);
                f = static_cast<float>(v);
                std::fesetround(old);
            }
            if (ftz && std::fpclassify(f) == FP_SUBNORMAL) f = std::copysign(0.f, f);
            if (std::isnan(f)) return 0x7fffffffu;
            return st<float>(f);
        }
        default: return st<double>(v);
    }
}

inline double round_integral(double v, int irnd) {
    switch (irnd) {
        case i_rni: return std::nearbyint(v);   // host default mode: to nearest even
        case i_rzi: return std::trunc(v);
        case i_rmi: return std::floor(v);
        case i_rpi: return std::ceil(v);
        default: return v;
    }
}

// o[0] d, o[1] a; imm: packed CvtInfo fields
void cvt_op(Warp& w, const Inst& in, uint32_t m) {
    const T dt = in.type, stt = static_cast<T>(in.n);
    const int frnd = static_cast<int>(in.imm & 0xff) - 1, irnd = static_cast<int>((in.imm >> 8) & 0xff);
    const bool ftz = (in.imm >> 16) & 1, sat = (in.imm >> 17) & 1;
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t* a = reg(w, in.o[1]);
    const bool df = is_float(dt), sf = is_float(stt);
    for_lanes(m, [&](int l) {
        if (!df && !sf) {                       // int -> int
            int64_t v = read_int(stt, a[l]);
            if (sat) {
                long double x = is_signed(stt) || type_bits(stt) < 64 ? static_cast<long double>(v)
                                                                     : static_cast<long double>(static_cast<uint64_t>(v));
                d[l] = clamp_int(dt, x);
            } else {
                uint32_t b = type_bits(dt);
                d[l] = b == 64 ? static_cast<uint64_t>(v) : static_cast<uint64_t>(v) & ((1ull << b) - 1);
            }
        } else if (!df) {                       // float -> int: saturating, NaN -> 0
            double v = round_integral(read_float(stt, a[l], ftz), irnd);
            d[l] = clamp_int(dt, v);
        } else if (!sf) {                       // int -> float
            int64_t v = read_int(stt, a[l]);
            int r = frnd < 0 ? fr_rn : frnd;
            int old = std::fegetround();
            if (r != fr_rn) std::fesetround(r == fr_rz ? FE_TOWARDZERO : r == fr_rm ? FE_DOWNWARD : FE_UPWARD);
            uint64_t out;
            if (dt == T::f64) out = st<double>(is_signed(stt) ? static_cast<double>(v) : static_cast<double>(static_cast<uint64_t>(v)));
            else if (dt == T::f32) out = st<float>(is_signed(stt) ? static_cast<float>(v) : static_cast<float>(static_cast<uint64_t>(v)));
            else {   // to f16/bf16: round once from the exact value (|v| < 2^53 for 16-bit targets that matter)
                if (r != fr_rn) std::fesetround(old);
                double x = is_signed(stt) ? static_cast<double>(v) : static_cast<double>(static_cast<uint64_t>(v));
                out = write_float(dt, x, r, false, false);
            }
            if (r != fr_rn) std::fesetround(old);
            d[l] = out;
        } else {                                // float -> float
            double v = read_float(stt, a[l], ftz);
            if (irnd) v = round_integral(v, irnd);
            d[l] = write_float(dt, v, frnd, ftz, sat);
        }
    });
}

// cvt.rn.f16x2.f32 d, a, b / cvt.rn.bf16x2.f32: d = {upper: cvt(a), lower: cvt(b)}
void cvt_x2_op(Warp& w, const Inst& in, uint32_t m) {
    const int frnd = static_cast<int>(in.imm & 0xff) - 1;
    const bool bf = in.type == T::bf16x2;
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t *a = reg(w, in.o[1]), *b = reg(w, in.o[2]);
    for_lanes(m, [&](int l) {
        float x = ld<float>(a[l]), y = ld<float>(b[l]);
        uint32_t hi = bf ? f32_to_bf16(x, frnd) : f32_to_f16(x, frnd);
        uint32_t lo = bf ? f32_to_bf16(y, frnd) : f32_to_f16(y, frnd);
        d[l] = (hi << 16) | lo;
    });
}

// Fast paths for the conversions our kernels execute most (same results as cvt_op).
void cvt_f32_f16(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t* a = reg(w, in.o[1]);
    for_lanes(m, [&](int l) { d[l] = st<float>(f16_to_f32(static_cast<uint16_t>(a[l]))); });
}
void cvt_f32_bf16(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t* a = reg(w, in.o[1]);
    for_lanes(m, [&](int l) { d[l] = (a[l] & 0xffffu) << 16; });
}
void cvt_f16_f32_rn(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t* a = reg(w, in.o[1]);
    for_lanes(m, [&](int l) { d[l] = f32_to_f16_rn(ld<float>(a[l])); });
}
// integer -> integer without .sat: o[2] = source bits, o[3] = destination bits, flags = source signed
void cvt_int_int(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t* a = reg(w, in.o[1]);
    const unsigned sh = 64 - in.o[2];
    const uint64_t mask = in.o[3] == 64 ? ~0ull : (1ull << in.o[3]) - 1;
    if (in.flags & 1) for_lanes(m, [&](int l) { d[l] = static_cast<uint64_t>(static_cast<int64_t>(a[l] << sh) >> sh) & mask; });
    else for_lanes(m, [&](int l) { d[l] = ((a[l] << sh) >> sh) & mask; });
}

bool decode_cvt(Decoder& d, const Stmt& s, Inst& in) {
    int frnd = -1, irnd = i_none;
    bool ftz = false, sat = false;
    std::vector<T> types;
    for (auto x : s.mods) {
        if (x == "rn") frnd = fr_rn;
        else if (x == "rz") frnd = fr_rz;
        else if (x == "rm") frnd = fr_rm;
        else if (x == "rp") frnd = fr_rp;
        else if (x == "rni") irnd = i_rni;
        else if (x == "rzi") irnd = i_rzi;
        else if (x == "rmi") irnd = i_rmi;
        else if (x == "rpi") irnd = i_rpi;
        else if (x == "ftz") ftz = true;
        else if (x == "sat") sat = true;
        else if (parse_type(x) != T::none) types.push_back(parse_type(x));
        else { d.fail("unsupported cvt qualifier ." + std::string(x)); return false; }
    }
    if (types.size() != 2) return false;
    T dt = types[0], stt = types[1];
    if (dt == T::pred || stt == T::pred) return false;
    in.imm = (frnd + 1) | (irnd << 8) | (ftz ? 1 << 16 : 0) | (sat ? 1 << 17 : 0);
    in.type = dt;
    if (dt == T::f16x2 || dt == T::bf16x2) {
        if (stt != T::f32 || frnd < 0 || irnd || s.ops.size() != 3) { d.fail("only cvt.rn/rz/rm/rp.f16x2/bf16x2.f32 d, a, b is supported"); return false; }
        in.o[0] = d.dst(s.ops[0]);
        in.o[1] = d.src(s.ops[1], T::f32);
        in.o[2] = d.src(s.ops[2], T::f32);
        in.fn = cvt_x2_op;
        return !d.failed();
    }
    if (dt == T::f16x2 || stt == T::f16x2 || stt == T::bf16x2) return false;
    bool df = is_float(dt), sf = is_float(stt);
    // PTX: float->float narrowing and int->float need a rounding modifier; float->int needs an integer rounding one
    if (df && sf && irnd && frnd >= 0) return false;
    if (!df && sf && irnd == i_none) { d.fail("float to integer cvt needs .rni/.rzi/.rmi/.rpi"); return false; }
    if (!sf && df && frnd < 0) { d.fail("integer to float cvt needs a rounding modifier"); return false; }
    if (!sf && !df && (frnd >= 0 || irnd)) return false;
    if (df && sf && type_bits(dt) < type_bits(stt) && frnd < 0) { d.fail("narrowing float cvt needs a rounding modifier"); return false; }
    if (df && sf && type_bits(dt) == type_bits(stt) && dt != stt) return false;
    in.n = static_cast<uint8_t>(stt);
    if (s.ops.size() != 2) return false;
    in.o[0] = d.dst(s.ops[0]);
    in.o[1] = d.src(s.ops[1], stt);
    in.fn = cvt_op;
    if (dt == T::f32 && stt == T::f16 && !ftz && !sat) in.fn = cvt_f32_f16;
    else if (dt == T::f32 && stt == T::bf16 && !ftz && !sat) in.fn = cvt_f32_bf16;
    else if (dt == T::f16 && stt == T::f32 && frnd == fr_rn && !ftz && !sat) in.fn = cvt_f16_f32_rn;
    else if (!df && !sf && !sat) {
        in.fn = cvt_int_int;
        in.o[2] = type_bits(stt);
        in.o[3] = type_bits(dt);
        in.flags = is_signed(stt) ? 1 : 0;
    }
    return !d.failed();
}

}  // namespace

void register_cvt_ops(OpTable& t) { t["cvt"] = decode_cvt; }

}  // namespace pdemu::ptx
