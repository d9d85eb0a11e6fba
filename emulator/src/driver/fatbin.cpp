// What cuModuleLoadData accepts: a fatbin (the container nvcc -fatbin writes, magic 0xBA55ED50: a 16-byte header,
// then entries, each a header - kind 1 PTX / 2 ELF cubin, its size, target arch, flags - and a payload), the
// fatbin wrapper a host object embeds (magic 0x466243B1), or NUL-terminated PTX text. The emulator runs PTX, so it
// takes the fatbin's PTX for the highest compute capability <= 9.0.
#include "driver/module.h"
#include "driver/state.h"

#include <cstring>

namespace pdemu::drv {
namespace {

constexpr uint32_t kFatbinMagic = 0xBA55ED50u;
constexpr uint32_t kWrapperMagic = 0x466243B1u;
constexpr uint16_t kKindPtx = 1;
constexpr uint16_t kKindElf = 2;
constexpr uint64_t kFlagCompressedLz4 = 0x2000;
constexpr uint64_t kFlagCompressedZstd = 0x8000;
constexpr uint32_t kDeviceArch = 90;

template <class T> T read(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

CUresult from_fatbin(const uint8_t* image, std::string* ptx) {
    uint16_t version = read<uint16_t>(image + 4);
    uint16_t header_size = read<uint16_t>(image + 6);
    uint64_t body = read<uint64_t>(image + 8);
    if (version != 1 || header_size < 16 || body > (1ull << 34))
        return fail(cu::ERROR_INVALID_IMAGE, "cuModuleLoadData: fatbin header is malformed (version " +
                                                 std::to_string(version) + ", header size " + std::to_string(header_size) + ")");
    const uint8_t* p = image + header_size;
    const uint8_t* end = p + body;
    const uint8_t* best = nullptr;
    uint32_t best_arch = 0, newest_ptx = 0, elf_count = 0;
    uint64_t best_flags = 0, best_size = 0;
    while (p + 16 <= end) {
        uint16_t kind = read<uint16_t>(p);
        uint32_t entry_header = read<uint32_t>(p + 4);
        uint64_t payload = read<uint64_t>(p + 8);
        if (entry_header < 0x40 || p + entry_header + payload > end)
            return fail(cu::ERROR_INVALID_IMAGE, "cuModuleLoadData: fatbin entry at offset " +
                                                     std::to_string(p - image) + " overruns the fatbin");
        uint32_t arch = read<uint32_t>(p + 0x1c);
        uint64_t flags = read<uint64_t>(p + 0x28);
        if (kind == kKindPtx) {
            newest_ptx = std::max(newest_ptx, arch);
            if (arch <= kDeviceArch && (!best || arch > best_arch)) {
                best = p + entry_header;
                best_arch = arch;
                best_flags = flags;
                best_size = payload;
            }
        } else if (kind == kKindElf) {
            ++elf_count;
        }
        p += entry_header + payload;
    }
    if (!best) {
        if (newest_ptx)
            return fail(cu::ERROR_NO_BINARY_FOR_GPU, "cuModuleLoadData: the fatbin's PTX is for compute_" +
                                                         std::to_string(newest_ptx) + ", newer than the emulated sm_90");
        return fail(cu::ERROR_NO_BINARY_FOR_GPU,
                    "cuModuleLoadData: the fatbin has no PTX (" + std::to_string(elf_count) +
                        " cubin(s) only); the emulator interprets PTX: build with -gencode arch=compute_90,code=compute_90");
    }
    bool zstd = best_size >= 4 && read<uint32_t>(best) == 0xFD2FB528u;
    if ((best_flags & (kFlagCompressedLz4 | kFlagCompressedZstd)) || zstd)
        return fail(cu::ERROR_INVALID_IMAGE, "cuModuleLoadData: the fatbin's compute_" + std::to_string(best_arch) +
                                                 " PTX is compressed; the emulator reads uncompressed fatbins only: "
                                                 "build with nvcc -compress-mode=none");
    size_t n = strnlen(reinterpret_cast<const char*>(best), best_size);
    ptx->assign(reinterpret_cast<const char*>(best), n);
    return cu::SUCCESS;
}

bool looks_like_text(const uint8_t* p) {
    for (int i = 0; i < 16 && p[i]; ++i) {
        uint8_t ch = p[i];
        if (!(ch == '\n' || ch == '\r' || ch == '\t' || (ch >= 0x20 && ch < 0x7f))) return false;
    }
    return true;
}

}  // namespace

CUresult extract_ptx(const void* image, std::string* ptx) {
    const auto* p = static_cast<const uint8_t*>(image);
    if (!p[0] || !p[1] || !p[2] || !p[3])  // too short for any binary header: at most a tiny text (never read past its NUL)
        return fail(cu::ERROR_INVALID_IMAGE, "cuModuleLoadData: the image is neither a fatbin nor PTX text");
    uint32_t magic = read<uint32_t>(p);
    if (magic == kFatbinMagic) return from_fatbin(p, ptx);
    if (magic == kWrapperMagic) {
        const void* data = read<const void*>(p + 8);
        if (!data) return fail(cu::ERROR_INVALID_IMAGE, "cuModuleLoadData: fatbin wrapper without data");
        return extract_ptx(data, ptx);
    }
    if (std::memcmp(p, "\x7f" "ELF", 4) == 0)
        return fail(cu::ERROR_NO_BINARY_FOR_GPU, "cuModuleLoadData: the image is a cubin (SASS), which the emulator "
                                                 "cannot run: load PTX or a fatbin with compute_90 PTX");
    if (looks_like_text(p)) {
        std::string text(reinterpret_cast<const char*>(p));
        if (text.find(".version") != std::string::npos && text.find(".target") != std::string::npos) {
            *ptx = std::move(text);
            return cu::SUCCESS;
        }
    }
    return fail(cu::ERROR_INVALID_IMAGE, "cuModuleLoadData: the image is neither a fatbin nor PTX text (first bytes " +
                                             hex(read<uint32_t>(p)) + ")");
}

}  // namespace pdemu::drv
