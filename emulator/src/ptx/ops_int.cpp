// Integer family: add/sub/mul/mad (lo, hi, wide, sat), div/rem, min/max/abs/neg, logic on bits and predicates,
// shifts, bit-field ops (bfe/bfi/popc/clz/brev), mov (incl. packing into/out of vectors).
// Semantics follow the PTX ISA "Integer Arithmetic Instructions" and "Logic and Shift Instructions" sections.
// Division by zero is unspecified in PTX; here a quotient by zero is all ones and a remainder by zero is the
// dividend (so the host never traps).
#include <algorithm>
#include <limits>

#include "ptx/ir.h"

namespace pdemu::ptx {

namespace {

template <class V, class F>
void bin(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t *a = reg(w, in.o[1]), *b = reg(w, in.o[2]);
    for_lanes(m, [&](int l) { d[l] = st<V>(F::f(ld<V>(a[l]), ld<V>(b[l]))); });
}
template <class V, class F>
void un(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t* a = reg(w, in.o[1]);
    for_lanes(m, [&](int l) { d[l] = st<V>(F::f(ld<V>(a[l]))); });
}
template <class V, class F>
void tri(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t *a = reg(w, in.o[1]), *b = reg(w, in.o[2]), *c = reg(w, in.o[3]);
    for_lanes(m, [&](int l) { d[l] = F::f(ld<V>(a[l]), ld<V>(b[l]), c[l]); });
}

template <class V> using U = std::make_unsigned_t<V>;
template <class V> struct Wide { using type = int64_t; };
template <> struct Wide<uint16_t> { using type = uint32_t; };
template <> struct Wide<int16_t> { using type = int32_t; };
template <> struct Wide<uint32_t> { using type = uint64_t; };
template <> struct Wide<int32_t> { using type = int64_t; };
template <> struct Wide<uint64_t> { using type = unsigned __int128; };
template <> struct Wide<int64_t> { using type = __int128; };
template <class V> using W = typename Wide<V>::type;

template <class V> struct Add { static V f(V a, V b) { return static_cast<V>(static_cast<U<V>>(a) + static_cast<U<V>>(b)); } };
template <class V> struct Sub { static V f(V a, V b) { return static_cast<V>(static_cast<U<V>>(a) - static_cast<U<V>>(b)); } };
template <class V> struct AddSat { static V f(V a, V b) {
    int64_t r = static_cast<int64_t>(a) + b;
    return static_cast<V>(std::clamp<int64_t>(r, std::numeric_limits<V>::min(), std::numeric_limits<V>::max())); } };
template <class V> struct SubSat { static V f(V a, V b) {
    int64_t r = static_cast<int64_t>(a) - b;
    return static_cast<V>(std::clamp<int64_t>(r, std::numeric_limits<V>::min(), std::numeric_limits<V>::max())); } };
template <class V> struct MulLo { static V f(V a, V b) { return static_cast<V>(static_cast<U<V>>(a) * static_cast<U<V>>(b)); } };
template <class V> struct MulHi { static V f(V a, V b) {
    return static_cast<V>((static_cast<W<V>>(a) * static_cast<W<V>>(b)) >> (8 * sizeof(V))); } };
template <class V> struct Div { static V f(V a, V b) {
    if (b == 0) return static_cast<V>(~U<V>(0));
    if constexpr (std::is_signed_v<V>) if (a == std::numeric_limits<V>::min() && b == -1) return a;
    return a / b; } };
template <class V> struct Rem { static V f(V a, V b) {
    if (b == 0) return a;
    if constexpr (std::is_signed_v<V>) if (b == -1) return 0;
    return a % b; } };
template <class V> struct Min { static V f(V a, V b) { return a < b ? a : b; } };
template <class V> struct Max { static V f(V a, V b) { return a > b ? a : b; } };
template <class V> struct And { static V f(V a, V b) { return a & b; } };
template <class V> struct Or { static V f(V a, V b) { return a | b; } };
template <class V> struct Xor { static V f(V a, V b) { return a ^ b; } };
template <class V> struct Not { static V f(V a) { return static_cast<V>(~a); } };
struct NotPred { static uint8_t f(uint8_t a) { return (a & 1) ^ 1; } };
template <class V> struct CNot { static V f(V a) { return a == 0 ? 1 : 0; } };
template <class V> struct Neg { static V f(V a) { return static_cast<V>(U<V>(0) - static_cast<U<V>>(a)); } };
template <class V> struct Abs { static V f(V a) { return a < 0 ? Neg<V>::f(a) : a; } };
template <class V> struct Popc { static V f(V a) { return static_cast<V>(std::popcount(static_cast<U<V>>(a))); } };
template <class V> struct Clz { static V f(V a) { return static_cast<V>(std::countl_zero(static_cast<U<V>>(a))); } };
template <class V> struct Brev { static V f(V a) {
    U<V> x = static_cast<U<V>>(a), r = 0;
    for (unsigned i = 0; i < 8 * sizeof(V); ++i) if (x >> i & 1) r |= U<V>(1) << (8 * sizeof(V) - 1 - i);
    return static_cast<V>(r); } };
// shifts: the amount is .u32 and clamps (shl/shr.u by >= width give 0, shr.s fills with the sign)
template <class V> struct Shl { static V f(V a, V bv) { uint32_t b = static_cast<uint32_t>(bv);
    return b >= 8 * sizeof(V) ? V(0) : static_cast<V>(static_cast<U<V>>(a) << b); } };
template <class V> struct Shr { static V f(V a, V bv) { uint32_t b = static_cast<uint32_t>(bv);
    if (b >= 8 * sizeof(V)) return std::is_signed_v<V> && a < 0 ? V(-1) : V(0);
    return static_cast<V>(a >> b); } };
// mad.lo d = a*b+c; the third operand is a raw register (c read at width V)
template <class V> struct MadLo { static uint64_t f(V a, V b, uint64_t c) {
    return st<V>(static_cast<V>(static_cast<U<V>>(a) * static_cast<U<V>>(b) + static_cast<U<V>>(ld<V>(c)))); } };
template <class V> struct MadHi { static uint64_t f(V a, V b, uint64_t c) {
    return st<V>(static_cast<V>(static_cast<U<V>>(MulHi<V>::f(a, b)) + static_cast<U<V>>(ld<V>(c)))); } };
template <class V> struct MulWide { static uint64_t f(V a, V b, uint64_t) {
    return st<W<V>>(static_cast<W<V>>(a) * static_cast<W<V>>(b)); } };
template <class V> struct MadWide { static uint64_t f(V a, V b, uint64_t c) {
    using WU = std::make_unsigned_t<W<V>>;
    return st<W<V>>(static_cast<W<V>>(static_cast<WU>(static_cast<W<V>>(a) * static_cast<W<V>>(b)) + static_cast<WU>(ld<W<V>>(c)))); } };
// bfe d, a, pos, len (pos and len: low 8 bits of .u32 operands)
template <class V> struct Bfe { static uint64_t f(V a, V bv, uint64_t cv) {
    constexpr uint32_t bits = 8 * sizeof(V);
    uint32_t pos = static_cast<uint32_t>(bv) & 0xff, len = static_cast<uint32_t>(cv) & 0xff;
    bool sbit = false;
    if constexpr (std::is_signed_v<V>) sbit = len == 0 ? false : ((a >> std::min(pos + len - 1, bits - 1)) & 1);
    U<V> r = 0;
    for (uint32_t i = 0; i < bits; ++i) {
        bool bit = i < len && pos + i < bits ? (static_cast<U<V>>(a) >> (pos + i)) & 1 : sbit;
        if (i >= len) bit = sbit;
        r |= static_cast<U<V>>(bit) << i;
    }
    return st<V>(static_cast<V>(r)); } };

template <class V> void bfi_op(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t *a = reg(w, in.o[1]), *b = reg(w, in.o[2]), *c = reg(w, in.o[3]), *e = reg(w, in.o[4]);
    constexpr uint32_t bits = 8 * sizeof(V);
    for_lanes(m, [&](int l) {
        uint32_t pos = static_cast<uint32_t>(c[l]) & 0xff, len = static_cast<uint32_t>(e[l]) & 0xff;
        V r = static_cast<V>(b[l]);
        for (uint32_t i = 0; i < len && pos + i < bits; ++i) {
            V bit = static_cast<V>((a[l] >> i) & 1);
            r = static_cast<V>((r & ~(V(1) << (pos + i))) | (bit << (pos + i)));
        }
        d[l] = st<V>(r);
    });
}

void mov_op(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t* a = reg(w, in.o[1]);
    for_lanes(m, [&](int l) { d[l] = a[l]; });
}
// pack: o[0] = {o[1..n]} with elements of `size` bytes, element 0 in the low bits
void pack_op(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint32_t bits = in.size * 8;
    const uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
    for_lanes(m, [&](int l) {
        uint64_t v = 0;
        for (uint32_t e = 0; e < in.n; ++e) v |= (reg(w, in.o[1 + e])[l] & mask) << (e * bits);
        d[l] = v;
    });
}
// unpack: {o[0..n-1]} = o[8]
void unpack_op(Warp& w, const Inst& in, uint32_t m) {
    const uint64_t* a = reg(w, in.o[8]);
    const uint32_t bits = in.size * 8;
    const uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
    for_lanes(m, [&](int l) {
        uint64_t v = a[l];
        for (uint32_t e = 0; e < in.n; ++e) reg(w, in.o[e])[l] = (v >> (e * bits)) & mask;
    });
}

template <template <class> class F, template <class, class> class Shape>
ExecFn by_type(T t) {
    switch (t) {
        case T::u16: case T::b16: return Shape<uint16_t, F<uint16_t>>::fn;
        case T::s16: return Shape<int16_t, F<int16_t>>::fn;
        case T::u32: case T::b32: return Shape<uint32_t, F<uint32_t>>::fn;
        case T::s32: return Shape<int32_t, F<int32_t>>::fn;
        case T::u64: case T::b64: return Shape<uint64_t, F<uint64_t>>::fn;
        case T::s64: return Shape<int64_t, F<int64_t>>::fn;
        case T::pred: return Shape<uint8_t, F<uint8_t>>::fn;
        default: return nullptr;
    }
}
template <class V, class F> struct BinS { static constexpr ExecFn fn = bin<V, F>; };
template <class V, class F> struct UnS { static constexpr ExecFn fn = un<V, F>; };
template <class V, class F> struct TriS { static constexpr ExecFn fn = tri<V, F>; };

bool operands(Decoder& d, const Stmt& s, Inst& in, size_t n, T t) {
    if (s.ops.size() != n) { d.fail("expected " + std::to_string(n) + " operands"); return false; }
    in.o[0] = d.dst(s.ops[0]);
    for (size_t i = 1; i < n; ++i) in.o[i] = d.src(s.ops[i], t);
    return !d.failed();
}

bool decode_int(Decoder& d, const Stmt& s, Inst& in) {
    T t = s.type();
    if (is_float(t)) return decode_float_arith(d, s, in);
    std::string_view op = s.base;
    bool hi = s.has("hi"), wide = s.has("wide"), sat = s.has("sat");
    bool sgn = is_signed(t);
    in.type = t;
    if (t == T::pred && op != "and" && op != "or" && op != "xor" && op != "not") return false;
    if (op == "add" || op == "sub") {
        if (sat) {
            if (t != T::s32) return false;
            in.fn = op == "add" ? bin<int32_t, AddSat<int32_t>> : bin<int32_t, SubSat<int32_t>>;
        } else {
            in.fn = op == "add" ? by_type<Add, BinS>(t) : by_type<Sub, BinS>(t);
        }
        return in.fn && operands(d, s, in, 3, t);
    }
    if (op == "mul" || op == "mad") {
        bool mad = op == "mad";
        T ct = t;
        if (wide) {
            if (type_bits(t) == 64) return false;
            in.fn = mad ? by_type<MadWide, TriS>(t) : by_type<MulWide, TriS>(t);
            ct = static_cast<T>(static_cast<int>(t) + 1);   // u16 -> u32, u32 -> u64, s16 -> s32, s32 -> s64
        } else if (hi) {
            in.fn = mad ? by_type<MadHi, TriS>(t) : by_type<MulHi, BinS>(t);
        } else if (s.has("lo")) {
            in.fn = mad ? by_type<MadLo, TriS>(t) : by_type<MulLo, BinS>(t);
        } else {
            return false;
        }
        if (sat) return false;
        if (!in.fn) return false;
        if (!mad) {
            if (!operands(d, s, in, 3, t)) return false;
            in.o[3] = in.o[0];
            return true;
        }
        if (s.ops.size() != 4) return false;
        in.o[0] = d.dst(s.ops[0]);
        in.o[1] = d.src(s.ops[1], t);
        in.o[2] = d.src(s.ops[2], t);
        in.o[3] = d.src(s.ops[3], ct);
        return !d.failed();
    }
    if (op == "div") { in.fn = by_type<Div, BinS>(t); return in.fn && operands(d, s, in, 3, t); }
    if (op == "rem") { in.fn = by_type<Rem, BinS>(t); return in.fn && operands(d, s, in, 3, t); }
    if (op == "min") { in.fn = by_type<Min, BinS>(t); return in.fn && !s.has("relu") && operands(d, s, in, 3, t); }
    if (op == "max") { in.fn = by_type<Max, BinS>(t); return in.fn && !s.has("relu") && operands(d, s, in, 3, t); }
    if (op == "and") { in.fn = by_type<And, BinS>(t); return in.fn && operands(d, s, in, 3, t); }
    if (op == "or") { in.fn = by_type<Or, BinS>(t); return in.fn && operands(d, s, in, 3, t); }
    if (op == "xor") { in.fn = by_type<Xor, BinS>(t); return in.fn && operands(d, s, in, 3, t); }
    if (op == "not") { in.fn = t == T::pred ? un<uint8_t, NotPred> : by_type<Not, UnS>(t); return in.fn && operands(d, s, in, 2, t); }
    if (op == "cnot") { in.fn = by_type<CNot, UnS>(t); return in.fn && operands(d, s, in, 2, t); }
    if (op == "neg") { in.fn = sgn ? by_type<Neg, UnS>(t) : nullptr; return in.fn && operands(d, s, in, 2, t); }
    if (op == "abs") { in.fn = sgn ? by_type<Abs, UnS>(t) : nullptr; return in.fn && operands(d, s, in, 2, t); }
    if (op == "popc" || op == "clz" || op == "brev") {
        if (type_bits(t) < 32) return false;
        in.fn = op == "popc" ? by_type<Popc, UnS>(t) : op == "clz" ? by_type<Clz, UnS>(t) : by_type<Brev, UnS>(t);
        if (op != "brev" && type_bits(t) == 64) {   // result is .u32
            in.fn = op == "popc" ? un<uint64_t, Popc<uint64_t>> : un<uint64_t, Clz<uint64_t>>;
        }
        return in.fn && operands(d, s, in, 2, t);
    }
    if (op == "shl" || op == "shr") {
        if (s.ops.size() != 3 || type_bits(t) < 16) return false;
        in.fn = op == "shl" ? by_type<Shl, BinS>(t) : by_type<Shr, BinS>(t);
        in.o[0] = d.dst(s.ops[0]);
        in.o[1] = d.src(s.ops[1], t);
        in.o[2] = d.src(s.ops[2], T::u32);
        return in.fn && !d.failed();
    }
    if (op == "bfe") {
        if (s.ops.size() != 4 || type_bits(t) < 32) return false;
        in.fn = by_type<Bfe, TriS>(t);
        in.o[0] = d.dst(s.ops[0]);
        in.o[1] = d.src(s.ops[1], t);
        in.o[2] = d.src(s.ops[2], T::u32);
        in.o[3] = d.src(s.ops[3], T::u32);
        return in.fn && !d.failed();
    }
    if (op == "bfi") {
        if (s.ops.size() != 5) return false;
        if (type_bits(t) == 32) in.fn = bfi_op<uint32_t>;
        else if (type_bits(t) == 64) in.fn = bfi_op<uint64_t>;
        else return false;
        in.o[0] = d.dst(s.ops[0]);
        in.o[1] = d.src(s.ops[1], t);
        in.o[2] = d.src(s.ops[2], t);
        in.o[3] = d.src(s.ops[3], T::u32);
        in.o[4] = d.src(s.ops[4], T::u32);
        return !d.failed();
    }
    return false;
}

bool decode_mov(Decoder& d, const Stmt& s, Inst& in) {
    T t = s.type();
    if (t == T::none || s.ops.size() != 2 || s.mods.size() != 1) return false;
    const POperand &a = s.ops[0], &b = s.ops[1];
    if (b.kind == POperand::vec) {          // pack
        size_t n = b.elems.size();
        if (n < 2 || n > 8 || type_bits(t) % n) return false;
        in.n = static_cast<uint8_t>(n);
        in.size = static_cast<uint8_t>(type_bits(t) / n / 8);
        T et = in.size == 1 ? T::b8 : in.size == 2 ? T::b16 : in.size == 4 ? T::b32 : T::none;
        in.o[0] = d.dst(a);
        for (size_t e = 0; e < n; ++e) in.o[1 + e] = d.src(b.elems[e], et);
        in.fn = pack_op;
        return !d.failed();
    }
    if (a.kind == POperand::vec) {          // unpack
        size_t n = a.elems.size();
        if (n < 2 || n > 8 || type_bits(t) % n) return false;
        in.n = static_cast<uint8_t>(n);
        in.size = static_cast<uint8_t>(type_bits(t) / n / 8);
        for (size_t e = 0; e < n; ++e) in.o[e] = d.dst(a.elems[e]);
        in.o[8] = d.src(b, t);
        in.fn = unpack_op;
        return !d.failed();
    }
    in.o[0] = d.dst(a);
    in.o[1] = d.src(b, t);
    in.fn = mov_op;
    return !d.failed();
}

}  // namespace

void register_int_ops(OpTable& t) {
    for (auto op : {"add", "sub", "mul", "mad", "div", "rem", "min", "max", "and", "or", "xor", "not", "cnot", "neg",
                    "abs", "popc", "clz", "brev", "shl", "shr", "bfe", "bfi"})
        t[op] = decode_int;
    t["mov"] = decode_mov;
}

}  // namespace pdemu::ptx
