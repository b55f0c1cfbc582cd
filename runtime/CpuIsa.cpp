//===- CpuIsa.cpp - the host's vector instruction set ---------------------===//

#include "runtime/CpuIsa.h"

#include <string_view>

namespace kiln::rt {

bool hostSupports(CpuIsa isa) {
#if defined(__x86_64__)
  switch (isa) {
  case CpuIsa::Generic:
    return true;
  case CpuIsa::Avx2:
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  case CpuIsa::Avx512:
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && hostSupports(CpuIsa::Avx2);
  }
  return false;
#else
  return isa == CpuIsa::Generic;
#endif
}

CpuIsa hostIsa() {
  static const CpuIsa best = hostSupports(CpuIsa::Avx512) ? CpuIsa::Avx512
                             : hostSupports(CpuIsa::Avx2) ? CpuIsa::Avx2
                                                          : CpuIsa::Generic;
  return best;
}

std::string_view isaName(CpuIsa isa) {
  switch (isa) {
  case CpuIsa::Avx2:
    return "avx2";
  case CpuIsa::Avx512:
    return "avx512";
  case CpuIsa::Generic:
    break;
  }
  return "generic";
}

} // namespace kiln::rt
