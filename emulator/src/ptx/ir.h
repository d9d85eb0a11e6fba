// The decoded form of a PTX kernel and the per-warp execution state the instruction families work on.
//
// Decoding turns every source operand into a register index: immediates and symbol addresses become hidden
// constant registers (filled once per worker), special registers (%tid.x, ...) become hidden registers filled per
// block. A register file is laid out lane-minor: register r of lane l lives at R[r * 32 + l], so a handler's loop
// over the lanes of a warp touches consecutive words. Every value is kept as raw bits in a uint64_t, zero-extended;
// an instruction reads the low bits its type names.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pdemu/ptx.h"

namespace pdemu::ptx {

constexpr uint32_t kNoReg = 0xFFFFFFFFu;
constexpr uint32_t kFullMask = 0xFFFFFFFFu;
// Generic addresses of the shared and local windows: kernel-half addresses, never a host (device) address.
constexpr uint64_t kSharedWindow = 0xFFFF900000000000ull;
constexpr uint64_t kLocalWindow = 0xFFFFA00000000000ull;
constexpr uint64_t kWindowSize = 1ull << 32;

enum class T : uint8_t {
    none, pred, b8, b16, b32, b64, u8, u16, u32, u64, s8, s16, s32, s64, f16, f16x2, bf16, bf16x2, f32, f64
};
T parse_type(std::string_view s);
uint32_t type_bits(T t);
inline bool is_signed(T t) { return t == T::s8 || t == T::s16 || t == T::s32 || t == T::s64; }
inline bool is_float(T t) { return t == T::f16 || t == T::f16x2 || t == T::bf16 || t == T::bf16x2 || t == T::f32 || t == T::f64; }

// Hidden registers with fixed indices, filled per block (see executor.cpp).
enum Special : uint32_t {
    sp_tid_x, sp_tid_y, sp_tid_z, sp_ntid_x, sp_ntid_y, sp_ntid_z, sp_ctaid_x, sp_ctaid_y, sp_ctaid_z,
    sp_nctaid_x, sp_nctaid_y, sp_nctaid_z, sp_laneid, sp_warpid, sp_nwarpid, sp_lanemask_eq, sp_lanemask_lt,
    sp_lanemask_le, sp_lanemask_gt, sp_lanemask_ge, sp_smid, sp_nsmid, sp_gridid, sp_dynamic_smem_size,
    sp_total_smem_size, sp_dyn_smem_base, sp_sink, sp_zero, sp_count
};

enum class Space : uint8_t { generic, global, shared, local, param, konst };

struct Warp;
struct Inst;
using ExecFn = void (*)(Warp&, const Inst&, uint32_t mask);

enum class Ctl : uint8_t { none, bra, exit, barrier, trap };

struct Inst {
    ExecFn fn = nullptr;
    Ctl ctl = Ctl::none;
    bool guard_neg = false;
    bool sync = false;         // a .sync warp collective (orders same-warp shared accesses for racecheck)
    Space space = Space::generic;
    uint8_t n = 0;             // vector width / operand count, family-specific
    uint8_t size = 0;          // access size in bytes of one element (memory), family-specific otherwise
    uint8_t flags = 0;         // family-specific (e.g. sign extension, rounding mode)
    T type = T::none;
    uint32_t guard = kNoReg;   // predicate register
    uint32_t target = 0;       // branch target (instruction index)
    int64_t imm = 0;           // address offset or family-specific immediate
    uint32_t o[16] = {};       // operand register indices, family-specific order (destinations first)
    uint32_t line = 0;         // source line (1-based)
    uint32_t text = 0;         // index into KernelCode::texts
};

struct ModuleVar { std::string name; uint64_t address = 0; size_t size = 0; };

struct KernelCode {
    uint64_t id = 0;                           // unique per loaded kernel (never reused)
    std::string name;
    std::vector<Param> params;
    uint32_t param_bytes = 0;
    std::vector<Inst> code;
    std::vector<std::string> texts;            // instruction texts for messages
    uint32_t nregs = sp_count;
    std::vector<std::pair<uint32_t, uint64_t>> consts;  // hidden constant registers and their values
    uint32_t static_shared = 0, dyn_align = 16;
    uint32_t local_bytes = 0;
    uint32_t maxntid[3] = {0, 0, 0}, reqntid[3] = {0, 0, 0};
};

struct Block;

/** Why a launch stopped; the first fault of a block wins. */
struct Fault {
    LaunchStatus status = LaunchStatus::ok;
    std::string message;
};

struct Warp {
    uint64_t* R = nullptr;          // nregs * 32
    uint8_t* local = nullptr;       // 32 * local_bytes
    uint32_t local_bytes = 0;
    Block* block = nullptr;
    const KernelCode* k = nullptr;
    uint32_t index = 0;             // warp index in block
    uint32_t lanes = 0;             // lanes that exist (block tail)
    uint32_t live = 0;              // not exited
    uint32_t blocked = 0;           // waiting at bar.sync
    uint32_t group = 0;             // lanes executing at gpc
    uint32_t gpc = 0;
    uint32_t other_min = 0;         // smallest pc of runnable lanes outside the group
    uint32_t pc[32] = {};
    uint64_t sync_count = 0;        // .sync collectives executed (racecheck ordering)
    uint64_t instructions = 0;
    uint64_t cache_lo = 1, cache_len = 0;  // last global allocation range that resolved
    const Inst* cur = nullptr;      // instruction being executed (for messages)
};

struct RaceState;

struct Block {
    const KernelCode* k = nullptr;
    DeviceMemory* memory = nullptr;
    uint8_t* shared = nullptr;
    uint32_t shared_bytes = 0;
    const uint8_t* params = nullptr;
    Dim3 ctaid, ntid;
    bool faulted = false;
    Fault fault;
    RaceState* race = nullptr;      // non-null when racecheck is on
    bool has_range = true;          // memory.range() answered at least once (else every access calls resolve)
};

// ---- helpers for handlers ----
template <class V> inline V ld(uint64_t x) {
    if constexpr (std::is_same_v<V, float>) return std::bit_cast<float>(static_cast<uint32_t>(x));
    else if constexpr (std::is_same_v<V, double>) return std::bit_cast<double>(x);
    else return static_cast<V>(x);
}
template <class V> inline uint64_t st(V v) {
    if constexpr (std::is_same_v<V, float>) return std::bit_cast<uint32_t>(v);
    else if constexpr (std::is_same_v<V, double>) return std::bit_cast<uint64_t>(v);
    else if constexpr (std::is_signed_v<V>) return static_cast<uint64_t>(static_cast<std::make_unsigned_t<V>>(v));
    else return static_cast<uint64_t>(v);
}
template <class F> inline void for_lanes(uint32_t m, F&& f) {
    if (m == kFullMask) {
        for (int l = 0; l < 32; ++l) f(l);
    } else {
        while (m) { int l = std::countr_zero(m); m &= m - 1; f(l); }
    }
}
inline uint64_t* reg(Warp& w, uint32_t r) { return w.R + static_cast<size_t>(r) * 32; }

/** Records a fault for lane `lane` at the current instruction (first one wins) and stops the block. */
void fault(Warp& w, int lane, LaunchStatus status, const std::string& what);

// Memory access (memory.cpp): a host pointer for `size` bytes at `addr` in `space`, or nullptr after a fault.
uint8_t* access(Warp& w, int lane, Space space, uint64_t addr, uint32_t size, bool write);

// ---- decoding (parser.cpp provides Decoder; each family registers its opcodes) ----
struct POperand {
    enum Kind : uint8_t { reg, imm, fimm, sym, addr, vec, none } kind = none;
    uint32_t r = kNoReg, r2 = kNoReg;   // register; r2: second destination of `a|p`
    T rtype = T::none;                  // declared type of the register
    int64_t i = 0;                      // integer immediate / float bits / address offset
    bool f64 = false;                   // fimm is 0d (double) rather than 0f
    std::string_view name;              // symbol (sym, or addr base)
    std::vector<POperand> elems;        // vec
};

struct Stmt {
    std::string_view text;
    uint32_t line = 0;
    std::string_view base;                    // "add"
    std::vector<std::string_view> mods;       // {"s32"} (without dots)
    std::vector<POperand> ops;
    bool has(std::string_view m) const { for (auto x : mods) if (x == m) return true; return false; }
    /** The last modifier that is a type, or T::none; `nth` counts from the end (0 = last). */
    T type(int nth = 0) const;
};

class Decoder {
public:
    virtual ~Decoder() = default;
    /** Register holding a source operand's value as type t (immediates and symbols become constant registers). */
    virtual uint32_t src(const POperand& op, T t) = 0;
    /** Destination register (a plain register; `_` becomes the sink). kNoReg (with error set) otherwise. */
    virtual uint32_t dst(const POperand& op) = 0;
    /** Address operand: base register (constant register for symbols) and offset; space may be refined. */
    virtual bool address(const POperand& op, Space& space, uint32_t& base, int64_t& offset) = 0;
    virtual uint32_t label(const POperand& op, Inst& in) = 0;  // records a fixup of in.target
    virtual uint32_t constant(uint64_t bits) = 0;
    virtual void fail(const std::string& why) = 0;             // decode error (parser adds the line)
    virtual bool failed() const = 0;
    virtual KernelCode& kernel() = 0;
};

using DecodeFn = bool (*)(Decoder&, const Stmt&, Inst&);
using OpTable = std::unordered_map<std::string_view, DecodeFn>;
void register_int_ops(OpTable&);
void register_compare_ops(OpTable&);
/** Float forms of add/sub/mul/mad/div/min/max/neg/abs (ops_float.cpp); the int decoder forwards them. */
bool decode_float_arith(Decoder& d, const Stmt& s, Inst& in);
/** f16/f16x2/bf16/bf16x2 forms (ops_half.cpp); decode_float_arith forwards them. */
bool decode_half_arith(Decoder& d, const Stmt& s, Inst& in);
void register_float_ops(OpTable&);
void register_cvt_ops(OpTable&);
void register_mem_ops(OpTable&);
void register_control_ops(OpTable&);
void register_warp_ops(OpTable&);
void register_mma_ops(OpTable&);
void register_atom_ops(OpTable&);

}  // namespace pdemu::ptx

namespace pdemu::ptx {
/** Runs a grid (executor.cpp). */
LaunchResult launch_kernel(const KernelCode& k, const LaunchConfig& config, void* const* params, DeviceMemory& memory);
}  // namespace pdemu::ptx
