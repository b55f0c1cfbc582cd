//===- CudaExecutor.h - running an artifact's step lists on a GPU ---------===//
//
// The CUDA counterpart of CpuExecutor, behind the same interface and on the
// same device-independent plan (StepPlan.h). Everything CUDA is loaded at
// run time: the driver (CudaDriver), cuBLASLt (CudaBlas), and the
// artifact's fatbin plus the runtime's own attention kernels through
// cuModuleLoadData. One stream; one device allocation each for the arena,
// the weights (uploaded once) and the per-call argument table of the
// generated kernels' ABI (`buffers` and `shapes` are device arrays).
// Kernel launches use 256 threads and as many blocks as the result needs
// (the kernels are grid-stride loops, so any grid is correct); attention
// steps launch the runtime's kernels as runtime/CudaLaunch.h plans them.
// A call shape seen before (same entry, same symbol values: every decode
// step of a generation) replays a CUDA graph captured at its second call.
// The stream is non-blocking; CUDA events around each call's steps give
// its device time apart from the input and output copies.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CUDAEXECUTOR_H
#define KILN_RUNTIME_CUDAEXECUTOR_H

#include "artifact/Artifact.h"
#include "runtime/Executor.h"
#include "runtime/StepProfile.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace kiln::rt {

class Communicator;
class StageLink;

class CudaDriver;
struct GemmBuffers;
struct GemmPlan;

struct CudaOptions {
  int device = 0;
  std::string weightsDir; // external weights: the Hugging Face folder
  /// A driver already loaded (kiln-run's probe, or a test's fake) instead
  /// of loading libcuda again; and, for tests, gemm steps run by a function
  /// instead of cuBLASLt (device pointers as integers).
  std::shared_ptr<CudaDriver> driver;
  std::function<absl::Status(const GemmPlan &, const GemmBuffers &)> gemm;
  /// The cuBLASLt library to open (a path or a soname); empty: the
  /// loader's path, then the toolkit's folders (CudaBlas::load).
  std::string cublasLt;
  /// cuSPARSELt for 2:4 weights (bf16/f16 weights read only as gemm B
  /// whose every 4 input features hold at most 2 non-zeros: kilnc --prune
  /// 2:4 --gemm-dtype bf16): a path or soname; empty: libcusparseLt.so.0
  /// where the loader finds it, else those weights stay dense on
  /// cuBLASLt; "none": dense.
  std::string cusparseLt;
  /// Capture repeated call shapes as CUDA graphs and replay them.
  bool graphs = true;
  /// Synchronize after every step, so that a kernel fault is reported with
  /// the step it happened in (debugging; no graphs then).
  bool syncSteps = false;
  /// Time every step with CUDA events (see profile(); no graphs then, so
  /// each step's launch cost is in its time).
  bool profile = false;
  /// A partitioned artifact's rank (kilnc --tp/--pp), as in CpuOptions: the
  /// tensor-parallel rank and its group, the pipeline stage and its link
  /// (not owned). Collective steps synchronize the stream (no CUDA graphs
  /// then). Ranks that are threads of one process on this GPU exchange
  /// values device-to-device (all_reduce and all_gather: each rank reads
  /// the others' buffers with kiln_rank_share, then copies; send_recv: the
  /// sender's copy waits in a device buffer for the receiver); other
  /// transports (MPI processes) move them through host memory.
  int64_t rank = 0;
  Communicator *communicator = nullptr;
  int64_t stage = 0;
  StageLink *stageLink = nullptr;
  /// false: every collective through host memory, as other transports.
  bool deviceCollectives = true;
};

struct CudaStats {
  int64_t graphsCaptured = 0, graphReplays = 0;
  /// W8A8 products enqueued on cuBLASLt's int8 tensor cores, and on
  /// kiln_int8_gemm (a few rows, or no cuBLASLt algorithm for the shape).
  int64_t int8TensorCoreGemms = 0, int8KernelGemms = 0;
  /// 2:4 weights compressed for cuSPARSELt, those it would not take (kept
  /// dense), and products enqueued there.
  int64_t sparseWeights = 0, sparseRefused = 0, sparseGemms = 0;
  /// Collective steps run device-to-device (ranks sharing this GPU) and
  /// through host copies.
  int64_t deviceCollectives = 0, hostCollectives = 0;
};

class CudaExecutor : public Executor {
public:
  static absl::StatusOr<std::unique_ptr<CudaExecutor>>
  create(const Artifact &artifact, const CudaOptions &options);
  ~CudaExecutor() override;

  absl::Status resetCaches(int64_t batch, int64_t length) override;
  absl::StatusOr<std::vector<NamedTensor>>
  run(const std::string &entry, const std::vector<Tensor> &arguments) override;

  const std::string &deviceName() const;
  int64_t arenaBytes() const;
  const CudaStats &stats() const;
  double deviceSeconds() const override;
  /// With CudaOptions::profile, the device time per step kind and kernel,
  /// most expensive first.
  std::vector<StepProfile> profile() const;
  /// The file cuBLASLt was loaded from.
  std::string gemmLibrary() const;

  struct DeviceState;

private:
  explicit CudaExecutor(std::unique_ptr<DeviceState> impl);
  std::unique_ptr<DeviceState> state_;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_CUDAEXECUTOR_H
