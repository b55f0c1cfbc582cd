//===- StepPlan.h - what every executor does with a step list -------------===//
//
// Device-independent half of running an artifact, shared by the CPU and
// CUDA executors: evaluating dim expressions, the structural checks of a
// manifest at load (every step buffer against its kernel's compiled type,
// its weight's shape or its argument's dims), the host copies of the
// weights (mapped, or read from --weights and checked by name, shape,
// dtype and hash), binding one call's arguments to the entry's symbols,
// and the shape checks of gemm and attention steps. An executor adds only
// memory, launches and libraries.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_STEPPLAN_H
#define KILN_RUNTIME_STEPPLAN_H

#include "artifact/Artifact.h"
#include "runtime/Tensor.h"

#include "absl/status/statusor.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kiln {
class WeightStore;
}

namespace kiln::rt {

int64_t evalDim(const artifact::DimT &dim, const std::vector<int64_t> &symbols);
std::vector<int64_t>
evalDims(const std::vector<std::unique_ptr<artifact::DimT>> &dims,
         const std::vector<int64_t> &symbols);
/// The product of the first `count` dims, or of all.
int64_t product(const std::vector<int64_t> &dims, size_t count);
int64_t product(const std::vector<int64_t> &dims);
std::string formatDims(const std::vector<int64_t> &dims);
/// Bytes of a buffer of `dims`, or -1 for a negative dim or an overflow.
int64_t checkedBytes(const std::vector<int64_t> &dims, size_t elementBytes);

/// Refuses an artifact compiled for another target (with the kilnc flag
/// that makes the right one), then makes the load-time structural checks
/// of every entry and step.
absl::Status checkArtifact(const Artifact &artifact, const std::string &target,
                           const std::string &device);

/// The entry named `name`, or an error naming the artifact.
absl::StatusOr<const artifact::EntryT *> findEntry(const Artifact &artifact,
                                                   const std::string &name);

/// Every cache argument's name and row width ([batch, length, width]).
absl::StatusOr<std::vector<std::pair<std::string, int64_t>>>
cacheArguments(const Artifact &artifact);

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

/// One call's arguments bound to an entry: symbols, and the dims of any
/// buffer, checked against the buffer's storage.
class CallBinding {
public:
  /// The shape of a cache argument by name, or null (caches not set up).
  using CacheShape =
      std::function<const std::vector<int64_t> *(const std::string &)>;
  static absl::StatusOr<CallBinding> bind(const Artifact &artifact,
                                          const artifact::EntryT &entry,
                                          const std::vector<Tensor> &arguments,
                                          const CacheShape &cacheShape);

  const std::vector<int64_t> &symbols() const { return symbols_; }
  /// The caller's tensor feeding argument `i`, or -1 for a cache.
  int callerArgument(size_t i) const { return caller_[i]; }
  absl::StatusOr<std::vector<int64_t>>
  dimsOf(const artifact::BufferT &buffer) const;

private:
  const Artifact *artifact_ = nullptr;
  const artifact::EntryT *entry_ = nullptr;
  std::vector<int64_t> symbols_;
  std::vector<int64_t> argBytes_;
  std::vector<int> caller_;
};

/// A gemm step as row-major products: `batch` products of op(A) [m, k] by
/// op(B) [k, n] into C [m, n]; `shared`: one B for every batch, and
/// `folded`: the batch folded into m (one product).
struct GemmPlan {
  int64_t batch = 1, m = 0, n = 0, k = 0, lda = 0, ldb = 0;
  bool transA = false, transB = false, shared = false, folded = false;
  /// The epilogue on C's batch * m rows: + bias[n] (operand `bias`), the
  /// activation, + residual (operand `residual`, C's shape); -1: none.
  int bias = -1, residual = -1;
  artifact::Activation activation = artifact::Activation::None;
  /// B's element type: f32, or bf16/f16 (a --gemm-dtype weight; A is then
  /// narrowed to it and the product accumulates in f32).
  artifact::DType bType = artifact::DType::F32;
  bool halfPrecision() const { return bType != artifact::DType::F32; }
  bool hasEpilogue() const {
    return bias >= 0 || residual >= 0 ||
           activation != artifact::Activation::None;
  }
};
absl::StatusOr<GemmPlan> planGemm(const artifact::StepT &step,
                                  const CallBinding &binding);

/// A gemm plan as column-major libraries (cuBLAS, cuBLASLt) take it: the
/// row-major C = op(A) op(B) is the column-major D = C^T = opX(X) opY(Y)
/// with X the memory of B and Y the memory of A. `launches` products of
/// `batch` strided matrices each (strides in elements; X's is 0 when B is
/// shared); launch l starts `l * launchStrideY` / `l * launchStrideD` in.
struct ColumnMajorGemm {
  bool transX = false, transY = false;
  int64_t xRows = 0, xCols = 0, ldx = 0; // X as stored (before opX)
  int64_t yRows = 0, yCols = 0, ldy = 0; // Y as stored (before opY)
  int64_t dRows = 0, dCols = 0, ldd = 0; // D: n x m
  int64_t batch = 1, strideX = 0, strideY = 0, strideD = 0;
  int64_t launches = 1, launchStrideY = 0, launchStrideD = 0;
};
ColumnMajorGemm columnMajor(const GemmPlan &plan);

/// An attention step's shapes; the operand indices of the optional parts
/// (-1 when absent).
/// A norm step over the last dim of `rows` x `width`.
struct NormPlan {
  int64_t rows = 0, width = 0;
  float epsilon = 0;
  bool rms = false, bias = false;
};
absl::StatusOr<NormPlan> planNorm(const artifact::StepT &step,
                                  const CallBinding &binding);

struct AttentionPlan {
  int64_t batch = 0, sq = 0, sk = 0, heads = 0, kvHeads = 0, headDim = 0;
  int64_t width = 0;       // kv_heads * head_dim
  int64_t cacheLength = 0; // rows of the caches, with a cache
  float scale = 1;
  bool causal = false;
  int mask = -1, bias = -1, kCache = -1, vCache = -1, positions = -1;
  /// Bias element strides over [B, H, Sq, Sk] (0 where it broadcasts).
  int64_t biasStrides[4] = {0, 0, 0, 0};
};
absl::StatusOr<AttentionPlan> planAttention(const artifact::StepT &step,
                                            const CallBinding &binding);
/// Where each sequence's new rows start in the kv cache of a cached
/// attention step (`positions`: i64 when `wide`, else i32), or a cache
/// overflow error naming the step.
absl::StatusOr<std::vector<int64_t>> cacheRowStarts(const artifact::StepT &step,
                                                    const AttentionPlan &plan,
                                                    const void *positions,
                                                    bool wide);

} // namespace kiln::rt

#endif // KILN_RUNTIME_STEPPLAN_H
