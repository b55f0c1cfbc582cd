//===- StepProfile.cpp - time per step kind and kernel --------------------===//

#include "runtime/StepProfile.h"

#include <algorithm>
#include <string>
#include <vector>

namespace kiln::rt {

std::string stepName(const artifact::ManifestT &m,
                     const artifact::StepT &step) {
  switch (step.kind) {
  case artifact::StepKind::Kernel:
    return m.kernels[step.kernel]->name;
  case artifact::StepKind::Gemm:
    return "gemm";
  case artifact::StepKind::Norm:
    return "norm";
  case artifact::StepKind::Attention:
    return "attention";
  case artifact::StepKind::Collective:
    switch (step.collective) {
    case artifact::CollectiveKind::AllReduce:
      return "all_reduce";
    case artifact::CollectiveKind::AllGather:
      return "all_gather";
    case artifact::CollectiveKind::SendRecv:
      return "send_recv";
    }
    return "collective";
  }
  return "step";
}

void StepProfiles::add(const std::string &name, double seconds) {
  StepProfile &p = byName_[name];
  p.name = name;
  ++p.calls;
  p.seconds += seconds;
}

std::vector<StepProfile> StepProfiles::byTime() const {
  std::vector<StepProfile> out;
  for (const auto &[name, p] : byName_)
    out.push_back(p);
  std::sort(out.begin(), out.end(),
            [](const StepProfile &a, const StepProfile &b) {
              return a.seconds > b.seconds;
            });
  return out;
}

} // namespace kiln::rt
