//===- CpuIsa.h - the host's vector instruction set -----------------------===//
//
// The x86-64 levels the CPU runtime has code for: its own hot loops
// (attention) are compiled once per level and one is picked at run time
// from the CPU's features. `generic` is what any x86-64 runs (SSE2);
// `avx2` is x86-64-v3 (AVX2 + FMA); `avx512` is x86-64-v4 (AVX-512 F, BW,
// DQ, VL). On other architectures only `generic` exists.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CPUISA_H
#define KILN_RUNTIME_CPUISA_H

#include <optional>
#include <string_view>

namespace kiln::rt {

enum class CpuIsa { Generic, Avx2, Avx512 };

/// The best level this CPU runs.
CpuIsa hostIsa();

/// Whether this CPU runs code for `isa`.
bool hostSupports(CpuIsa isa);

/// "generic", "avx2" or "avx512".
std::string_view isaName(CpuIsa isa);

/// The ISA named by isaName's words; nullopt for another.
std::optional<CpuIsa> isaNamed(std::string_view name);

/// The x86-64 level (LLVM's CPU name, as kilnc --cpu and the artifact's
/// kernel libraries name it) of `isa`: x86-64, x86-64-v3, x86-64-v4.
std::string_view cpuLevelOf(CpuIsa isa);

/// The ISA a level needs; nullopt for a name this runtime does not know.
std::optional<CpuIsa> isaOfCpuLevel(std::string_view level);

} // namespace kiln::rt

#endif // KILN_RUNTIME_CPUISA_H
