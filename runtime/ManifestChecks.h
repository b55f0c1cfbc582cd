//===- ManifestChecks.h - an artifact's checks at load --------------------===//
//
// What an executor checks of an artifact before running anything: its
// target, and every entry's steps and buffers against their kernels'
// compiled types, weights' shapes and arguments' dims; the lookups of an
// entry and of the kv-cache arguments.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_MANIFESTCHECKS_H
#define KILN_RUNTIME_MANIFESTCHECKS_H

#include "artifact/Artifact.h"

#include "absl/status/statusor.h"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace kiln::rt {

/// An error naming the artifact's file and what is wrong with it.
absl::Status damagedArtifact(const Artifact &artifact, const std::string &what);

/// Refuses an artifact compiled for another target (with the kilnc flag
/// that makes the right one), then makes the load-time structural checks
/// of every entry and step.
absl::Status checkArtifact(const Artifact &artifact, const std::string &target,
                           const std::string &device);

/// The entry named `name`, or an error naming the artifact.
absl::StatusOr<const artifact::EntryT *> findEntry(const Artifact &artifact,
                                                   const std::string &name);

/// A cache argument: [batch, length, width] of `dtype` (f32, or bf16/f16
/// in a kilnc --precision build).
struct CacheArgument {
  std::string name;
  int64_t width = 0;
  artifact::DType dtype = artifact::DType::F32;
};
/// Every cache argument.
absl::StatusOr<std::vector<CacheArgument>>
cacheArguments(const Artifact &artifact);

/// Caches of `batch` sequences of `length` positions, checked before
/// anything is allocated: a length past the model's position limit is one
/// error, never an allocation of whatever size was asked. The artifact's
/// --max-batch and --max-seq are not limits (the arena is laid out again
/// for a call past them, runtime/ArenaPlan.h); a cache too large for memory
/// fails its allocation with the bytes it asked for.
absl::Status checkCacheShape(const Artifact &artifact, int64_t batch,
                             int64_t length);

/// Pipeline stages (kilnc --pp): whether stage `stage` of `stages` runs
/// `step` (a send_recv: as its sender or its receiver).
bool runsOnStage(const artifact::StepT &step, int64_t stage, int64_t stages);

/// What a stage's steps read: its weight slots and kv caches (every slot
/// and cache without stages).
struct StageNeeds {
  std::vector<bool> weights;
  std::set<std::string> caches;
};
StageNeeds stageNeeds(const Artifact &artifact, int64_t stage);

} // namespace kiln::rt

#endif // KILN_RUNTIME_MANIFESTCHECKS_H
