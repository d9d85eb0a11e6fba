// Control family: bra, ret/exit, bar.sync/barrier.sync, trap, membar/fence. Branches, exits and barriers are
// carried out by the scheduler (executor.cpp) from Inst::ctl; this file only decodes them.
#include "ptx/ir.h"

namespace pdemu::ptx {

bool decode_bar_warp_sync(Decoder& d, const Stmt& s, Inst& in);  // ops_warp.cpp

namespace {

void nop(Warp&, const Inst&, uint32_t) {}

bool decode_bra(Decoder& d, const Stmt& s, Inst& in) {
    for (auto m : s.mods) if (m != "uni") return false;
    if (s.ops.size() != 1) return false;
    in.ctl = Ctl::bra;
    d.label(s.ops[0], in);
    return !d.failed();
}

bool decode_exit(Decoder& d, const Stmt& s, Inst& in) {
    for (auto m : s.mods) if (m != "uni") return false;
    if (!s.ops.empty()) { d.fail("return values need .func, which is not supported"); return false; }
    in.ctl = Ctl::exit;
    return true;
}

// bar.sync a / barrier.sync a (.aligned): all non-exited threads of the block. Named barriers other than 0 and the
// thread-count operand are not supported (rejected here).
bool decode_bar(Decoder& d, const Stmt& s, Inst& in) {
    if (!s.mods.empty() && s.mods[0] == "warp") return decode_bar_warp_sync(d, s, in);
    bool sync = false;
    for (auto m : s.mods) {
        if (m == "sync" || m == "cta") sync = sync || m == "sync";
        else if (m != "aligned") { d.fail("only bar.sync/barrier.sync are supported"); return false; }
    }
    if (!sync) { d.fail("only bar.sync/barrier.sync are supported"); return false; }
    if (s.ops.size() != 1 || s.ops[0].kind != POperand::imm || s.ops[0].i != 0) {
        d.fail("only barrier 0 without a thread count is supported");
        return false;
    }
    in.ctl = Ctl::barrier;
    return true;
}

bool decode_trap(Decoder&, const Stmt& s, Inst& in) {
    in.ctl = Ctl::trap;
    return s.ops.empty();
}

// Memory ordering has no observable effect here: every access completes before the next instruction of any thread.
bool decode_fence(Decoder&, const Stmt& s, Inst& in) {
    in.fn = nop;
    return s.ops.empty();
}

}  // namespace

void register_control_ops(OpTable& t) {
    t["bra"] = decode_bra;
    t["ret"] = decode_exit;
    t["exit"] = decode_exit;
    t["bar"] = decode_bar;
    t["barrier"] = decode_bar;
    t["trap"] = decode_trap;
    t["membar"] = decode_fence;
    t["fence"] = decode_fence;
}

}  // namespace pdemu::ptx
