//===- StepProfile.h - time per step kind and kernel ----------------------===//
//
// What `kiln-run --profile` prints, shared by the CPU executor (wall time
// per step) and the CUDA executor (CUDA events around each step), and the
// name kiln-bisect gives a step.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_STEPPROFILE_H
#define KILN_RUNTIME_STEPPROFILE_H

#include "artifact/Artifact.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace kiln::rt {

/// Time spent per step kind and per kernel, summed over calls.
struct StepProfile {
  std::string name; // "gemm", "attention", "norm" or the kernel's name
  int64_t calls = 0;
  double seconds = 0;
};

/// A step's name in profiles and reports: its kernel's name, or "gemm",
/// "norm", "attention".
std::string stepName(const artifact::ManifestT &m, const artifact::StepT &step);

/// Step times by name, as executors collect them.
class StepProfiles {
public:
  void add(const std::string &name, double seconds);
  /// Every entry, most expensive first.
  std::vector<StepProfile> byTime() const;

private:
  std::map<std::string, StepProfile> byName_;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_STEPPROFILE_H
