// Warp collectives: shfl.sync (up/down/bfly/idx), vote.sync (all/any/uni/ballot), bar.warp.sync, activemask.
// With min-PC scheduling, every lane that reaches a .sync instruction together executes it together; the
// membermask of each executing lane must name only lanes that execute it with it (and the lane itself), otherwise
// the launch fails with illegal_instruction (on a GPU this is undefined behaviour / a hang).
#include <cstdio>

#include "ptx/ir.h"

namespace pdemu::ptx {

namespace {

std::string hex32(uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%08x", v);
    return b;
}

// Checks the membermask (register `mreg`) of every executing lane; counts the collective for racecheck.
bool check_mask(Warp& w, uint32_t mreg, uint32_t m, const char* what) {
    const uint64_t* mk = reg(w, mreg);
    bool ok = true;
    for_lanes(m, [&](int l) {
        if (!ok) return;
        uint32_t mask = static_cast<uint32_t>(mk[l]);
        if (!(mask >> l & 1) || (mask & ~m)) {
            fault(w, l, LaunchStatus::illegal_instruction,
                  std::string(what) + " membermask " + hex32(mask) + " does not match the lanes that arrived together (" +
                  hex32(m) + ")");
            ok = false;
        }
    });
    ++w.sync_count;
    return ok;
}

// o: 0 d, 1 p (or sink), 2 a, 3 b, 4 c, 5 membermask; n: mode
enum Mode { up, down, bfly, idx };
template <int MODE>
void shfl_op(Warp& w, const Inst& in, uint32_t m) {
    if (!check_mask(w, in.o[5], m, "shfl.sync")) return;
    const uint64_t *a = reg(w, in.o[2]), *b = reg(w, in.o[3]), *c = reg(w, in.o[4]);
    uint64_t val[32], pv[32];
    for_lanes(m, [&](int lane) {
        uint32_t bval = static_cast<uint32_t>(b[lane]) & 0x1f, cv = static_cast<uint32_t>(c[lane]);
        uint32_t cval = cv & 0x1f, seg = (cv >> 8) & 0x1f;
        uint32_t L = static_cast<uint32_t>(lane);
        uint32_t maxl = (L & seg) | (cval & ~seg), minl = L & seg;
        int64_t j;
        bool p;
        if (MODE == up) { j = static_cast<int64_t>(L) - bval; p = j >= static_cast<int64_t>(maxl); }
        else if (MODE == down) { j = L + bval; p = j <= maxl; }
        else if (MODE == bfly) { j = L ^ bval; p = j <= maxl; }
        else { j = minl | (bval & ~seg); p = j <= maxl; }
        if (!p) j = L;
        val[lane] = a[j] & 0xffffffffu;
        pv[lane] = p ? 1 : 0;
    });
    uint64_t *d = reg(w, in.o[0]), *pd = reg(w, in.o[1]);
    for_lanes(m, [&](int l) { d[l] = val[l]; pd[l] = pv[l]; });
}

bool decode_shfl(Decoder& d, const Stmt& s, Inst& in) {
    if (!s.has("sync") || s.type() != T::b32 || s.ops.size() != 5) { d.fail("only shfl.sync.{up,down,bfly,idx}.b32 is supported"); return false; }
    if (s.has("up")) in.fn = shfl_op<up>;
    else if (s.has("down")) in.fn = shfl_op<down>;
    else if (s.has("bfly")) in.fn = shfl_op<bfly>;
    else if (s.has("idx")) in.fn = shfl_op<idx>;
    else return false;
    const POperand& dst = s.ops[0];
    in.o[0] = d.dst(dst);
    in.o[1] = dst.r2 != kNoReg ? dst.r2 : static_cast<uint32_t>(sp_sink);
    in.o[2] = d.src(s.ops[1], T::b32);
    in.o[3] = d.src(s.ops[2], T::b32);
    in.o[4] = d.src(s.ops[3], T::b32);
    in.o[5] = d.src(s.ops[4], T::b32);
    in.sync = true;
    return !d.failed();
}

// vote: o: 0 d, 1 a (pred), 2 membermask; flags: 0 all, 1 any, 2 uni, 3 ballot; imm: negate a
void vote_op(Warp& w, const Inst& in, uint32_t m) {
    if (!check_mask(w, in.o[2], m, "vote.sync")) return;
    const uint64_t* a = reg(w, in.o[1]);
    const uint64_t neg = static_cast<uint64_t>(in.imm);
    uint32_t ballot = 0;
    for_lanes(m, [&](int l) { ballot |= static_cast<uint32_t>((a[l] & 1) ^ neg) << l; });
    uint64_t* d = reg(w, in.o[0]);
    uint64_t r;
    switch (in.flags) {
        case 0: r = ballot == m; break;
        case 1: r = ballot != 0; break;
        case 2: r = ballot == 0 || ballot == m; break;
        default: r = ballot; break;
    }
    for_lanes(m, [&](int l) { d[l] = r; });
}

bool decode_vote(Decoder& d, const Stmt& s, Inst& in) {
    if (!s.has("sync") || s.ops.size() != 3) { d.fail("only vote.sync is supported"); return false; }
    if (s.has("all")) in.flags = 0;
    else if (s.has("any")) in.flags = 1;
    else if (s.has("uni")) in.flags = 2;
    else if (s.has("ballot")) in.flags = 3;
    else return false;
    if ((in.flags == 3) != (s.type() == T::b32)) return false;
    const POperand& a = s.ops[1];
    if (a.kind != POperand::reg || a.rtype != T::pred) { d.fail("vote needs a predicate operand"); return false; }
    in.o[0] = d.dst(s.ops[0]);
    in.o[1] = a.r;
    in.imm = a.name == "!" ? 1 : 0;
    in.o[2] = d.src(s.ops[2], T::b32);
    in.fn = vote_op;
    in.sync = true;
    return !d.failed();
}

void warpsync_op(Warp& w, const Inst& in, uint32_t m) { check_mask(w, in.o[0], m, "bar.warp.sync"); }

bool decode_bar_warp(Decoder& d, const Stmt& s, Inst& in) {
    if (s.mods.size() != 2 || s.mods[0] != "warp" || s.mods[1] != "sync" || s.ops.size() != 1) return false;
    in.o[0] = d.src(s.ops[0], T::b32);
    in.fn = warpsync_op;
    in.sync = true;
    return !d.failed();
}

void activemask_op(Warp& w, const Inst& in, uint32_t m) {
    uint64_t* d = reg(w, in.o[0]);
    for_lanes(m, [&](int l) { d[l] = m; });
}

bool decode_activemask(Decoder& d, const Stmt& s, Inst& in) {
    if (s.type() != T::b32 || s.ops.size() != 1) return false;
    in.o[0] = d.dst(s.ops[0]);
    in.fn = activemask_op;
    return !d.failed();
}

}  // namespace

void register_warp_ops(OpTable& t) {
    t["shfl"] = decode_shfl;
    t["vote"] = decode_vote;
    t["activemask"] = decode_activemask;
}

/** bar.warp.sync shares the "bar" opcode with bar.sync; ops_control forwards it here. */
bool decode_bar_warp_sync(Decoder& d, const Stmt& s, Inst& in) { return decode_bar_warp(d, s, in); }

}  // namespace pdemu::ptx
