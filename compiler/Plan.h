//===- Plan.h - a partitioning plan from a config alone (kilnc --plan) ----===//
//
// For a model that does not fit one machine (or whose weights are not at
// hand), kilnc --plan --tp T --pp P --dp D reads config.json only, builds
// the graph with params of the config's dtype and no checkpoint, runs
// kiln-partition for T ranks, and reports from that IR what each rank
// holds and moves: its weight bytes, its kv cache bytes per token, the
// bytes its collectives move per decode step, and, for P stages, the
// layers the cost model gives each stage and what crosses each stage
// boundary (the split kiln-pipeline makes when kilnc compiles --pp: the
// same cost model, support/Stages.h).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_PLAN_H
#define KILN_COMPILER_PLAN_H

#include "absl/status/statusor.h"

#include <cstdint>
#include <string>

namespace llvm {
class raw_ostream;
} // namespace llvm

namespace kiln {

struct PlanOptions {
  std::string modelDir;
  int64_t tp = 1, pp = 1, dp = 1;
  /// Bytes per activation element in collectives and caches (4: Kiln's f32
  /// activations; 2 for a bf16 build).
  int64_t activationBytes = 4;
  llvm::raw_ostream *progress = nullptr; // the table; null: nowhere
};

/// The plan as JSON (kilnc --report).
absl::StatusOr<std::string> planModel(const PlanOptions &options);

} // namespace kiln

#endif // KILN_COMPILER_PLAN_H
