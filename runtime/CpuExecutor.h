//===- CpuExecutor.h - running an artifact's step lists on the CPU --------===//
//
// Loads what a .kiln artifact holds for the CPU: the generated kernels (the
// embedded shared object, loaded from memory through memfd + dlopen), the
// weights (mapped in place from the artifact, or read from a Hugging Face
// folder and checked against the recorded names, shapes, dtypes and
// hashes), and one arena sized by the memory plan. A call binds the entry's
// symbols from its arguments' shapes, evaluates every step's dims, and runs
// the steps in order: kernels through the flat kernel ABI split over the
// thread pool by their work range, gemms on BLAS, attention on the runtime's
// own kernel. The kv caches live in the executor between calls.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CPUEXECUTOR_H
#define KILN_RUNTIME_CPUEXECUTOR_H

#include "artifact/Artifact.h"
#include "runtime/CpuIsa.h"
#include "runtime/Executor.h"
#include "runtime/StepProfile.h"
#include "runtime/Tensor.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kiln::rt {

class Communicator;
class StageLink;

/// One result buffer of a step, as it lies in the arena: what a step hook
/// sees (and may overwrite, which is how a test plants a wrong step).
struct StepBuffer {
  void *data = nullptr;
  DType dtype = DType::F32;
  std::vector<int64_t> dims;
};

/// Called after each step of each call: the entry's name, the step's index
/// in its step list, and its results. For debugging tools (kiln-bisect).
using StepHook = std::function<void(const std::string &entry, size_t step,
                                    const std::vector<StepBuffer> &results)>;

struct CpuOptions {
  int threads = 0;        // 0: one per core
  std::string weightsDir; // external weights: the Hugging Face folder
  bool profile = false;   // time every step (see profile())
  StepHook stepHook;      // see StepHook
  /// The highest instruction set to use: the generated kernels load from
  /// the artifact's library for the highest level up to it (an error when
  /// there is none), the runtime's own kernels take their variant for it.
  /// Lower than the host's only to compare or test the variants.
  CpuIsa isa = hostIsa();
  /// With an artifact compiled for tensor parallelism (kilnc --tp): the
  /// rank whose weights to hold, and its end of the group the collective
  /// steps run in (null: the artifact's collectives are refused at run
  /// time). Not owned.
  int64_t rank = 0;
  Communicator *communicator = nullptr;
  /// With an artifact compiled for pipeline stages (kilnc --pp): the stage
  /// whose steps, weights and kv caches this executor holds, and its end of
  /// the pipeline the send_recv steps run in (null: refused at run time).
  /// Only the last stage returns outputs. Not owned.
  int64_t stage = 0;
  StageLink *stageLink = nullptr;
};

class CpuExecutor : public Executor {
public:
  static absl::StatusOr<std::unique_ptr<CpuExecutor>>
  create(const Artifact &artifact, const CpuOptions &options);
  ~CpuExecutor() override;

  absl::Status resetCaches(int64_t batch, int64_t length) override;
  absl::StatusOr<std::vector<NamedTensor>>
  run(const std::string &entry, const std::vector<Tensor> &arguments) override;

  /// With CpuOptions::profile, the time per step kind and kernel, most
  /// expensive first.
  std::vector<StepProfile> profile() const;

  int threads() const;
  const std::string &blasProvider() const;
  /// The x86-64 level of the loaded kernel library ("x86-64-v4", ...), or
  /// "none" when the artifact has no kernels.
  const std::string &kernelIsa() const;
  int64_t arenaBytes() const;
  int64_t cacheBytes() const;

  struct Impl;

private:
  explicit CpuExecutor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_CPUEXECUTOR_H
