// Memory family: ld, ldu, st, cvta, and the address resolution every access goes through (bounds, alignment,
// state spaces, generic addressing, the per-warp global allocation cache, racecheck hooks).
#include "ptx/ir.h"
#include "ptx/race.h"

namespace pdemu::ptx {

namespace {
std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}
const char* space_name(Space s) {
    switch (s) {
        case Space::global: return "global";
        case Space::shared: return "shared";
        case Space::local: return "local";
        case Space::param: return "param";
        case Space::konst: return "const";
        default: return "generic";
    }
}
}  // namespace

uint8_t* access(Warp& w, int lane, Space space, uint64_t addr, uint32_t size, bool write) {
    Block& b = *w.block;
    if (addr & (size - 1)) {
        fault(w, lane, LaunchStatus::misaligned_address,
              std::string(write ? "write" : "read") + " of " + std::to_string(size) + " bytes at " + space_name(space) +
              " address " + hex(addr) + " is not aligned to " + std::to_string(size) + " bytes");
        return nullptr;
    }
    if (space == Space::generic) {
        if (addr - kSharedWindow < kWindowSize) { addr -= kSharedWindow; space = Space::shared; }
        else if (addr - kLocalWindow < kWindowSize) { addr -= kLocalWindow; space = Space::local; }
        else space = Space::global;
    }
    switch (space) {
        case Space::global:
        case Space::konst: {
            uint64_t off = addr - w.cache_lo;
            if (off < w.cache_len && w.cache_len - off >= size) return reinterpret_cast<uint8_t*>(addr);
            uint64_t base = 0, len = 0;
            if (b.has_range) {
                if (b.memory->range(addr, &base, &len)) {
                    if (addr - base < len && len - (addr - base) >= size) {
                        w.cache_lo = base;
                        w.cache_len = len;
                        return reinterpret_cast<uint8_t*>(addr);
                    }
                } else if (w.cache_len == 0) {
                    b.has_range = false;   // the memory does not implement range(): resolve every access
                }
            }
            std::string why;
            void* p = b.memory->resolve(addr, size, write, &why);
            if (!p) {
                fault(w, lane, LaunchStatus::illegal_address,
                      std::string(write ? "write" : "read") + " of " + std::to_string(size) + " bytes at global address " +
                      hex(addr) + ": " + (why.empty() ? "not device memory" : why));
                return nullptr;
            }
            return static_cast<uint8_t*>(p);
        }
        case Space::shared:
            if (addr >= b.shared_bytes || b.shared_bytes - addr < size) {
                fault(w, lane, LaunchStatus::illegal_address,
                      std::string(write ? "write" : "read") + " of " + std::to_string(size) + " bytes at shared offset " +
                      hex(addr) + " outside the block's " + std::to_string(b.shared_bytes) + " bytes of shared memory");
                return nullptr;
            }
            if (b.race) race_access(w, lane, addr, size, write);
            return b.shared + addr;
        case Space::local:
            if (addr >= w.local_bytes || w.local_bytes - addr < size) {
                fault(w, lane, LaunchStatus::illegal_address,
                      std::string(write ? "write" : "read") + " of " + std::to_string(size) + " bytes at local offset " +
                      hex(addr) + " outside the thread's " + std::to_string(w.local_bytes) + " bytes of local memory");
                return nullptr;
            }
            return w.local + static_cast<size_t>(lane) * w.local_bytes + addr;
        case Space::param:
            if (write || addr >= b.k->param_bytes || b.k->param_bytes - addr < size) {
                fault(w, lane, LaunchStatus::illegal_address,
                      std::string(write ? "write to" : "read outside") + " the kernel parameters at offset " + hex(addr));
                return nullptr;
            }
            return const_cast<uint8_t*>(b.params) + addr;
        default: return nullptr;
    }
}

namespace {

// o[0..n-1]: value registers; o[8]: address base. imm: offset. size: element bytes. flags&1: sign-extend.
// Global accesses that hit the warp's cached allocation range, and in-bounds aligned shared accesses without
// racecheck, skip access() (same checks, inlined).
inline uint8_t* fast(Warp& w, int l, Space space, uint64_t addr, uint32_t bytes, bool write) {
    if (space == Space::global && !(addr & (bytes - 1))) {
        uint64_t off = addr - w.cache_lo;
        if (off < w.cache_len && w.cache_len - off >= bytes) return reinterpret_cast<uint8_t*>(addr);
    } else if (space == Space::shared && !(addr & (bytes - 1))) {
        Block& b = *w.block;
        if (!b.race && addr < b.shared_bytes && b.shared_bytes - addr >= bytes) return b.shared + addr;
    }
    return access(w, l, space, addr, bytes, write);
}

template <class E>
void ld_op(Warp& w, const Inst& in, uint32_t m) {
    const uint64_t* base = reg(w, in.o[8]);
    const uint32_t n = in.n, bytes = sizeof(E) * n;
    const bool sign = in.flags & 1;
    for_lanes(m, [&](int l) {
        if (w.block->faulted) return;
        uint8_t* p = fast(w, l, in.space, base[l] + static_cast<uint64_t>(in.imm), bytes, false);
        if (!p) return;
        for (uint32_t e = 0; e < n; ++e) {
            E v;
            std::memcpy(&v, p + e * sizeof(E), sizeof(E));
            uint64_t x = v;
            if (sign) x = static_cast<uint64_t>(static_cast<int64_t>(static_cast<std::make_signed_t<E>>(v)));
            reg(w, in.o[e])[l] = x;
        }
    });
}

template <class E>
void st_op(Warp& w, const Inst& in, uint32_t m) {
    const uint64_t* base = reg(w, in.o[8]);
    const uint32_t n = in.n, bytes = sizeof(E) * n;
    for_lanes(m, [&](int l) {
        if (w.block->faulted) return;
        uint8_t* p = fast(w, l, in.space, base[l] + static_cast<uint64_t>(in.imm), bytes, true);
        if (!p) return;
        for (uint32_t e = 0; e < n; ++e) {
            E v = static_cast<E>(reg(w, in.o[e])[l]);
            std::memcpy(p + e * sizeof(E), &v, sizeof(E));
        }
    });
}

bool parse_space(std::string_view m, Space& s) {
    if (m == "global") s = Space::global;
    else if (m == "shared" || m == "shared::cta") s = Space::shared;
    else if (m == "local") s = Space::local;
    else if (m == "param" || m == "param::entry") s = Space::param;
    else if (m == "const") s = Space::konst;
    else return false;
    return true;
}
bool hint(std::string_view m) {   // ordering/caching qualifiers: no functional effect in a sequential emulator
    static const std::string_view ok[] = {"nc", "ca", "cg", "cs", "lu", "cv", "wb", "wt", "weak", "volatile", "relaxed",
                                          "acquire", "release", "cta", "gpu", "sys", "L1::evict_normal",
                                          "L1::evict_last", "L1::evict_first", "L1::no_allocate", "L2::64B",
                                          "L2::128B", "L2::256B", "L1::evict_unchanged", "L2::evict_normal",
                                          "L2::evict_first", "L2::evict_last"};
    for (auto x : ok) if (x == m) return true;
    return false;
}

bool decode_ldst(Decoder& d, const Stmt& s, Inst& in, bool load) {
    in.space = Space::generic;
    in.n = 1;
    T t = T::none;
    for (auto m : s.mods) {
        if (parse_space(m, in.space)) continue;
        if (m == "v2") { in.n = 2; continue; }
        if (m == "v4") { in.n = 4; continue; }
        if (hint(m)) continue;
        T x = parse_type(m);
        if (x == T::none || x == T::pred) { d.fail("unsupported qualifier ." + std::string(m)); return false; }
        t = x;
    }
    if (t == T::none || s.ops.size() != 2) return false;
    if (!load && in.space == Space::param) { d.fail("st.param is only for calls, which are not supported"); return false; }
    const POperand& val = load ? s.ops[0] : s.ops[1];
    const POperand& adr = load ? s.ops[1] : s.ops[0];
    if (!d.address(adr, in.space, in.o[8], in.imm)) return false;
    if (in.n == 1) {
        in.o[0] = load ? d.dst(val) : d.src(val, t);
    } else {
        if (val.kind != POperand::vec || val.elems.size() != in.n) { d.fail("vector operand does not match ." + std::string(in.n == 2 ? "v2" : "v4")); return false; }
        for (uint32_t e = 0; e < in.n; ++e) in.o[e] = load ? d.dst(val.elems[e]) : d.src(val.elems[e], t);
    }
    in.flags = is_signed(t) ? 1 : 0;
    in.type = t;
    switch (type_bits(t)) {
        case 8: in.fn = load ? ld_op<uint8_t> : st_op<uint8_t>; break;
        case 16: in.fn = load ? ld_op<uint16_t> : st_op<uint16_t>; break;
        case 32: in.fn = load ? ld_op<uint32_t> : st_op<uint32_t>; break;
        case 64: in.fn = load ? ld_op<uint64_t> : st_op<uint64_t>; break;
        default: return false;
    }
    in.size = static_cast<uint8_t>(type_bits(t) / 8);
    return !d.failed();
}

bool decode_ld(Decoder& d, const Stmt& s, Inst& in) { return decode_ldst(d, s, in, true); }
bool decode_st(Decoder& d, const Stmt& s, Inst& in) { return decode_ldst(d, s, in, false); }

// cvta: imm holds the value added (to generic) or subtracted (to the space).
void cvta_op(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    const uint64_t* a = reg(w, in.o[1]);
    const uint64_t add = static_cast<uint64_t>(in.imm);
    for_lanes(m, [&](int l) { d[l] = a[l] + add; });
}

bool decode_cvta(Decoder& d, const Stmt& s, Inst& in) {
    bool to = s.has("to");
    Space sp = Space::generic;
    for (auto m : s.mods) parse_space(m, sp);
    if (s.type() != T::u64 || s.ops.size() != 2) { d.fail("only 64-bit cvta is supported"); return false; }
    uint64_t window = sp == Space::shared ? kSharedWindow : sp == Space::local ? kLocalWindow : 0;
    if (sp == Space::generic || sp == Space::param) return false;
    in.o[0] = d.dst(s.ops[0]);
    in.o[1] = d.src(s.ops[1], T::u64);
    in.imm = static_cast<int64_t>(to ? 0 - window : window);
    in.fn = cvta_op;
    return !d.failed();
}

}  // namespace

void register_mem_ops(OpTable& t) {
    t["ld"] = decode_ld;
    t["ldu"] = decode_ld;
    t["st"] = decode_st;
    t["cvta"] = decode_cvta;
}

}  // namespace pdemu::ptx
