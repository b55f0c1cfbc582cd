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

#include <string_view>

namespace kiln::rt {

enum class CpuIsa { Generic, Avx2, Avx512 };

/// The best level this CPU runs.
CpuIsa hostIsa();

/// Whether this CPU runs code for `isa`.
bool hostSupports(CpuIsa isa);

/// "generic", "avx2" or "avx512".
std::string_view isaName(CpuIsa isa);

} // namespace kiln::rt

#endif // KILN_RUNTIME_CPUISA_H
