// Float family (f32, f64): add/sub/mul/fma/mad/div/rcp/sqrt with the rounding modifiers .rn/.rz/.rm/.rp, .ftz and
// .sat; min/max (NaN rules), abs/neg/copysign; the approximate ops ex2/lg2/rsqrt/sin/cos/tanh and div/rcp/sqrt
// .approx/.full. PTX ISA "Floating-Point Instructions".
//
// Directed rounding uses the host FPU's rounding mode (fesetround around the instruction; this file is compiled
// with -frounding-math), so results are the correctly rounded IEEE results PTX specifies. Approximate ops are
// computed with the host's libm (exp2f, log2f, sinf, cosf, tanhf, 1/sqrt in double), which is within the PTX ISA's
// stated maximum errors (ex2 2 ulp, rsqrt/rcp.approx 1 ulp, lg2/sin/cos absolute error bounds): docs/PTX.md.
// f32 results that are NaN are the canonical NaN 0x7fffffff, as on the GPU.
#include <cfenv>
#include <cmath>

#include "ptx/ir.h"

namespace pdemu::ptx {

namespace {

enum Rnd { rn, rz, rm, rp };

struct RoundGuard {
    int old = -1;
    explicit RoundGuard(int r) {
        if (r == rn) return;
        old = std::fegetround();
        std::fesetround(r == rz ? FE_TOWARDZERO : r == rm ? FE_DOWNWARD : FE_UPWARD);
    }
    ~RoundGuard() { if (old >= 0) std::fesetround(old); }
};

template <class V> inline V flush(V x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(V(0), x) : x; }

template <class V, bool FTZ, bool SAT> inline uint64_t out(V r) {
    if constexpr (SAT) r = std::isnan(r) ? V(0) : std::fmin(std::fmax(r, V(0)), V(1));
    if constexpr (FTZ) r = flush(r);
    if constexpr (std::is_same_v<V, float>) if (std::isnan(r)) return 0x7fffffffu;
    return st<V>(r);
}
template <class V, bool FTZ> inline V in_(uint64_t x) {
    V v = ld<V>(x);
    if constexpr (FTZ) v = flush(v);
    return v;
}

struct Add { template <class V> static V f(V a, V b) { return a + b; } };
struct Sub { template <class V> static V f(V a, V b) { return a - b; } };
struct Mul { template <class V> static V f(V a, V b) { return a * b; } };
struct Div { template <class V> static V f(V a, V b) { return a / b; } };
struct Fma { template <class V> static V f(V a, V b, V c) { return std::fma(a, b, c); } };
struct Rcp { template <class V> static V f(V a) { return V(1) / a; } };
struct Sqrt { template <class V> static V f(V a) { return std::sqrt(a); } };
struct Rsqrt { template <class V> static V f(V a) { return static_cast<V>(1.0 / std::sqrt(static_cast<double>(a))); } };
struct Ex2 { template <class V> static V f(V a) { return std::exp2(a); } };
struct Lg2 { template <class V> static V f(V a) { return std::log2(a); } };
struct Sin { template <class V> static V f(V a) { return std::sin(a); } };
struct Cos { template <class V> static V f(V a) { return std::cos(a); } };
struct Tanh { template <class V> static V f(V a) { return std::tanh(a); } };
struct Abs { template <class V> static V f(V a) { return std::fabs(a); } };
struct Neg { template <class V> static V f(V a) { return -a; } };

template <class V, int R, bool FTZ, bool SAT, class Op>
void fbin(Warp& w, const Inst& in, uint32_t m) {
    RoundGuard g(R);
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t *a = reg(w, in.o[1]), *b = reg(w, in.o[2]);
    for_lanes(m, [&](int l) { d[l] = out<V, FTZ, SAT>(Op::f(in_<V, FTZ>(a[l]), in_<V, FTZ>(b[l]))); });
}
template <class V, int R, bool FTZ, bool SAT, class Op>
void ftri(Warp& w, const Inst& in, uint32_t m) {
    RoundGuard g(R);
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t *a = reg(w, in.o[1]), *b = reg(w, in.o[2]), *c = reg(w, in.o[3]);
    for_lanes(m, [&](int l) { d[l] = out<V, FTZ, SAT>(Op::f(in_<V, FTZ>(a[l]), in_<V, FTZ>(b[l]), in_<V, FTZ>(c[l]))); });
}
template <class V, int R, bool FTZ, bool SAT, class Op>
void fun(Warp& w, const Inst& in, uint32_t m) {
    RoundGuard g(R);
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t* a = reg(w, in.o[1]);
    for_lanes(m, [&](int l) { d[l] = out<V, FTZ, SAT>(Op::f(in_<V, FTZ>(a[l]))); });
}
// abs/neg: sign-bit operations (NaN payload kept), .ftz flushes
template <class V, bool FTZ, bool NEG>
void fsign(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t* a = reg(w, in.o[1]);
    constexpr uint64_t sign = sizeof(V) == 4 ? 0x80000000ull : 0x8000000000000000ull;
    for_lanes(m, [&](int l) {
        uint64_t x = st<V>(in_<V, FTZ>(a[l]));
        d[l] = NEG ? x ^ sign : x & ~sign;
    });
}
// min/max: a NaN operand yields the other; both NaN (or any NaN with .NaN) yields the canonical NaN; -0 < +0.
template <class V, bool MAX, bool FTZ, bool NANP>
void fminmax(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t *a = reg(w, in.o[1]), *b = reg(w, in.o[2]);
    for_lanes(m, [&](int l) {
        V x = in_<V, FTZ>(a[l]), y = in_<V, FTZ>(b[l]);
        V r;
        bool nx = std::isnan(x), ny = std::isnan(y);
        if (nx || ny) {
            if (NANP || (nx && ny)) { d[l] = sizeof(V) == 4 ? 0x7fffffffull : 0x7fffffffffffffffull; return; }
            r = nx ? y : x;
        } else if (x == y) {
            bool sx = std::signbit(x);
            r = MAX ? (sx ? y : x) : (sx ? x : y);
        } else {
            r = MAX ? (x > y ? x : y) : (x < y ? x : y);
        }
        d[l] = st<V>(r);
    });
}
template <class V>
void fcopysign(Warp& w, const Inst& in, uint32_t m) {   // d = b with the sign of a
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t *a = reg(w, in.o[1]), *b = reg(w, in.o[2]);
    for_lanes(m, [&](int l) { d[l] = st<V>(std::copysign(ld<V>(b[l]), ld<V>(a[l]))); });
}

template <template <class, int, bool, bool, class> class K, class Op, class V>
ExecFn pick_v(int r, bool ftz, bool sat) {
#define PDEMU_R(R) \
    if (r == R) return ftz ? (sat ? K<V, R, true, true, Op>::fn : K<V, R, true, false, Op>::fn) \
                           : (sat ? K<V, R, false, true, Op>::fn : K<V, R, false, false, Op>::fn);
    PDEMU_R(rn) PDEMU_R(rz) PDEMU_R(rm) PDEMU_R(rp)
#undef PDEMU_R
    return nullptr;
}
template <class V, int R, bool F, bool S, class Op> struct Bin { static constexpr ExecFn fn = fbin<V, R, F, S, Op>; };
template <class V, int R, bool F, bool S, class Op> struct Tri { static constexpr ExecFn fn = ftri<V, R, F, S, Op>; };
template <class V, int R, bool F, bool S, class Op> struct Un { static constexpr ExecFn fn = fun<V, R, F, S, Op>; };

template <template <class, int, bool, bool, class> class K, class Op>
ExecFn pick(T t, int r, bool ftz, bool sat) {
    if (t == T::f32) return pick_v<K, Op, float>(r, ftz, sat);
    if (t == T::f64 && !ftz && !sat) return pick_v<K, Op, double>(r, false, false);
    return nullptr;
}

struct Mods {
    int rnd = -1;
    bool ftz = false, sat = false, approx = false, full = false, nan = false;
    T t = T::none;
    bool ok = true;
};
Mods mods_of(const Stmt& s) {
    Mods m;
    for (auto x : s.mods) {
        if (x == "rn") m.rnd = rn;
        else if (x == "rz") m.rnd = rz;
        else if (x == "rm") m.rnd = rm;
        else if (x == "rp") m.rnd = rp;
        else if (x == "ftz") m.ftz = true;
        else if (x == "sat") m.sat = true;
        else if (x == "approx") m.approx = true;
        else if (x == "full") m.full = true;
        else if (x == "NaN") m.nan = true;
        else if (parse_type(x) != T::none) m.t = parse_type(x);
        else m.ok = false;
    }
    return m;
}

bool operands(Decoder& d, const Stmt& s, Inst& in, size_t n, T t) {
    if (s.ops.size() != n) return false;
    in.o[0] = d.dst(s.ops[0]);
    for (size_t i = 1; i < n; ++i) in.o[i] = d.src(s.ops[i], t);
    return !d.failed();
}

}  // namespace

bool decode_float_arith(Decoder& d, const Stmt& s, Inst& in) {
    Mods m = mods_of(s);
    std::string_view op = s.base;
    if (m.t == T::f16 || m.t == T::f16x2 || m.t == T::bf16 || m.t == T::bf16x2) return decode_half_arith(d, s, in);
    if (!m.ok || (m.t != T::f32 && m.t != T::f64)) {
        d.fail("only f32/f64 forms of " + std::string(op) + " are supported");
        return false;
    }
    T t = m.t;
    in.type = t;
    int r = m.rnd < 0 ? rn : m.rnd;
    if (op == "add" || op == "sub" || op == "mul") {
        if (m.approx || m.full || m.nan) return false;
        in.fn = op == "add" ? pick<Bin, Add>(t, r, m.ftz, m.sat) : op == "sub" ? pick<Bin, Sub>(t, r, m.ftz, m.sat)
                                                                : pick<Bin, Mul>(t, r, m.ftz, m.sat);
        return in.fn && operands(d, s, in, 3, t);
    }
    if (op == "mad" || op == "fma") {   // mad.f32 with a rounding modifier is fma (sm_20+)
        if (m.rnd < 0 || m.approx || m.full || m.nan) { d.fail("fma/mad need a rounding modifier"); return false; }
        in.fn = pick<Tri, Fma>(t, r, m.ftz, m.sat);
        return in.fn && operands(d, s, in, 4, t);
    }
    if (op == "div") {
        if (m.sat || m.nan) return false;
        if ((m.approx || m.full) && (t != T::f32 || m.rnd >= 0)) return false;
        if (!m.approx && !m.full && m.rnd < 0) { d.fail("div.f32/f64 needs .approx, .full or a rounding modifier"); return false; }
        in.fn = pick<Bin, Div>(t, r, m.ftz, false);
        return in.fn && operands(d, s, in, 3, t);
    }
    if (op == "min" || op == "max") {
        if (m.rnd >= 0 || m.sat || m.approx) return false;
        bool mx = op == "max";
        if (t == T::f32) {
            in.fn = mx ? (m.ftz ? (m.nan ? fminmax<float, true, true, true> : fminmax<float, true, true, false>)
                                : (m.nan ? fminmax<float, true, false, true> : fminmax<float, true, false, false>))
                       : (m.ftz ? (m.nan ? fminmax<float, false, true, true> : fminmax<float, false, true, false>)
                                : (m.nan ? fminmax<float, false, false, true> : fminmax<float, false, false, false>));
        } else {
            if (m.ftz || m.nan) return false;
            in.fn = mx ? fminmax<double, true, false, false> : fminmax<double, false, false, false>;
        }
        return operands(d, s, in, 3, t);
    }
    if (op == "abs" || op == "neg") {
        if (m.rnd >= 0 || m.sat || m.approx || m.nan) return false;
        bool neg = op == "neg";
        if (t == T::f32) in.fn = neg ? (m.ftz ? fsign<float, true, true> : fsign<float, false, true>)
                                     : (m.ftz ? fsign<float, true, false> : fsign<float, false, false>);
        else if (!m.ftz) in.fn = neg ? fsign<double, false, true> : fsign<double, false, false>;
        return in.fn && operands(d, s, in, 2, t);
    }
    return false;
}

namespace {

bool decode_unary(Decoder& d, const Stmt& s, Inst& in) {
    Mods m = mods_of(s);
    std::string_view op = s.base;
    if (!m.ok || (m.t != T::f32 && m.t != T::f64) || m.nan || m.full) return false;
    T t = m.t;
    int r = m.rnd < 0 ? rn : m.rnd;
    if (op == "rcp" || op == "sqrt") {
        if (m.approx == (m.rnd >= 0)) { d.fail(std::string(op) + " needs exactly one of .approx or a rounding modifier"); return false; }
        if (m.approx && t == T::f64 && op == "sqrt") return false;
        in.fn = op == "rcp" ? pick<Un, Rcp>(t, r, m.ftz, false) : pick<Un, Sqrt>(t, r, m.ftz, false);
        return in.fn && operands(d, s, in, 2, t);
    }
    if (!m.approx || m.rnd >= 0 || m.sat) { d.fail(std::string(op) + " exists only as .approx"); return false; }
    if (op == "rsqrt") in.fn = pick<Un, Rsqrt>(t, rn, m.ftz && t == T::f32, false);
    else if (t != T::f32) return false;
    else if (op == "ex2") in.fn = pick<Un, Ex2>(t, rn, m.ftz, false);
    else if (op == "lg2") in.fn = pick<Un, Lg2>(t, rn, m.ftz, false);
    else if (op == "sin") in.fn = pick<Un, Sin>(t, rn, m.ftz, false);
    else if (op == "cos") in.fn = pick<Un, Cos>(t, rn, m.ftz, false);
    else if (op == "tanh") in.fn = pick<Un, Tanh>(t, rn, false, false);
    return in.fn && operands(d, s, in, 2, t);
}

bool decode_copysign(Decoder& d, const Stmt& s, Inst& in) {
    T t = s.type();
    if (s.mods.size() != 1 || (t != T::f32 && t != T::f64)) return false;
    in.fn = t == T::f32 ? fcopysign<float> : fcopysign<double>;
    return operands(d, s, in, 3, t);
}

}  // namespace

void register_float_ops(OpTable& t) {
    t["fma"] = decode_float_arith;
    for (auto op : {"rcp", "sqrt", "rsqrt", "ex2", "lg2", "sin", "cos", "tanh"}) t[op] = decode_unary;
    t["copysign"] = decode_copysign;
}

}  // namespace pdemu::ptx
