//===- Executor.h - what runs an entry point ------------------------------===//
//
// The model driver (Driver.h) sees a compiled model, or the reference
// interpreter, only through this interface. The kv caches (the arguments
// and results whose role is KeyCache or ValueCache in the artifact, marked
// kiln.role in the IR) stay inside the executor between calls, so a decode
// step moves no cache bytes.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_EXECUTOR_H
#define KILN_RUNTIME_EXECUTOR_H

#include "runtime/Tensor.h"

#include "absl/status/statusor.h"

namespace kiln::rt {

class Executor {
public:
  virtual ~Executor() = default;
  /// Makes every cache zero, for `batch` sequences of `length` rows.
  virtual absl::Status resetCaches(int64_t batch, int64_t length) = 0;
  /// Runs `entry` with its non-cache arguments in order (the caches are
  /// bound from the executor's own) and returns its non-cache results,
  /// named; the updated caches replace the old ones.
  virtual absl::StatusOr<std::vector<NamedTensor>>
  run(const std::string &entry, const std::vector<Tensor> &arguments) = 0;
  /// The device time of the steps of every call so far, measured apart
  /// from the calls' input and output copies (CUDA events around the
  /// steps); negative where the executor has no such clock (the CPU, where
  /// wall time is the device time).
  virtual double deviceSeconds() const { return -1; }
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_EXECUTOR_H
