// Float and conversion families against IEEE 754 / the PTX ISA: rounding modifiers .rn/.rz/.rm/.rp on add, mul,
// div, fma (fused: a single rounding), sqrt, rcp; .ftz and .sat; setp ordered/unordered with NaN; min/max NaN and
// signed-zero rules; approximate ops within the ISA's error bounds; f16/bf16 conversions with ties, subnormals and
// overflow; float<->int conversions with integer rounding and saturation; the packed f16x2 conversion's halves.
#include <cmath>

#include "check.h"
#include "ptx/fp16.h"
#include "ptx/harness.h"
#include "ptx_check.h"
#include <random>

namespace {
// One thread; each line of `body` may use %f1..%f8, %r1..%r8, %rd1..%rd8, %fd1..%fd4, %rs1..%rs4 and stores
// results with S(slot, reg) as 32- or 64-bit words.
std::vector<uint64_t> run1(const std::string& body, int slots) {
    return ptxtest::run_one_thread("\t.reg .pred %p<9>;\n\t.reg .b16 %rs<9>;\n\t.reg .b32 %r<20>;\n\t.reg .b64 %rd<20>;\n"
                                   "\t.reg .f32 %f<20>;\n\t.reg .f64 %fd<9>;\n",
                                   body, slots);
}
std::string S(int slot, const std::string& reg, const char* type = "b32") { return ptxtest::store_slot(slot, reg, type); }
float F(uint64_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits)); }
}  // namespace

TEST(rounding_modes_add_mul_div) {
    // 1 + 2^-24 lies exactly halfway between 1 and 1 + 2^-23 (0x3f800001)
    auto v = run1("\tmov.f32 %f1, 0f3F800000;\n\tmov.f32 %f2, 0f33800000;\n"
                  "\tadd.rn.f32 %f3, %f1, %f2;\n" + S(0, "%f3") + "\tadd.rz.f32 %f3, %f1, %f2;\n" + S(1, "%f3") +
                  "\tadd.rm.f32 %f3, %f1, %f2;\n" + S(2, "%f3") + "\tadd.rp.f32 %f3, %f1, %f2;\n" + S(3, "%f3") +
                  "\tneg.f32 %f4, %f1;\n\tsub.rm.f32 %f5, %f4, %f2;\n" + S(4, "%f5") + "\tsub.rp.f32 %f5, %f4, %f2;\n" + S(5, "%f5") +
                  // (1 + 2^-23)^2 = 1 + 2^-22 + 2^-46
                  "\tmov.f32 %f6, 0f3F800001;\n\tmul.rn.f32 %f7, %f6, %f6;\n" + S(6, "%f7") + "\tmul.rp.f32 %f7, %f6, %f6;\n" + S(7, "%f7") +
                  "\tmov.f32 %f8, 0f40400000;\n\tdiv.rn.f32 %f9, %f1, %f8;\n" + S(8, "%f9") + "\tdiv.rz.f32 %f9, %f1, %f8;\n" + S(9, "%f9") +
                  "\trcp.rn.f32 %f10, %f8;\n" + S(10, "%f10") + "\trcp.rm.f32 %f10, %f8;\n" + S(11, "%f10") +
                  "\tmov.f32 %f11, 0f40000000;\n\tsqrt.rn.f32 %f12, %f11;\n" + S(12, "%f12") + "\tsqrt.rp.f32 %f12, %f11;\n" + S(13, "%f12") +
                  // fma: (1+2^-23)(1-2^-23) - 1 = -2^-46 exactly (an unfused mul+add gives 0)
                  "\tmov.f32 %f13, 0f3F7FFFFF;\n\tmov.f32 %f14, 0fBF800000;\n\tmov.f32 %f15, 0f3F7FFFFE;\n"
                  "\tfma.rn.f32 %f16, %f6, %f15, %f14;\n" + S(14, "%f16") +
                  "\tmul.rn.f32 %f17, %f6, %f15;\n\tadd.rn.f32 %f17, %f17, %f14;\n" + S(15, "%f17") +
                  "\tdiv.full.f32 %f18, %f1, %f8;\n" + S(16, "%f18") + "\tdiv.approx.f32 %f18, %f1, %f8;\n" + S(17, "%f18"), 18);
    if (v.empty()) return;
    CHECK_EQ(v[0], 0x3f800000ull);   // tie -> even
    CHECK_EQ(v[1], 0x3f800000ull);
    CHECK_EQ(v[2], 0x3f800000ull);
    CHECK_EQ(v[3], 0x3f800001ull);
    CHECK_EQ(v[4], 0xbf800001ull);   // -1 - 2^-24 toward -inf
    CHECK_EQ(v[5], 0xbf800000ull);
    CHECK_EQ(v[6], 0x3f800002ull);
    CHECK_EQ(v[7], 0x3f800003ull);
    CHECK_EQ(v[8], 0x3eaaaaabull);   // 1/3 rounded to nearest
    CHECK_EQ(v[9], 0x3eaaaaaaull);
    CHECK_EQ(v[10], 0x3eaaaaabull);
    CHECK_EQ(v[11], 0x3eaaaaaaull);
    CHECK_EQ(v[12], 0x3fb504f3ull);  // sqrt(2)
    CHECK_EQ(v[13], 0x3fb504f4ull);
    // (1+2^-23)(1-2^-24*2) - 1: product 1 - 2^-23 - 2^-46 ... exact value -2^-23 - 2^-46 + ... compare with double
    double exact = (1.0 + std::ldexp(1.0, -23)) * static_cast<double>(F(0x3f7ffffe)) - 1.0;
    CHECK_EQ(F(v[14]), static_cast<float>(exact));
    CHECK(F(v[14]) != F(v[15]) || exact == static_cast<double>(F(v[15])));
    CHECK(std::fabs(F(v[16]) - 1.0f / 3.0f) <= std::ldexp(1.0f, -24) * 2);
    CHECK(std::fabs(F(v[17]) - 1.0f / 3.0f) <= std::ldexp(1.0f, -24) * 2);
}

TEST(ftz_sat_and_canonical_nan) {
    auto v = run1("\tmov.f32 %f1, 0f00800000;\n\tmov.f32 %f2, 0f3E800000;\n"             // 2^-126 * 0.25: subnormal
                  "\tmul.rn.f32 %f3, %f1, %f2;\n" + S(0, "%f3") + "\tmul.rn.ftz.f32 %f3, %f1, %f2;\n" + S(1, "%f3") +
                  "\tmov.f32 %f4, 0f80200000;\n\tadd.ftz.f32 %f5, %f4, 0f00000000;\n" + S(2, "%f5") +   // -subnormal in -> -0 (+0 = +0)
                  "\tmov.f32 %f6, 0f3F333333;\n\tmov.f32 %f7, 0f3F19999A;\n\tadd.sat.f32 %f8, %f6, %f7;\n" + S(3, "%f8") +
                  "\tmul.sat.f32 %f8, %f6, 0fC0000000;\n" + S(4, "%f8") +
                  "\tmov.f32 %f9, 0f7FC00000;\n\tadd.sat.f32 %f10, %f9, %f6;\n" + S(5, "%f10") +
                  "\tmov.f32 %f11, 0f7F800000;\n\tsub.f32 %f12, %f11, %f11;\n" + S(6, "%f12") +        // inf - inf
                  "\tmov.f32 %f13, 0f7FA00001;\n\tadd.f32 %f14, %f13, %f6;\n" + S(7, "%f14"), 8);
    if (v.empty()) return;
    CHECK_EQ(v[0], 0x00200000ull);
    CHECK_EQ(v[1], 0x00000000ull);
    CHECK_EQ(v[2], 0x00000000ull);
    CHECK_EQ(v[3], 0x3f800000ull);
    CHECK_EQ(v[4], 0x00000000ull);
    CHECK_EQ(v[5], 0x00000000ull);
    CHECK_EQ(v[6], 0x7fffffffull);
    CHECK_EQ(v[7], 0x7fffffffull);
}

TEST(setp_nan_ordered_unordered) {
    std::string body = "\tmov.f32 %f1, 0f7FC00000;\n\tmov.f32 %f2, 0f3F800000;\n";
    const char* ops[] = {"lt", "ltu", "ne", "neu", "eq", "equ", "ge", "geu", "num", "nan"};
    for (int i = 0; i < 10; ++i)
        body += std::string("\tsetp.") + ops[i] + ".f32 %p1, %f1, %f2;\n\tselp.u32 %r1, 1, 0, %p1;\n" + S(i, "%r1");
    body += "\tmov.f32 %f3, 0f80000000;\n\tsetp.eq.f32 %p2, %f3, 0f00000000;\n\tselp.u32 %r2, 1, 0, %p2;\n" + S(10, "%r2");
    body += "\tsetp.lt.f32 %p3, %f3, 0f00000000;\n\tselp.u32 %r3, 1, 0, %p3;\n" + S(11, "%r3");
    body += "\tsetp.num.f32 %p4, %f2, %f3;\n\tselp.u32 %r4, 1, 0, %p4;\n" + S(12, "%r4");
    body += "\tsetp.leu.f32 %p5, %f2, %f3;\n\tselp.u32 %r5, 1, 0, %p5;\n" + S(13, "%r5");
    auto v = run1(body, 14);
    if (v.empty()) return;
    const uint64_t want[] = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0};
    for (int i = 0; i < 14; ++i) CHECK_EQ(v[i], want[i]);
}

TEST(min_max_nan_and_signed_zero) {
    auto v = run1("\tmov.f32 %f1, 0f7FC00000;\n\tmov.f32 %f2, 0f3F800000;\n\tmov.f32 %f3, 0f80000000;\n\tmov.f32 %f4, 0f00000000;\n"
                  "\tmin.f32 %f5, %f1, %f2;\n" + S(0, "%f5") + "\tmax.f32 %f5, %f2, %f1;\n" + S(1, "%f5") +
                  "\tmin.f32 %f5, %f1, %f1;\n" + S(2, "%f5") + "\tmin.NaN.f32 %f5, %f1, %f2;\n" + S(3, "%f5") +
                  "\tmin.f32 %f5, %f4, %f3;\n" + S(4, "%f5") + "\tmax.f32 %f5, %f3, %f4;\n" + S(5, "%f5") +
                  "\tmax.f32 %f5, %f2, 0fC0000000;\n" + S(6, "%f5") +
                  "\tabs.f32 %f6, %f3;\n" + S(7, "%f6") + "\tneg.f32 %f6, %f4;\n" + S(8, "%f6") +
                  "\tcopysign.f32 %f7, %f3, %f2;\n" + S(9, "%f7"), 10);
    if (v.empty()) return;
    CHECK_EQ(v[0], 0x3f800000ull);
    CHECK_EQ(v[1], 0x3f800000ull);
    CHECK_EQ(v[2], 0x7fffffffull);
    CHECK_EQ(v[3], 0x7fffffffull);
    CHECK_EQ(v[4], 0x80000000ull);
    CHECK_EQ(v[5], 0x00000000ull);
    CHECK_EQ(v[6], 0x3f800000ull);
    CHECK_EQ(v[7], 0x00000000ull);
    CHECK_EQ(v[8], 0x80000000ull);
    CHECK_EQ(v[9], 0xbf800000ull);   // magnitude of b (1.0), sign of a (-0)
}

TEST(approximate_ops_within_isa_bounds) {
    auto v = run1("\tex2.approx.f32 %f1, 0f40600000;\n" + S(0, "%f1") +                 // 2^3.5
                  "\tex2.approx.f32 %f1, 0fFF800000;\n" + S(1, "%f1") +                  // 2^-inf = 0
                  "\tex2.approx.ftz.f32 %f1, 0fC3020000;\n" + S(2, "%f1") +              // 2^-130: subnormal, flushed
                  "\tex2.approx.f32 %f1, 0fC3020000;\n" + S(3, "%f1") +
                  "\trsqrt.approx.f32 %f2, 0f40800000;\n" + S(4, "%f2") +
                  "\tlg2.approx.f32 %f3, 0f41000000;\n" + S(5, "%f3") +
                  "\tsin.approx.f32 %f4, 0f3F800000;\n" + S(6, "%f4") +
                  "\tcos.approx.f32 %f4, 0f3F800000;\n" + S(7, "%f4") +
                  "\trcp.approx.f32 %f5, 0f40400000;\n" + S(8, "%f5") +
                  "\ttanh.approx.f32 %f6, 0f3F000000;\n" + S(9, "%f6") +
                  "\tsqrt.approx.f32 %f7, 0f41100000;\n" + S(10, "%f7"), 11);
    if (v.empty()) return;
    auto ulp = [](float x) { return std::nextafter(std::fabs(x), INFINITY) - std::fabs(x); };
    float e = static_cast<float>(std::pow(2.0, 3.5));
    CHECK(std::fabs(F(v[0]) - e) <= 2 * ulp(e));
    CHECK_EQ(v[1], 0ull);
    CHECK_EQ(v[2], 0ull);
    CHECK(F(v[3]) > 0 && std::fabs(F(v[3]) - std::ldexp(1.0f, -130)) <= 2 * ulp(std::ldexp(1.0f, -130)));
    CHECK_EQ(F(v[4]), 0.5f);
    CHECK(std::fabs(F(v[5]) - 3.0f) <= std::ldexp(1.0f, -22));
    CHECK(std::fabs(F(v[6]) - std::sin(1.0)) <= std::ldexp(1.0, -20));
    CHECK(std::fabs(F(v[7]) - std::cos(1.0)) <= std::ldexp(1.0, -20));
    CHECK(std::fabs(F(v[8]) - 1.0 / 3.0) <= ulp(1.0f / 3));
    CHECK(std::fabs(F(v[9]) - std::tanh(0.5)) <= std::ldexp(1.0, -10));
    CHECK(std::fabs(F(v[10]) - 3.0f) <= ulp(3.0f));
}

TEST(f16_conversion_rounding) {
    const uint32_t in[] = {0x3f800000, 0x477fe000, 0x477ff000, 0x477fefff, 0x47c35000, 0x33800000, 0x33000000,
                           0x33400000, 0x3f801000, 0x3f803000, 0x7fc00000, 0x80000000, 0x38800000, 0x387fc000};
    // 1, 65504, 65520 (tie -> overflow to inf), 65519.996, 1e5, 2^-24, 2^-25 (tie -> 0), 1.5*2^-25 (-> 2^-24),
    // 1+2^-11 (tie -> 1), 1+3*2^-11 (tie -> even 1+2^-9), NaN, -0, 2^-14 (smallest normal), 2^-14 - 2^-24 (largest subnormal)
    const uint32_t want_rn[] = {0x3c00, 0x7bff, 0x7c00, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x0001, 0x3c00, 0x3c02, 0x7fff,
                                0x8000, 0x0400, 0x03ff};
    std::string body;
    for (int i = 0; i < 14; ++i) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "\tmov.b32 %%f1, 0x%08X;\n\tcvt.rn.f16.f32 %%rs1, %%f1;\n", in[i]);
        body += buf + S(i, "%rs1", "b16");
    }
    body += "\tmov.b32 %f2, 0x47c35000;\n\tcvt.rz.f16.f32 %rs2, %f2;\n" + S(14, "%rs2", "b16");      // 1e5 rz -> max
    body += "\tneg.f32 %f3, %f2;\n\tcvt.rm.f16.f32 %rs2, %f3;\n" + S(15, "%rs2", "b16");               // -1e5 rm -> -inf
    body += "\tcvt.rp.f16.f32 %rs2, %f3;\n" + S(16, "%rs2", "b16");                                    // -1e5 rp -> -max
    body += "\tmov.b32 %f4, 0x3f801000;\n\tcvt.rp.f16.f32 %rs2, %f4;\n" + S(17, "%rs2", "b16");
    body += "\tmov.b16 %rs3, 0x0001;\n\tcvt.f32.f16 %f5, %rs3;\n" + S(18, "%f5");
    body += "\tmov.b16 %rs3, 0xFBFF;\n\tcvt.f32.f16 %f5, %rs3;\n" + S(19, "%f5");
    body += "\tmov.b16 %rs3, 0x7C00;\n\tcvt.f32.f16 %f5, %rs3;\n" + S(20, "%f5");
    body += "\tmov.b16 %rs3, 0x3555;\n\tcvt.f32.f16 %f5, %rs3;\n" + S(21, "%f5");
    body += "\tmov.f32 %f6, 0f3F800000;\n\tmov.f32 %f7, 0f40000000;\n\tcvt.rn.f16x2.f32 %r1, %f6, %f7;\n" + S(22, "%r1");
    auto v = run1(body, 23);
    if (v.empty()) return;
    for (int i = 0; i < 14; ++i) CHECK_EQ(v[i], static_cast<uint64_t>(want_rn[i]));
    CHECK_EQ(v[14], 0x7bffull);
    CHECK_EQ(v[15], 0xfc00ull);
    CHECK_EQ(v[16], 0xfbffull);
    CHECK_EQ(v[17], 0x3c01ull);
    CHECK_EQ(F(v[18]), std::ldexp(1.0f, -24));
    CHECK_EQ(F(v[19]), -65504.0f);
    CHECK(std::isinf(F(v[20])));
    CHECK_EQ(F(v[21]), 0.333251953125f);
    CHECK_EQ(v[22], 0x3c004000ull);   // a (1.0) in the upper half, b (2.0) in the lower
}

TEST(bf16_conversion_rounding) {
    auto v = run1("\tmov.b32 %f1, 0x3F808000;\n\tcvt.rn.bf16.f32 %rs1, %f1;\n" + S(0, "%rs1", "b16") +   // tie -> even
                  "\tmov.b32 %f1, 0x3F818000;\n\tcvt.rn.bf16.f32 %rs1, %f1;\n" + S(1, "%rs1", "b16") +   // tie -> even (up)
                  "\tmov.b32 %f1, 0x7F7FC99E;\n\tcvt.rn.bf16.f32 %rs1, %f1;\n" + S(2, "%rs1", "b16") +   // overflow -> inf
                  "\tcvt.rz.bf16.f32 %rs1, %f1;\n" + S(3, "%rs1", "b16") +
                  "\tmov.b16 %rs2, 0x4049;\n\tcvt.f32.bf16 %f2, %rs2;\n" + S(4, "%f2") +
                  "\tmov.f32 %f3, 0f3F800000;\n\tmov.f32 %f4, 0fC0000000;\n\tcvt.rn.bf16x2.f32 %r1, %f3, %f4;\n" + S(5, "%r1"), 6);
    if (v.empty()) return;
    CHECK_EQ(v[0], 0x3f80ull);
    CHECK_EQ(v[1], 0x3f82ull);
    CHECK_EQ(v[2], 0x7f80ull);
    CHECK_EQ(v[3], 0x7f7full);
    CHECK_EQ(F(v[4]), 3.140625f);
    CHECK_EQ(v[5], 0x3f80c000ull);
}

TEST(float_int_conversions) {
    auto v = run1("\tcvt.rni.s32.f32 %r1, 0f40200000;\n" + S(0, "%r1") +     // 2.5 -> 2
                  "\tcvt.rni.s32.f32 %r1, 0f40600000;\n" + S(1, "%r1") +     // 3.5 -> 4
                  "\tcvt.rni.s32.f32 %r1, 0fC0200000;\n" + S(2, "%r1") +     // -2.5 -> -2
                  "\tcvt.rzi.s32.f32 %r1, 0fC02CCCCD;\n" + S(3, "%r1") +     // -2.7 -> -2
                  "\tcvt.rmi.s32.f32 %r1, 0fC0066666;\n" + S(4, "%r1") +     // -2.1 -> -3
                  "\tcvt.rpi.s32.f32 %r1, 0f40066666;\n" + S(5, "%r1") +     // 2.1 -> 3
                  "\tcvt.rzi.s32.f32 %r1, 0f7FC00000;\n" + S(6, "%r1") +     // NaN -> 0
                  "\tcvt.rzi.s32.f32 %r1, 0f4F32D05E;\n" + S(7, "%r1") +     // 3e9 -> INT_MAX
                  "\tcvt.rzi.s32.f32 %r1, 0fFF800000;\n" + S(8, "%r1") +     // -inf -> INT_MIN
                  "\tcvt.rzi.u32.f32 %r1, 0fC0A00000;\n" + S(9, "%r1") +     // -5 -> 0
                  "\tcvt.sat.f32.f32 %f1, 0f3FC00000;\n" + S(10, "%f1") +
                  "\tcvt.sat.f32.f32 %f1, 0fBF000000;\n" + S(11, "%f1") +
                  "\tcvt.rni.f32.f32 %f1, 0f40200000;\n" + S(12, "%f1") +
                  "\tmov.u32 %r2, 16777217;\n\tcvt.rn.f32.s32 %f2, %r2;\n" + S(13, "%f2") +
                  "\tcvt.rp.f32.s32 %f2, %r2;\n" + S(14, "%f2") +
                  "\tmov.u32 %r3, -1;\n\tcvt.rz.f32.u32 %f3, %r3;\n" + S(15, "%f3") +
                  "\tcvt.s64.s32 %rd1, %r3;\n" + S(16, "%rd1", "b64") +
                  "\tcvt.u64.u32 %rd2, %r3;\n" + S(17, "%rd2", "b64") +
                  "\tmov.u64 %rd3, 0x100000005;\n\tcvt.u32.u64 %r4, %rd3;\n" + S(18, "%r4") +
                  "\tmov.u32 %r5, 300;\n\tcvt.sat.s8.s32 %r6, %r5;\n" + S(19, "%r6") +
                  "\tmov.u64 %rd4, -3;\n\tcvt.rn.f64.s64 %fd1, %rd4;\n\tmul.f64 %fd2, %fd1, 0d4000000000000000;\n" + S(20, "%fd2", "b64") +
                  "\tmov.b64 %fd3, 0x3FF0000000400000;\n\tcvt.rn.f32.f64 %f4, %fd3;\n" + S(21, "%f4") +
                  "\tcvt.rp.f32.f64 %f4, %fd3;\n" + S(22, "%f4") +
                  "\tcvt.f64.f32 %fd4, 0f3EAAAAAB;\n" + S(23, "%fd4", "b64"), 24);
    if (v.empty()) return;
    const uint32_t want32[] = {2, 4, static_cast<uint32_t>(-2), static_cast<uint32_t>(-2), static_cast<uint32_t>(-3), 3, 0,
                               0x7fffffff, 0x80000000, 0, 0x3f800000, 0, 0x40000000, 0x4b800000, 0x4b800001, 0x4f7fffff};
    for (int i = 0; i < 16; ++i) CHECK_EQ(v[i] & 0xffffffffu, static_cast<uint64_t>(want32[i]));
    CHECK_EQ(v[16], 0xffffffffffffffffull);
    CHECK_EQ(v[17], 0xffffffffull);
    CHECK_EQ(v[18] & 0xffffffffu, 5ull);
    CHECK_EQ(v[19] & 0xffffffffu, 127ull);
    CHECK_EQ(std::bit_cast<double>(v[20]), -6.0);
    CHECK_EQ(v[21] & 0xffffffffu, 0x3f800000ull);
    CHECK_EQ(v[22] & 0xffffffffu, 0x3f800001ull);
    CHECK_EQ(std::bit_cast<double>(v[23]), static_cast<double>(F(0x3eaaaaab)));
}

TEST(half_precision_arithmetic) {
    auto v = run1("\tmov.b16 %rs1, 0x3C00;\n\tmov.b16 %rs2, 0x1000;\n\tadd.f16 %rs3, %rs1, %rs2;\n" + S(0, "%rs3", "b16") +  // 1 + 2^-11: tie -> 1
                  "\tmov.b16 %rs4, 0x3C01;\n\tadd.rn.f16 %rs3, %rs4, %rs2;\n" + S(1, "%rs3", "b16") +                       // tie -> even 0x3c02
                  "\tmov.b32 %r1, 0x42004000;\n\tmov.b32 %r2, 0x7BFF3800;\n\tmul.f16x2 %r3, %r1, %r2;\n" + S(2, "%r3") +
                  "\tmov.b16 %rs5, 0x4000;\n\tmov.b16 %rs6, 0x4200;\n\tfma.rn.f16 %rs7, %rs5, %rs6, %rs1;\n" + S(3, "%rs7", "b16") +
                  "\tmov.b16 %rs8, 0x7E00;\n\tmax.f16 %rs3, %rs8, %rs1;\n" + S(4, "%rs3", "b16") +
                  "\tmin.NaN.f16 %rs3, %rs8, %rs1;\n" + S(5, "%rs3", "b16") +
                  "\tmov.b32 %r4, 0x3F80BF80;\n\tneg.bf16x2 %r5, %r4;\n" + S(6, "%r5") +
                  "\tmov.b16 %rs1, 0x3F80;\n\tmov.b16 %rs2, 0x3B80;\n\tadd.rn.bf16 %rs3, %rs1, %rs2;\n" + S(7, "%rs3", "b16") +
                  "\tmov.b16 %rs1, 0x3F81;\n\tadd.rn.bf16 %rs3, %rs1, %rs2;\n" + S(8, "%rs3", "b16") +
                  "\tmov.b16 %rs1, 0x3A00;\n\tmov.b16 %rs2, 0x3800;\n\tadd.sat.f16 %rs3, %rs1, %rs2;\n" + S(9, "%rs3", "b16") +
                  "\tmov.b16 %rs1, 0x0001;\n\tmul.ftz.f16 %rs3, %rs1, 0x3C00;\n" + S(10, "%rs3", "b16"), 11);
    if (v.empty()) return;
    CHECK_EQ(v[0], 0x3c00ull);
    CHECK_EQ(v[1], 0x3c02ull);
    CHECK_EQ(v[2], 0x7c003c00ull);   // {2*0.5, 3*65504 -> inf}
    CHECK_EQ(v[3], 0x4700ull);       // 2*3+1
    CHECK_EQ(v[4], 0x3c00ull);
    CHECK_EQ(v[5], 0x7fffull);
    CHECK_EQ(v[6], 0xbf803f80ull);
    CHECK_EQ(v[7], 0x3f80ull);
    CHECK_EQ(v[8], 0x3f82ull);
    CHECK_EQ(v[9], 0x3c00ull);
    CHECK_EQ(v[10], 0x0000ull);
}

TEST(fast_f16_rounding_matches_the_general_rounder) {
    // the interpreter's bit-trick f32->f16 (hot path) against its general rounding routine, on every f16 boundary
    // region and random patterns; the general routine is itself checked against known values above
    std::mt19937 g(9);
    int bad = 0;
    for (int i = 0; i < 2000000 && bad < 5; ++i) {
        uint32_t x = i < 65536 ? (static_cast<uint32_t>(i) << 13) + static_cast<uint32_t>(g() & 0x1fff) : static_cast<uint32_t>(g());
        float f = std::bit_cast<float>(x);
        uint16_t a = pdemu::ptx::f32_to_f16_rn(f);
        uint16_t b = static_cast<uint16_t>(pdemu::ptx::round_small_float(f, pdemu::ptx::fr_rn, 10, -14, 15, 15));
        if (a != b) { ++bad; std::fprintf(stderr, "0x%08x: fast 0x%04x, general 0x%04x\n", x, a, b); }
    }
    CHECK_EQ(bad, 0);
    for (uint32_t h = 0; h < 65536; ++h) {   // f16 -> f32 -> f16 round-trips for every non-NaN value
        float f = pdemu::ptx::f16_to_f32(static_cast<uint16_t>(h));
        if (!std::isnan(f)) CHECK_EQ(pdemu::ptx::f32_to_f16_rn(f), static_cast<uint16_t>(h));
        CHECK_EQ(std::isnan(f), (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0);
    }
}

PDEMU_TEST_MAIN
