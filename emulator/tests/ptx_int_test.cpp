// Integer family against the PTX ISA's definitions: wrap-around, mul.hi/mul.wide/mad.wide, 64-bit div/rem with
// negative operands (C semantics: truncation toward zero), shifts past the width, bfe/bfi, min/max signedness,
// setp/selp, predicate logic, mov packing.
#include "check.h"
#include "ptx/harness.h"
#include "ptx_check.h"

namespace {
// One thread runs `body`; results are stored with st.global.u64 [%out+8*i]. Returns the 64-bit slots.
std::vector<uint64_t> run1(const std::string& body, int slots) {
    return ptxtest::run_one_thread("\t.reg .pred %p<9>;\n\t.reg .b16 %rs<9>;\n\t.reg .b32 %r<20>;\n\t.reg .b64 %rd<20>;\n"
                                   "\t.reg .f32 %f<9>;\n",
                                   body, slots);
}
std::string store(int slot, const std::string& reg, const char* type = "u64") { return ptxtest::store_slot(slot, reg, type); }
}  // namespace

TEST(add_sub_mul_wrap_around) {
    auto v = run1("\tmov.u32 %r1, 0xFFFFFFFF;\n\tadd.u32 %r2, %r1, 2;\n" + store(0, "%r2", "u32") +
                  "\tmov.u32 %r3, 0x80000000;\n\tsub.s32 %r4, %r3, 1;\n" + store(1, "%r4", "u32") +
                  "\tmul.lo.u32 %r5, %r1, %r1;\n" + store(2, "%r5", "u32") +
                  "\tadd.sat.s32 %r6, %r3, -1;\n" + store(3, "%r6", "u32") +
                  "\tmov.u32 %r7, 0x7FFFFFFF;\n\tadd.sat.s32 %r8, %r7, 5;\n" + store(4, "%r8", "u32"), 5);
    if (v.empty()) return;
    CHECK_EQ(v[0], 1ull);
    CHECK_EQ(v[1], 0x7FFFFFFFull);
    CHECK_EQ(v[2], 1ull);                 // (2^32-1)^2 mod 2^32
    CHECK_EQ(v[3], 0x80000000ull);        // saturates at INT_MIN
    CHECK_EQ(v[4], 0x7FFFFFFFull);
}

TEST(mul_hi_wide_mad) {
    auto v = run1("\tmov.u32 %r1, 0xFFFFFFFF;\n\tmul.hi.u32 %r2, %r1, %r1;\n" + store(0, "%r2", "u32") +
                  "\tmul.hi.s32 %r3, %r1, %r1;\n" + store(1, "%r3", "u32") +        // (-1)*(-1) = 1 -> hi 0
                  "\tmov.u32 %r4, -7;\n\tmul.wide.s32 %rd1, %r4, 3;\n" + store(2, "%rd1") +
                  "\tmul.wide.u32 %rd2, %r4, 3;\n" + store(3, "%rd2") +
                  "\tmov.u64 %rd3, 100;\n\tmad.wide.u32 %rd4, %r1, 2, %rd3;\n" + store(4, "%rd4") +
                  "\tmad.lo.s32 %r5, %r4, 5, 3;\n" + store(5, "%r5", "u32") +
                  "\tmov.u64 %rd5, -3;\n\tmul.hi.s64 %rd6, %rd5, %rd5;\n" + store(6, "%rd6") +
                  "\tmov.u64 %rd7, 0xFFFFFFFFFFFFFFFF;\n\tmul.hi.u64 %rd8, %rd7, %rd7;\n" + store(7, "%rd8"), 8);
    if (v.empty()) return;
    CHECK_EQ(v[0], 0xFFFFFFFEull);
    CHECK_EQ(v[1], 0ull);
    CHECK_EQ(v[2], static_cast<uint64_t>(-21ll));
    CHECK_EQ(v[3], 0xFFFFFFF9ull * 3);
    CHECK_EQ(v[4], 0xFFFFFFFFull * 2 + 100);
    CHECK_EQ(v[5], static_cast<uint64_t>(static_cast<uint32_t>(-32)));
    CHECK_EQ(v[6], 0ull);
    CHECK_EQ(v[7], 0xFFFFFFFFFFFFFFFEull);
}

TEST(div_rem_64_negative_operands) {
    auto v = run1("\tmov.u64 %rd1, -7;\n\tmov.u64 %rd2, 2;\n\tdiv.s64 %rd3, %rd1, %rd2;\n" + store(0, "%rd3") +
                  "\trem.s64 %rd4, %rd1, %rd2;\n" + store(1, "%rd4") +
                  "\tmov.u64 %rd5, -2;\n\tdiv.s64 %rd6, 7, %rd5;\n" + store(2, "%rd6") +
                  "\trem.s64 %rd7, 7, %rd5;\n" + store(3, "%rd7") +
                  "\tdiv.u64 %rd8, %rd1, %rd2;\n" + store(4, "%rd8") +
                  "\trem.u64 %rd9, %rd1, 10;\n" + store(5, "%rd9") +
                  "\tmov.u32 %r1, -9;\n\tdiv.s32 %r2, %r1, 4;\n" + store(6, "%r2", "u32") +
                  "\trem.u32 %r3, %r1, 10;\n" + store(7, "%r3", "u32"), 8);
    if (v.empty()) return;
    CHECK_EQ(static_cast<int64_t>(v[0]), -3ll);
    CHECK_EQ(static_cast<int64_t>(v[1]), -1ll);
    CHECK_EQ(static_cast<int64_t>(v[2]), -3ll);
    CHECK_EQ(static_cast<int64_t>(v[3]), 1ll);
    CHECK_EQ(v[4], 0xFFFFFFFFFFFFFFF9ull / 2);
    CHECK_EQ(v[5], 0xFFFFFFFFFFFFFFF9ull % 10);
    CHECK_EQ(v[6], static_cast<uint64_t>(static_cast<uint32_t>(-2)));
    CHECK_EQ(v[7], 0xFFFFFFF7ull % 10);
}

TEST(shifts_bitfields_minmax) {
    auto v = run1("\tmov.u32 %r1, 0x80000001;\n\tshr.s32 %r2, %r1, 4;\n" + store(0, "%r2", "u32") +
                  "\tshr.u32 %r3, %r1, 4;\n" + store(1, "%r3", "u32") +
                  "\tshl.b32 %r4, %r1, 40;\n" + store(2, "%r4", "u32") +            // amount >= width: 0
                  "\tshr.s32 %r5, %r1, 40;\n" + store(3, "%r5", "u32") +            // sign fill
                  "\tbfe.u32 %r6, 0xABCD1234, 8, 12;\n" + store(4, "%r6", "u32") +
                  "\tbfe.s32 %r7, 0x0000F000, 12, 4;\n" + store(5, "%r7", "u32") +  // 0xF sign-extended
                  "\tbfi.b32 %r8, 0xFF, 0x12345678, 8, 4;\n" + store(6, "%r8", "u32") +
                  "\tmov.u64 %rd1, 0x1111111122222222;\n\tbfi.b64 %rd2, 0xAB, %rd1, 32, 32;\n" + store(7, "%rd2") +
                  "\tmin.s32 %r9, %r1, 5;\n" + store(8, "%r9", "u32") +
                  "\tmin.u32 %r10, %r1, 5;\n" + store(9, "%r10", "u32") +
                  "\tmax.s32 %r11, %r1, 5;\n" + store(10, "%r11", "u32") +
                  "\tpopc.b32 %r12, %r1;\n" + store(11, "%r12", "u32") +
                  "\tclz.b32 %r13, 1;\n" + store(12, "%r13", "u32") +
                  "\tbrev.b32 %r14, 1;\n" + store(13, "%r14", "u32") +
                  "\tneg.s32 %r15, %r1;\n" + store(14, "%r15", "u32") +
                  "\tnot.b64 %rd3, %rd1;\n" + store(15, "%rd3") +
                  "\tabs.s32 %r16, -5;\n" + store(16, "%r16", "u32"), 17);
    if (v.empty()) return;
    CHECK_EQ(v[0], 0xF8000000ull);
    CHECK_EQ(v[1], 0x08000000ull);
    CHECK_EQ(v[2], 0ull);
    CHECK_EQ(v[3], 0xFFFFFFFFull);
    CHECK_EQ(v[4], 0xD12ull);
    CHECK_EQ(v[5], 0xFFFFFFFFull);
    CHECK_EQ(v[6], 0x12345F78ull);
    CHECK_EQ(v[7], 0x000000AB22222222ull);
    CHECK_EQ(v[8], 0x80000001ull);
    CHECK_EQ(v[9], 5ull);
    CHECK_EQ(v[10], 5ull);
    CHECK_EQ(v[11], 2ull);
    CHECK_EQ(v[12], 31ull);
    CHECK_EQ(v[13], 0x80000000ull);
    CHECK_EQ(v[14], 0x7FFFFFFFull);
    CHECK_EQ(v[15], ~0x1111111122222222ull);
    CHECK_EQ(v[16], 5ull);
}

TEST(setp_selp_predicate_logic) {
    auto v = run1("\tmov.u32 %r1, -1;\n\tsetp.lt.s32 %p1, %r1, 0;\n\tselp.u32 %r2, 10, 20, %p1;\n" + store(0, "%r2", "u32") +
                  "\tsetp.lt.u32 %p2, %r1, 0;\n\tselp.u32 %r3, 10, 20, %p2;\n" + store(1, "%r3", "u32") +
                  "\tand.pred %p3, %p1, %p2;\n\tselp.u32 %r4, 1, 0, %p3;\n" + store(2, "%r4", "u32") +
                  "\tor.pred %p4, %p1, %p2;\n\tselp.u32 %r5, 1, 0, %p4;\n" + store(3, "%r5", "u32") +
                  "\tnot.pred %p5, %p1;\n\tselp.u32 %r6, 1, 0, %p5;\n" + store(4, "%r6", "u32") +
                  "\txor.pred %p6, %p1, %p4;\n\tselp.u32 %r7, 1, 0, %p6;\n" + store(5, "%r7", "u32") +
                  "\tsetp.ne.and.s32 %p7|%p8, %r1, 0, %p1;\n\tselp.u32 %r8, 1, 0, %p7;\n" + store(6, "%r8", "u32") +
                  "\tselp.u32 %r9, 1, 0, %p8;\n" + store(7, "%r9", "u32") +
                  "\t@%p1 mov.u32 %r10, 77;\n\t@!%p1 mov.u32 %r10, 88;\n" + store(8, "%r10", "u32") +
                  "\tmov.b32 %r11, {%rs1, %rs2};\n\tmov.u16 %rs3, 0x1234;\n\tmov.u16 %rs4, 0xABCD;\n"
                  "\tmov.b32 %r12, {%rs3, %rs4};\n" + store(9, "%r12", "u32") +
                  "\tmov.b32 {%rs5, %rs6}, %r12;\n" + store(10, "%rs6", "u16") +
                  "\tmov.b64 %rd1, {%r12, %r1};\n" + store(11, "%rd1") +
                  "\tsetp.hi.u64 %p1, %rd1, 5;\n\tselp.u32 %r13, 1, 0, %p1;\n" + store(12, "%r13", "u32"), 13);
    if (v.empty()) return;
    CHECK_EQ(v[0], 10ull);
    CHECK_EQ(v[1], 20ull);
    CHECK_EQ(v[2], 0ull);
    CHECK_EQ(v[3], 1ull);
    CHECK_EQ(v[4], 0ull);
    CHECK_EQ(v[5], 0ull);
    CHECK_EQ(v[6], 1ull);
    CHECK_EQ(v[7], 0ull);      // q = !(r1 != 0) and p1 = false
    CHECK_EQ(v[8], 77ull);
    CHECK_EQ(v[9], 0xABCD1234ull);
    CHECK_EQ(v[10], 0xABCDull);
    CHECK_EQ(v[11], 0xFFFFFFFFABCD1234ull);
    CHECK_EQ(v[12], 1ull);
}

PDEMU_TEST_MAIN
