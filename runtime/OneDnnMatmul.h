//===- OneDnnMatmul.h - gemms on weights packed once for oneDNN -----------===//
//
// oneDNN's sgemm (Blas::sgemm) packs B into its blocked layout on every
// call: for a prefill's 128 rows that is a read and a write of every
// weight per forward pass, on top of the product's own read. The matmul
// primitive takes B already in that layout, so a gemm step's weight is
// packed once, at load, and each call only multiplies. Measured on a
// 2-core AVX-512 machine, 2 threads, M = 128 (GFLOP/s, sgemm -> packed
// matmul): 768 x 3072 220 -> 314, 3072 x 768 286 -> 325, 50257 x 768
// 240 -> 270; M = 8, 2304 x 768: 75 -> 171; M = 1 unchanged (30).
// The epilogue (bias, ReLU or tanh GELU, residual) runs as the primitive's
// post-ops, inside its tiles, instead of as a second pass over C.
//
// The library is oneDNN 2's C API, opened by Blas (dlopen) and reached
// through dlsym here; with oneDNN 3 (a different matmul API), OpenBLAS, or
// a build without oneDNN's headers, `load` returns null and gemms go to
// Blas::sgemm. A primitive is made for each row count a weight is called
// with (about 0.2 ms; oneDNN's primitive cache shares them between
// weights of one shape) and kept with the weight.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_ONEDNNMATMUL_H
#define KILN_RUNTIME_ONEDNNMATMUL_H

#include "artifact/Artifact.h"
#include "runtime/CpuIsa.h"
#include "runtime/ThreadPool.h"

#include <cstdint>
#include <memory>

namespace kiln::rt {

/// A gemm's constant B in oneDNN's blocked layout, with its primitives.
class PackedB;
struct PackedBDelete {
  void operator()(PackedB *b) const;
};
using PackedBPtr = std::unique_ptr<PackedB, PackedBDelete>;

/// What a packed gemm adds to the product, row-major like C (row stride
/// N): + bias[N], the activation, + residual[M, N]; null: none.
struct PackedEpilogue {
  const float *bias = nullptr;
  const float *residual = nullptr;
  artifact::Activation activation = artifact::Activation::None;
};

class OneDnnMatmul {
public:
  /// The matmul primitive of the oneDNN library `handle` (dlopen'ed), or
  /// null where it has none this file can call.
  static std::unique_ptr<OneDnnMatmul> load(void *handle);
  ~OneDnnMatmul();

  /// op(B) [K, N] (B stored [N, K] with row stride ldb when transB, else
  /// [K, N]) copied into the layout the primitive picks for it; null where
  /// the library declines (the caller keeps B as it is).
  PackedBPtr pack(bool transB, int64_t n, int64_t k, const float *b,
                  int64_t ldb);
  /// C[M, N] (row stride N) = A[M, K] (row stride lda) op(B) + epilogue;
  /// false (C untouched) where the library declines this row count.
  bool multiply(PackedB &b, int64_t m, const float *a, int64_t lda, float *c,
                const PackedEpilogue &epilogue);
  /// The rows a decode step multiplies (at most kFewRows): C[M, N] (row
  /// stride N) = A op(B), without the epilogue, by Kiln's own kernel on the
  /// pool's threads, reading each panel of B once; false (C untouched)
  /// where B's layout is not the panels it reads or M is larger.
  static constexpr int64_t kFewRows = 4;
  bool multiplyFewRows(const PackedB &b, int64_t m, const float *a, int64_t lda,
                       float *c, ThreadPool &pool, CpuIsa isa);

  struct Api;

private:
  OneDnnMatmul() = default;
  std::unique_ptr<Api> api_;
};

/// A packed B's op(B) shape: N (C's columns) and K.
struct PackedShape {
  int64_t n = 0, k = 0;
};
PackedShape packedShape(const PackedB &b);
/// Whether a packed B is in the panels OneDnnMatmul::multiplyFewRows reads.
bool packedPanels(const PackedB &b);

} // namespace kiln::rt

#endif // KILN_RUNTIME_ONEDNNMATMUL_H
