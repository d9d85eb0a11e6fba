// Atomics: atom and red on global, shared and generic addresses (.add .min .max .inc .dec .and .or .xor .exch .cas;
// .b32/.b64/.u32/.u64/.s32/.s64/.f32/.f64 as the PTX ISA allows each). Lanes of a warp apply their operations one
// after another; global atomics are host atomics (std::atomic_ref) so blocks on several host threads stay atomic.
// Shared memory belongs to one block, which one host thread runs, so plain read-modify-write is atomic there.
// Atomic accesses are not recorded by racecheck (atomics do not race with each other). atom.add.f32 flushes
// subnormals as the ISA says; other float atomics keep them.
#include <atomic>
#include <cmath>

#include "ptx/ir.h"

namespace pdemu::ptx {

namespace {

enum AOp { a_add, a_min, a_max, a_inc, a_dec, a_and, a_or, a_xor, a_exch, a_cas };

template <class V> V flush(V x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(V(0), x) : x; }

template <class V> V apply(int op, V old, V b) {
    switch (op) {
        case a_add:   // PTX: atom.add.f32 flushes subnormal inputs and results to sign-preserving zero
            if constexpr (std::is_same_v<V, float>) return flush(flush(old) + flush(b));
            else if constexpr (std::is_floating_point_v<V>) return old + b;
            else return static_cast<V>(old + b);
        case a_min: if constexpr (std::is_floating_point_v<V>) return std::isnan(old) ? b : std::isnan(b) ? old : (b < old ? b : old);
                    else return b < old ? b : old;
        case a_max: if constexpr (std::is_floating_point_v<V>) return std::isnan(old) ? b : std::isnan(b) ? old : (b > old ? b : old);
                    else return b > old ? b : old;
        case a_inc: if constexpr (std::is_integral_v<V>) return old >= b ? V(0) : static_cast<V>(old + 1); else return old;
        case a_dec: if constexpr (std::is_integral_v<V>) return (old == 0 || old > b) ? b : static_cast<V>(old - 1); else return old;
        case a_and: if constexpr (std::is_integral_v<V>) return old & b; else return old;
        case a_or: if constexpr (std::is_integral_v<V>) return old | b; else return old;
        case a_xor: if constexpr (std::is_integral_v<V>) return old ^ b; else return old;
        default: return b;   // exch
    }
}

// o: 0 d (sink for red), 1 address base, 2 b, 3 c (cas); imm offset; flags: op; space
template <class V>
void atom_op(Warp& w, const Inst& in, uint32_t m) {
    using U = std::conditional_t<sizeof(V) == 4, uint32_t, uint64_t>;
    const uint64_t *base = reg(w, in.o[1]), *b = reg(w, in.o[2]), *c = reg(w, in.o[3]);
    uint64_t* d = reg(w, in.o[0]);
    const int op = in.flags;
    for_lanes(m, [&](int l) {
        if (w.block->faulted) return;
        uint64_t addr = base[l] + static_cast<uint64_t>(in.imm);
        Space sp = in.space;
        if (sp == Space::generic) sp = addr - kSharedWindow < kWindowSize ? Space::shared : Space::global;
        if (sp == Space::shared && in.space == Space::generic) addr -= kSharedWindow;
        // access() checks bounds and alignment; racecheck is bypassed by resolving shared memory without it
        RaceState* race = w.block->race;
        w.block->race = nullptr;
        uint8_t* p = access(w, l, sp, addr, sizeof(V), true);
        w.block->race = race;
        if (!p) return;
        V bv = ld<V>(b[l]);
        V old;
        if (sp == Space::shared) {
            std::memcpy(&old, p, sizeof(V));
            V nv = op == a_cas ? (std::bit_cast<U>(old) == static_cast<U>(b[l]) ? ld<V>(c[l]) : old) : apply<V>(op, old, bv);
            std::memcpy(p, &nv, sizeof(V));
        } else {
            std::atomic_ref<U> ref(*reinterpret_cast<U*>(p));
            U cur = ref.load();
            for (;;) {
                V ov = std::bit_cast<V>(cur);
                V nv = op == a_cas ? (cur == static_cast<U>(b[l]) ? ld<V>(c[l]) : ov) : apply<V>(op, ov, bv);
                if (ref.compare_exchange_weak(cur, std::bit_cast<U>(nv))) break;
            }
            old = std::bit_cast<V>(cur);
        }
        d[l] = st<V>(old);
    });
}

bool decode_atom(Decoder& d, const Stmt& s, Inst& in, bool red) {
    static const std::pair<std::string_view, int> ops[] = {{"add", a_add}, {"min", a_min}, {"max", a_max}, {"inc", a_inc},
        {"dec", a_dec}, {"and", a_and}, {"or", a_or}, {"xor", a_xor}, {"exch", a_exch}, {"cas", a_cas}};
    int op = -1;
    T t = T::none;
    in.space = Space::generic;
    for (auto m : s.mods) {
        bool known = false;
        for (auto& [n, v] : ops) if (n == m) { op = v; known = true; }
        if (m == "global") { in.space = Space::global; known = true; }
        else if (m == "shared" || m == "shared::cta") { in.space = Space::shared; known = true; }
        else if (m == "relaxed" || m == "acquire" || m == "release" || m == "acq_rel" || m == "cta" || m == "gpu" || m == "sys") known = true;
        if (!known) {
            T x = parse_type(m);
            if (x == T::none) { d.fail("unsupported atomic qualifier ." + std::string(m)); return false; }
            t = x;
        }
    }
    if (op < 0 || t == T::none) return false;
    bool fl = t == T::f32 || t == T::f64, bits = t == T::b32 || t == T::b64;
    if (fl && op != a_add && op != a_min && op != a_max && op != a_exch) return false;
    if ((op == a_inc || op == a_dec) && t != T::u32) return false;
    if (bits && op != a_and && op != a_or && op != a_xor && op != a_exch && op != a_cas) return false;
    if (type_bits(t) != 32 && type_bits(t) != 64) return false;
    if (red && op == a_cas) return false;
    size_t want = red ? 2 : (op == a_cas ? 4 : 3);
    if (s.ops.size() != want) return false;
    size_t ai = red ? 0 : 1;
    in.o[0] = red ? static_cast<uint32_t>(sp_sink) : d.dst(s.ops[0]);
    if (!d.address(s.ops[ai], in.space, in.o[1], in.imm)) return false;
    in.o[2] = d.src(s.ops[ai + 1], t);
    in.o[3] = op == a_cas ? d.src(s.ops[ai + 2], t) : static_cast<uint32_t>(sp_zero);
    in.flags = static_cast<uint8_t>(op);
    switch (t) {
        case T::f32: in.fn = atom_op<float>; break;
        case T::f64: in.fn = atom_op<double>; break;
        case T::s32: in.fn = atom_op<int32_t>; break;
        case T::s64: in.fn = atom_op<int64_t>; break;
        case T::u32: case T::b32: in.fn = atom_op<uint32_t>; break;
        default: in.fn = atom_op<uint64_t>; break;
    }
    return !d.failed();
}

bool decode_atom_op(Decoder& d, const Stmt& s, Inst& in) { return decode_atom(d, s, in, false); }
bool decode_red_op(Decoder& d, const Stmt& s, Inst& in) { return decode_atom(d, s, in, true); }

}  // namespace

void register_atom_ops(OpTable& t) {
    t["atom"] = decode_atom_op;
    t["red"] = decode_red_op;
}

}  // namespace pdemu::ptx
