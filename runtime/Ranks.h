//===- Ranks.h - every rank of a partitioned artifact in one process ------===//
//
// An artifact compiled with kilnc --tp T --pp P --dp D runs on T * P * D
// ranks: D replicas, each a pipeline of P stages, each stage a
// tensor-parallel group of T ranks running the stage's steps on their own
// parts of the weights. RankedExecutor holds all of them in one process
// (kiln-run --ranks N): one thread per rank, the cores shared out between
// them, collectives and send_recv through shared memory (LocalGroup,
// LocalPipeline). To the driver it is one Executor: a call's batch is
// split over the replicas and, within a replica, into micro-batches that
// flow through the stages one after the other, so stage s runs
// micro-batch m while stage s + 1 runs m - 1 (each micro-batch has an
// executor, arena and kv caches of its own on every rank, so decode steps
// keep each stage's caches local); the last stage's outputs (its
// tensor-parallel rank 0's) are joined again along the batch.
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
class LocalPipeline;
class Communicator;
class StageLink;

/// The ranks an artifact was compiled for (tensor_parallel *
/// pipeline_parallel * data_parallel, at least 1).
int64_t artifactRanks(const Artifact &artifact);

/// Rows [begin, end) of a batch of `batch` rows that chunk `chunk` of
/// `chunks` serves (a replica's share, or a replica's micro-batch): equal
/// shares rounded up, so the last chunks may be short or empty.
std::pair<int64_t, int64_t> chunkRows(int64_t chunk, int64_t chunks,
                                      int64_t batch);

struct RanksOptions {
  /// Per rank: threads is the whole process's, shared out between the
  /// ranks; stepHook, when set, is called by rank 0 only.
  CpuOptions cpu;
  /// How long a rank waits in a collective for the others.
  double collectiveTimeoutSeconds = 60;
  /// Micro-batches per replica with pipeline stages (0: one per stage;
  /// without stages always 1).
  int microBatches = 0;
  /// For tests: called by every rank after each of its steps (the rank,
  /// the entry, the step's index); a fault planted here ends the call on
  /// every rank within the timeout.
  std::function<void(int rank, const std::string &entry, size_t step)> rankHook;
  /// Ranks on another device than the CPU (kiln-run --device cuda): makes
  /// a rank's executor from the options a CPU rank would get (its rank,
  /// stage, group and link). Null: CpuExecutors.
  std::function<absl::StatusOr<std::unique_ptr<Executor>>(const CpuOptions &)>
      makeRank;
};

class RankedExecutor : public Executor {
public:
  static absl::StatusOr<std::unique_ptr<RankedExecutor>>
  create(const Artifact &artifact, const RanksOptions &options);
  ~RankedExecutor() override;

  absl::Status resetCaches(int64_t batch, int64_t length) override;
  absl::StatusOr<std::vector<NamedTensor>>
  run(const std::string &entry, const std::vector<Tensor> &arguments) override;

  int ranks() const { return static_cast<int>(tp_ * pp_ * dp_); }
  int64_t tensorParallel() const { return tp_; }
  int64_t pipelineParallel() const { return pp_; }
  int64_t dataParallel() const { return dp_; }
  int64_t microBatches() const { return mb_; }
  /// The bytes rank r has put into collectives and sent to other stages,
  /// over all calls so far, and rank 0's in the last call (a decode step,
  /// when generating).
  int64_t collectiveBytes(int r) const;
  int64_t lastCallBytes() const { return lastCallBytes_; }
  /// Rank r's executor (of micro-batch 0); its CpuExecutor, or null for
  /// ranks on another device.
  Executor &rank(int r) { return *executors_[r]; }
  CpuExecutor *cpuRank(int r) {
    return dynamic_cast<CpuExecutor *>(executors_[r].get());
  }

private:
  RankedExecutor() = default;
  /// Rows [begin, end) of `batch` that chunk `chunk` (replica * micro-
  /// batches + micro-batch) serves.
  std::pair<int64_t, int64_t> rowsOf(int64_t chunk, int64_t batch) const;
  /// Ends every collective and send_recv in flight, after rank `rank`
  /// failed.
  void abortAll(int64_t rank, const std::string &why);

  int64_t tp_ = 1, pp_ = 1, dp_ = 1, mb_ = 1;
  int64_t lastCallBytes_ = 0;
  double timeout_ = 60;
  /// Per (replica, stage): its tensor-parallel group.
  std::vector<std::unique_ptr<LocalGroup>> groups_;
  /// Per (replica, micro-batch, tensor-parallel rank): its pipeline.
  std::vector<std::unique_ptr<LocalPipeline>> pipelines_;
  /// Per rank; per (micro-batch, rank).
  std::vector<std::unique_ptr<Communicator>> members_;
  std::vector<std::unique_ptr<StageLink>> links_;
  /// Per (micro-batch, rank): index micro-batch * ranks() + rank.
  std::vector<std::unique_ptr<Executor>> executors_;
};

/// One rank's micro-batches in a process of its own (mpirun with pipeline
/// stages): an executor per micro-batch, each with its arena and the kv
/// caches of its rows (chunkRows of the micro-batches). A call runs the
/// micro-batches one after the other, so this stage starts micro-batch
/// m + 1 while the next stage's process runs m, and joins their outputs
/// along the batch.
class MicroBatched : public Executor {
public:
  explicit MicroBatched(std::vector<std::unique_ptr<Executor>> parts);
  ~MicroBatched() override;

  absl::Status resetCaches(int64_t batch, int64_t length) override;
  absl::StatusOr<std::vector<NamedTensor>>
  run(const std::string &entry, const std::vector<Tensor> &arguments) override;

private:
  std::vector<std::unique_ptr<Executor>> parts_;
};

/// One rank in a process of its own (mpirun) whose outputs other
/// processes need: it wraps the executor of its part (`inner`) and passes
/// outputs over `link`. Not owning `link`.
class LinkedRank : public Executor {
public:
  LinkedRank(const Artifact &artifact, std::unique_ptr<Executor> inner,
             StageLink &link);
  ~LinkedRank() override;
  /// The inner executor's caches, for the whole batch of each call.
  absl::Status resetCaches(int64_t batch, int64_t length) override;

protected:
  const Artifact &artifact;
  std::unique_ptr<Executor> inner;
  StageLink &link;
};

/// One rank of a data-parallel artifact in a process of its own (mpirun):
/// runs its replica's rows of each call (chunkRows of the replicas, as
/// RankedExecutor splits them), then every replica's outputs are joined
/// along the batch through replica 0 (each sends its rows to replica 0,
/// which sends the whole batch back), so every process's driver sees the
/// same outputs and picks the same next tokens. A replica without rows
/// (a batch smaller than the replicas) only takes part in the exchange.
/// `link` joins the processes of the same stage and tensor-parallel rank
/// across the replicas: its stage d is replica d.
class ReplicaRank : public LinkedRank {
public:
  using LinkedRank::LinkedRank;
  absl::Status resetCaches(int64_t batch, int64_t length) override;
  absl::StatusOr<std::vector<NamedTensor>>
  run(const std::string &entry, const std::vector<Tensor> &arguments) override;

private:
  absl::StatusOr<std::vector<NamedTensor>>
  exchange(const std::string &entry, std::vector<NamedTensor> own);
};

/// One rank of an artifact with pipeline stages in a process of its own
/// (mpirun): runs its stage's steps, then the last stage passes its
/// outputs back to the earlier stages of its pipeline (shape, then
/// bytes), so every process's driver sees them and can pick the next
/// token.
class PipelineRank : public LinkedRank {
public:
  using LinkedRank::LinkedRank;
  absl::StatusOr<std::vector<NamedTensor>>
  run(const std::string &entry, const std::vector<Tensor> &arguments) override;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_RANKS_H
