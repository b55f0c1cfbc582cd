//===- Ranks.h - every rank of a partitioned artifact in one process ------===//
//
// An artifact compiled with kilnc --tp T --dp D runs on T * D ranks: D
// replicas, each a tensor-parallel group of T ranks running the same step
// list on their own parts of the weights. RankedExecutor holds all of
// them in one process (kiln-run --ranks N): one CpuExecutor and one thread
// per rank, the cores shared out between them, collectives through shared
// memory (LocalGroup). To the driver it is one Executor: a call's batch is
// split over the replicas (contiguous rows, in order) and their outputs
// joined again; within a replica every rank gets the same inputs and rank
// 0's outputs are returned (after the all_gather of the LM head every
// rank holds the same ones).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_RANKS_H
#define KILN_RUNTIME_RANKS_H

#include "artifact/Artifact.h"
#include "runtime/CpuExecutor.h"
#include "runtime/Executor.h"

#include <memory>
#include <vector>

namespace kiln::rt {

class LocalGroup;
class Communicator;

/// The ranks an artifact was compiled for (tensor_parallel * data_parallel,
/// at least 1).
int64_t artifactRanks(const Artifact &artifact);

struct RanksOptions {
  /// Per rank: threads is the whole process's, shared out between the
  /// ranks; stepHook, when set, is called by rank 0 only.
  CpuOptions cpu;
  /// How long a rank waits in a collective for the others.
  double collectiveTimeoutSeconds = 60;
  /// For tests: called by every rank after each of its steps (the rank,
  /// the entry, the step's index); a fault planted here ends the call on
  /// every rank within the timeout.
  std::function<void(int rank, const std::string &entry, size_t step)> rankHook;
};

class RankedExecutor : public Executor {
public:
  static absl::StatusOr<std::unique_ptr<RankedExecutor>>
  create(const Artifact &artifact, const RanksOptions &options);
  ~RankedExecutor() override;

  absl::Status resetCaches(int64_t batch, int64_t length) override;
  absl::StatusOr<std::vector<NamedTensor>>
  run(const std::string &entry, const std::vector<Tensor> &arguments) override;

  int ranks() const { return static_cast<int>(executors_.size()); }
  int64_t tensorParallel() const { return tp_; }
  int64_t dataParallel() const { return dp_; }
  CpuExecutor &rank(int r) { return *executors_[r]; }

private:
  RankedExecutor() = default;
  /// Rows [begin, end) of the batch replica `replica` serves, of `batch`.
  std::pair<int64_t, int64_t> rowsOf(int64_t replica, int64_t batch) const;

  int64_t tp_ = 1, dp_ = 1;
  double timeout_ = 60;
  std::vector<std::unique_ptr<LocalGroup>> groups_; // one per replica
  std::vector<std::unique_ptr<Communicator>> members_;
  std::vector<std::unique_ptr<CpuExecutor>> executors_;
  /// Per replica, the batch its caches were last reset for (0: none).
  std::vector<int64_t> cacheRows_;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_RANKS_H
