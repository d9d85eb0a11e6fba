// Comparison and selection: setp (integer and float, ordered and unordered comparisons, optional boolean
// combination with a third predicate and the complementary `p|q` destination) and selp.
// PTX ISA "Comparison and Selection Instructions": ordered float comparisons (eq, ne, lt, ...) are false when
// either operand is NaN; the unordered ones (equ, neu, ltu, ...) are true then; num/nan test for NaN.
#include <cmath>

#include "ptx/ir.h"

namespace pdemu::ptx {

namespace {

enum Cmp { eq, ne, lt, le, gt, ge, equ, neu, ltu, leu, gtu, geu, num, nan_ };
enum Bool { b_none, b_and, b_or, b_xor };

template <class V, int C> inline bool cmp(V a, V b) {
    if constexpr (std::is_floating_point_v<V>) {
        bool un = std::isnan(a) || std::isnan(b);
        switch (C) {
            case eq: return !un && a == b;
            case ne: return !un && a != b;
            case lt: return !un && a < b;
            case le: return !un && a <= b;
            case gt: return !un && a > b;
            case ge: return !un && a >= b;
            case equ: return un || a == b;
            case neu: return un || a != b;
            case ltu: return un || a < b;
            case leu: return un || a <= b;
            case gtu: return un || a > b;
            case geu: return un || a >= b;
            case num: return !un;
            default: return un;
        }
    } else {
        switch (C) {
            case eq: return a == b;
            case ne: return a != b;
            case lt: return a < b;
            case le: return a <= b;
            case gt: return a > b;
            default: return a >= b;
        }
    }
}

// o: 0 p, 1 q (or sink), 2 a, 3 b, 4 c (predicate, flags&4: negated); flags&3: boolean op
template <class V, int C>
void setp_op(Warp& w, const Inst& in, uint32_t m) {
    uint64_t *p = reg(w, in.o[0]), *q = reg(w, in.o[1]);
    const uint64_t *a = reg(w, in.o[2]), *b = reg(w, in.o[3]), *c = reg(w, in.o[4]);
    const int bop = in.flags & 3;
    const uint64_t cneg = (in.flags >> 2) & 1;
    for_lanes(m, [&](int l) {
        uint64_t t = cmp<V, C>(ld<V>(a[l]), ld<V>(b[l])) ? 1 : 0;
        uint64_t cv = (c[l] & 1) ^ cneg;
        uint64_t r = t, rq = t ^ 1;
        if (bop == b_and) { r = t & cv; rq = (t ^ 1) & cv; }
        else if (bop == b_or) { r = t | cv; rq = (t ^ 1) | cv; }
        else if (bop == b_xor) { r = t ^ cv; rq = (t ^ 1) ^ cv; }
        p[l] = r;
        q[l] = rq;
    });
}

template <class V>
ExecFn setp_for(int c) {
    switch (c) {
        case eq: return setp_op<V, eq>;
        case ne: return setp_op<V, ne>;
        case lt: return setp_op<V, lt>;
        case le: return setp_op<V, le>;
        case gt: return setp_op<V, gt>;
        case ge: return setp_op<V, ge>;
        case equ: return setp_op<V, equ>;
        case neu: return setp_op<V, neu>;
        case ltu: return setp_op<V, ltu>;
        case leu: return setp_op<V, leu>;
        case gtu: return setp_op<V, gtu>;
        case geu: return setp_op<V, geu>;
        case num: return setp_op<V, num>;
        default: return setp_op<V, nan_>;
    }
}

bool decode_setp(Decoder& d, const Stmt& s, Inst& in) {
    static const std::pair<std::string_view, int> names[] = {
        {"eq", eq}, {"ne", ne}, {"lt", lt}, {"le", le}, {"gt", gt}, {"ge", ge}, {"lo", lt}, {"ls", le},
        {"hi", gt}, {"hs", ge}, {"equ", equ}, {"neu", neu}, {"ltu", ltu}, {"leu", leu}, {"gtu", gtu},
        {"geu", geu}, {"num", num}, {"nan", nan_}};
    T t = s.type();
    int c = -1, bop = b_none;
    bool ftz = false;
    for (auto m : s.mods) {
        for (auto& [n, v] : names) if (n == m) c = v;
        if (m == "and") bop = b_and;
        else if (m == "or") bop = b_or;
        else if (m == "xor") bop = b_xor;
        else if (m == "ftz") ftz = true;
    }
    if (c < 0 || t == T::none) return false;
    bool fl = t == T::f32 || t == T::f64;
    if (is_float(t) && !fl) { d.fail("setp on f16/bf16 is not supported"); return false; }
    if (!fl && c >= equ) return false;
    bool unsig = !is_signed(t) && !fl;
    auto mod_is = [&](std::string_view x) { return s.has(x); };
    if (mod_is("lo") || mod_is("ls") || mod_is("hi") || mod_is("hs")) unsig = true;
    switch (t) {
        case T::f32: in.fn = setp_for<float>(c); break;
        case T::f64: in.fn = setp_for<double>(c); break;
        case T::s16: in.fn = setp_for<int16_t>(c); break;
        case T::s32: in.fn = setp_for<int32_t>(c); break;
        case T::s64: in.fn = setp_for<int64_t>(c); break;
        default:
            if (!unsig) return false;
            if (type_bits(t) == 16) in.fn = setp_for<uint16_t>(c);
            else if (type_bits(t) == 32) in.fn = setp_for<uint32_t>(c);
            else if (type_bits(t) == 64) in.fn = setp_for<uint64_t>(c);
            else return false;
    }
    if ((t == T::b16 || t == T::b32 || t == T::b64) && c != eq && c != ne) return false;
    if (ftz && t != T::f32) return false;
    // .ftz: subnormal inputs compare as zero, which only changes results for subnormals; apply by flushing.
    if (ftz) { d.fail("setp.ftz is not supported"); return false; }
    size_t nops = bop == b_none ? 3 : 4;
    if (s.ops.size() != nops) return false;
    const POperand& dst = s.ops[0];
    if (dst.kind != POperand::reg) return false;
    in.o[0] = d.dst(dst);
    in.o[1] = dst.r2 != kNoReg ? dst.r2 : static_cast<uint32_t>(sp_sink);
    in.o[2] = d.src(s.ops[1], t);
    in.o[3] = d.src(s.ops[2], t);
    if (bop != b_none) {
        const POperand& c3 = s.ops[3];
        if (c3.kind != POperand::reg || c3.rtype != T::pred) { d.fail("boolean operand must be a predicate"); return false; }
        in.o[4] = c3.r;
        if (c3.name == "!") in.flags |= 4;
    } else {
        in.o[4] = sp_zero;
    }
    in.flags |= static_cast<uint8_t>(bop);
    return !d.failed();
}

void selp_op(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t *a = reg(w, in.o[1]), *b = reg(w, in.o[2]), *c = reg(w, in.o[3]);
    for_lanes(m, [&](int l) { d[l] = (c[l] & 1) ? a[l] : b[l]; });
}

bool decode_selp(Decoder& d, const Stmt& s, Inst& in) {
    T t = s.type();
    if (t == T::none || t == T::pred || s.ops.size() != 4) return false;
    in.o[0] = d.dst(s.ops[0]);
    in.o[1] = d.src(s.ops[1], t);
    in.o[2] = d.src(s.ops[2], t);
    if (s.ops[3].kind != POperand::reg || s.ops[3].rtype != T::pred) { d.fail("selp needs a predicate"); return false; }
    in.o[3] = s.ops[3].r;
    in.fn = selp_op;
    return !d.failed();
}

}  // namespace

void register_compare_ops(OpTable& t) {
    t["setp"] = decode_setp;
    t["selp"] = decode_selp;
}

}  // namespace pdemu::ptx
