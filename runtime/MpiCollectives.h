//===- MpiCollectives.h - ranks that are MPI processes --------------------===//
//
// `mpirun -np N kiln-run ...` runs one rank per process, on one machine or
// several. kiln-run links no MPI: it loads libkiln-mpi (runtime/mpi/, the
// one library that links OpenMPI) when it finds itself started by mpirun,
// from its own folder, the install's lib folder, or the library path. The
// collectives of runtime/Collectives.h then go through MPI between the
// processes of a tensor-parallel group, and pipeline stages pass values
// by MPI point-to-point messages.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_MPICOLLECTIVES_H
#define KILN_RUNTIME_MPICOLLECTIVES_H

#include "runtime/Collectives.h"

#include "absl/status/statusor.h"

#include <memory>

namespace kiln::rt {

/// Whether an MPI launcher started this process with more than one rank
/// (OpenMPI's OMPI_COMM_WORLD_SIZE, or PMI_SIZE / PMIX's).
bool launchedByMpi();

/// Processes on this machine in the MPI job (1 when unknown).
int mpiLocalRanks();

class MpiWorld {
public:
  /// Loads libkiln-mpi and joins MPI.
  static absl::StatusOr<std::unique_ptr<MpiWorld>> open();
  ~MpiWorld();
  int rank() const { return rank_; }
  int size() const { return size_; }
  /// This process's end of the group of the world's ranks with the same
  /// `color`, ordered by `key`; collectives wait `timeoutSeconds`.
  absl::StatusOr<std::unique_ptr<Communicator>>
  group(int color, int key, int groupSize, double timeoutSeconds);
  /// This process's end of its pipeline (kilnc --pp): stage `stage` of
  /// `stages`, whose stage s is world rank `firstRank + s * stride`.
  std::unique_ptr<StageLink> pipeline(int stage, int stages, int firstRank,
                                      int stride, double timeoutSeconds);

  struct Api;

private:
  MpiWorld() = default;
  void *library_ = nullptr;
  std::unique_ptr<Api> api_;
  int rank_ = 0, size_ = 1;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_MPICOLLECTIVES_H
