//===- HostWeights.h - the weights as an executor holds them --------------===//
//
// The host copies of an artifact's weights: mapped from the file, or read
// from --weights and checked by name, shape, dtype and hash.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_HOSTWEIGHTS_H
#define KILN_RUNTIME_HOSTWEIGHTS_H

#include "artifact/Artifact.h"

#include "absl/status/statusor.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln {
class WeightStore;
} // namespace kiln

namespace kiln::rt {

/// Host copies of the weights, one per weight slot (f32).
class HostWeights {
public:
  /// Every weight as the executor holds it: f32 as stored; bf16/f16 ones
  /// (gemm weights of kilnc --gemm-dtype) as stored, or widened to f32
  /// with `widen` (the CPU, whose BLAS is f32). External weights are
  /// narrowed the way kilnc narrows embedded ones.
  static absl::StatusOr<std::unique_ptr<HostWeights>>
  load(const Artifact &artifact, const std::string &weightsDir,
       const std::string &executor, bool widen);
  ~HostWeights();
  const uint8_t *data(size_t slot) const { return data_[slot]; }
  int64_t bytes(size_t slot) const { return bytes_[slot]; }
  size_t size() const { return data_.size(); }

private:
  HostWeights() = default;
  std::vector<const uint8_t *> data_;
  std::vector<int64_t> bytes_;
  std::vector<std::vector<float>> owned_;
  std::vector<std::vector<uint16_t>> ownedHalf_;
  std::unique_ptr<WeightStore> store_;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_HOSTWEIGHTS_H
