//===- HostWeights.h - the weights as an executor holds them --------------===//
//
// The host copies of an artifact's weights: mapped from the file, or read
// from --weights and checked by name, shape, dtype and hash.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_HOSTWEIGHTS_H
#define KILN_RUNTIME_HOSTWEIGHTS_H

#include "artifact/Artifact.h"
#include "runtime/HugePages.h"
#include "support/Prune.h"
#include "support/Quantize.h"

#include "absl/status/statusor.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
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
  /// Every weight as the artifact stores it (f32, bf16/f16 from kilnc
  /// --gemm-dtype or --precision, int8/int4 from --quantize), and for the slots
  /// `widen` marks an f32 copy as well (the CPU's library steps, whose BLAS is
  /// f32; generated kernels read the stored type). External weights are
  /// narrowed and quantized the way kilnc does it to embedded ones.
  /// `rank`: the tensor-parallel rank whose parts of the sharded weights
  /// (kilnc --tp) to hold. `needed`, when not empty, marks the slots to
  /// hold (a pipeline stage's, kilnc --pp); the others stay null and are
  /// neither read nor checked.
  static absl::StatusOr<std::unique_ptr<HostWeights>>
  load(const Artifact &artifact, const std::string &weightsDir,
       const std::string &executor, const std::vector<bool> &widen = {},
       int64_t rank = 0, const std::vector<bool> &needed = {});
  ~HostWeights();
  /// As stored.
  const uint8_t *data(size_t slot) const { return data_[slot]; }
  /// As f32: the data of an f32 weight, the copy of a widened one; null
  /// for a bf16/f16 weight not widened.
  const float *f32(size_t slot) const { return f32_[slot]; }
  int64_t bytes(size_t slot) const { return bytes_[slot]; }
  /// A quantized weight (kilnc --quantize) as stored; null for the others.
  const QuantizedMatrix *quantized(size_t slot) const {
    return quantized_[slot].values ? &quantized_[slot] : nullptr;
  }
  /// A compressed 2:4 weight (kilnc --prune 2:4) as stored; null for the
  /// others.
  const Sparse24Matrix *sparse24(size_t slot) const {
    return sparse24_[slot].values ? &sparse24_[slot] : nullptr;
  }
  /// A weight stored as sparse rows (kilnc --prune unstructured past
  /// sparseRowsThreshold); null for the others.
  const SparseRowsMatrix *sparseRows(size_t slot) const {
    return sparseRows_[slot].values ? &sparseRows_[slot] : nullptr;
  }
  size_t size() const { return data_.size(); }
  /// What the artifact says of `slot` for this rank (its part of a sharded
  /// weight).
  const artifact::WeightT &weight(size_t slot) const { return *slots_[slot]; }
  /// Gives back this process's pages of f32 weight `slot` where it is read
  /// in place from a mapped file (the artifact or a safetensors file), for
  /// an executor that now holds it in another form (packed for its gemm
  /// library): the pages stay in the page cache, reclaimable, and a later
  /// read maps them back. A copy HostWeights made is kept as it is.
  void dropMappedPages(size_t slot) const;
  /// Moves the quantized and compressed 2:4 weights among `slots` that
  /// are read in place from a mapped file into one buffer in 2 MiB pages
  /// (runtime/HugePages.h) and gives the file's pages back: the CPU's own
  /// kernels stream them every decode step. Others stay as they are.
  void moveToHugePages(std::vector<size_t> slots);

private:
  HostWeights() = default;
  static absl::StatusOr<std::unique_ptr<HostWeights>>
  loadCopies(const Artifact &artifact, const std::string &weightsDir,
             const std::string &executor, const std::vector<bool> &widen,
             int64_t rank, const std::vector<bool> &needed);
  std::vector<const artifact::WeightT *> slots_;
  std::vector<const uint8_t *> data_;
  /// Whether data_ points into a mapped file (not a copy made here).
  std::vector<bool> mapped_;
  std::vector<const float *> f32_;
  std::vector<int64_t> bytes_;
  std::vector<QuantizedMatrix> quantized_;
  std::vector<Sparse24Matrix> sparse24_;
  std::vector<SparseRowsMatrix> sparseRows_;
  std::vector<QuantizedWeight> ownedQuantized_;
  /// Pruned external weights, compressed here as kilnc would have.
  std::vector<Sparse24Weight> ownedSparse24_;
  std::vector<SparseRowsWeight> ownedRows_;
  /// W8A8 weights' SmoothQuant factors (in the artifact) and their
  /// inverses (QuantizedMatrix::invSmooth).
  std::vector<const float *> smooth_;
  std::vector<std::vector<float>> invSmooth_;
  std::vector<std::vector<float>> owned_;
  std::vector<std::vector<uint16_t>> ownedHalf_;
  std::unique_ptr<WeightStore> store_;
  std::vector<WeightBuffer> hugeCopies_; // moveToHugePages's copies
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_HOSTWEIGHTS_H
