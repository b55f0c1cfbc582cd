//===- CpuIsa.cpp - the host's vector instruction set ---------------------===//

#include "runtime/CpuIsa.h"

#include <optional>
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

namespace {

/// Each ISA's name (kiln-run --cpu-isa) and x86-64 level (kilnc --cpu).
struct IsaNames {
  CpuIsa isa;
  std::string_view name, level;
};
constexpr IsaNames kIsas[] = {{CpuIsa::Generic, "generic", "x86-64"},
                              {CpuIsa::Avx2, "avx2", "x86-64-v3"},
                              {CpuIsa::Avx512, "avx512", "x86-64-v4"}};

const IsaNames &namesOf(CpuIsa isa) {
  for (const IsaNames &n : kIsas)
    if (n.isa == isa)
      return n;
  return kIsas[0];
}

} // namespace

std::string_view isaName(CpuIsa isa) { return namesOf(isa).name; }

std::string_view cpuLevelOf(CpuIsa isa) { return namesOf(isa).level; }

std::optional<CpuIsa> isaNamed(std::string_view name) {
  for (const IsaNames &n : kIsas)
    if (n.name == name)
      return n.isa;
  return std::nullopt;
}

std::optional<CpuIsa> isaOfCpuLevel(std::string_view level) {
  for (const IsaNames &n : kIsas)
    if (n.level == level)
      return n.isa;
  return std::nullopt;
}

} // namespace kiln::rt
