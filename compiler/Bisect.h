//===- Bisect.h - the first step of an artifact that went wrong -----------===//
//
// Runs a CPU artifact step by step next to the reference interpreter on the
// same inputs: the step list is rebuilt from the model folder with the
// artifact's limits (fused, or -O0, whichever matches the artifact), the
// interpreter runs its first call (prefill, forward or encode) while the
// CPU executor's step hook records each step's results, and every step's
// results are compared. What kiln-bisect prints.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_BISECT_H
#define KILN_COMPILER_BISECT_H

#include "runtime/CpuExecutor.h"
#include "runtime/Driver.h"

#include "absl/status/statusor.h"

#include <string>
#include <vector>

namespace kiln {

struct BisectOptions {
  std::string modelDir;    // the Hugging Face folder it was compiled from
  std::string artifact;    // a .kiln for the CPU
  std::string weightsDir;  // for external weights ("" : modelDir)
  rt::Request request;     // its first call is compared
  double tolerance = 1e-3; // relative error above which a step is wrong
  /// Sees (and may overwrite) each step's results before they are
  /// compared: a test plants a wrong step through it.
  rt::StepHook plant;
};

struct StepError {
  size_t index = 0;     // in the entry's step list
  std::string kind;     // kernel name, "gemm", "norm" or "attention"
  std::string ops;      // the graph ops it computes
  std::string location; // their locations, as the artifact records them
  double relative = 0;  // ||got - ref|| / ||ref||, worst result
  double maxAbs = 0;    // max |got - ref|
  bool finite = true;
};

struct BisectReport {
  std::string entry; // the compared call's entry point
  std::vector<StepError> steps;
  int64_t firstWrong = -1; // first step above the tolerance, or -1
};

absl::StatusOr<BisectReport> bisect(const BisectOptions &options);

} // namespace kiln

#endif // KILN_COMPILER_BISECT_H
