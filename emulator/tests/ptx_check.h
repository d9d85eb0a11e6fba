// Checked PTX loading for the interpreter's tests: a module that does not load is a failed check (with the
// loader's message), and the one-thread runner of the instruction-family tests.
#pragma once
#include "check.h"
#include "ptx/harness.h"

namespace ptxtest {
/** load_ptx(text); on failure prints the loader's error, fails a check and returns null. */
inline std::unique_ptr<pdemu::Module> load_checked(const std::string& text, pdemu::DeviceMemory& mem) {
    std::string err;
    auto m = pdemu::load_ptx(text, mem, &err);
    if (!m) { std::fprintf(stderr, "load failed: %s\n", err.c_str()); CHECK(false); }
    return m;
}

/** Runs `.entry t(.param .u64 out)` — `regs` declared, %rd0 = out, then `body` — on one thread and returns its
 *  `slots` 64-bit result words (empty if it does not load). */
inline std::vector<uint64_t> run_one_thread(const std::string& regs, const std::string& body, int slots) {
    TestMemory mem;
    auto m = load_checked(ptx(".visible .entry t(.param .u64 out)\n{\n" + regs + "\tld.param.u64 %rd0, [out];\n" + body +
                              "\tret;\n}\n"),
                          mem);
    if (!m) return {};
    uint64_t out = mem.alloc(8 * slots);
    Args a;
    a.add(out);
    auto r = run(*m, "t", {1, 1, 1}, {1, 1, 1}, a, mem);
    CHECK_EQ(r.message, std::string());
    return std::vector<uint64_t>(mem.ptr<uint64_t>(out), mem.ptr<uint64_t>(out) + slots);
}
/** `st.global.<type> [%rd0+8*slot], reg;`: stores a result into 64-bit slot `slot` of run_one_thread's output. */
inline std::string store_slot(int slot, const std::string& reg, const char* type) {
    return "\tst.global." + std::string(type) + " [%rd0+" + std::to_string(slot * 8) + "], " + reg + ";\n";
}
}  // namespace ptxtest
