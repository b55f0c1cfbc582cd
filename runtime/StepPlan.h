//===- StepPlan.h - the shape plans of library steps ----------------------===//
//
// The shape plans of the library steps (gemm, norm, attention) for one
// call, shared by the CPU and CUDA executors, with the column-major form
// of a gemm. With DimExpr, ManifestChecks, HostWeights and CallBinding,
// the device-independent half of running an artifact: an executor adds
// only memory, launches and libraries.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_STEPPLAN_H
#define KILN_RUNTIME_STEPPLAN_H

#include "artifact/Artifact.h"
#include "runtime/CallBinding.h"

#include "absl/status/statusor.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kiln::rt {

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
