//===- Blas.h - single-precision GEMM for gemm steps ----------------------===//
//
// OpenBLAS is loaded at run time (dlopen), so kiln-run starts where it is
// missing; there the gemm falls back to a plain loop nest parallelized over
// rows of C, correct but much slower (--bench says which is in use). A
// single-row product (every decode step's) goes to sgemv, which streams the
// matrix once instead of packing it first.
// applyGemmEpilogue is a gemm step's bias, activation and residual, run
// after the product.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_BLAS_H
#define KILN_RUNTIME_BLAS_H

#include "runtime/StepPlan.h"
#include "runtime/ThreadPool.h"

#include <cstdint>
#include <string>

namespace kiln::rt {

class Blas {
public:
  /// Loads a BLAS and sets its thread count to `threads`.
  Blas(ThreadPool &pool);
  ~Blas();

  /// Where GEMMs go: the library's path, or "built-in".
  const std::string &provider() const { return provider_; }

  /// Row-major C[M, N] = op(A) op(B), op(A) [M, K], op(B) [K, N]; lda, ldb,
  /// ldc are row strides.
  void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
             const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
             int64_t ldc);

private:
  using CblasSgemm = void (*)(int, int, int, int, int, int, float,
                              const float *, int, const float *, int, float,
                              float *, int);
  using CblasSgemv = void (*)(int, int, int, int, float, const float *, int,
                              const float *, int, float, float *, int);
  ThreadPool &pool_;
  void *handle_ = nullptr;
  CblasSgemm cblasSgemm_ = nullptr;
  CblasSgemv cblasSgemv_ = nullptr;
  std::string provider_ = "built-in";
};

/// Applies a gemm step's epilogue to rows [rowBegin, rowEnd) of C, which
/// the product has just written (the CPU path; cuBLASLt fuses it).
void applyGemmEpilogue(const GemmPlan &plan, float *c, const float *bias,
                       const float *residual, int64_t rowBegin, int64_t rowEnd);

} // namespace kiln::rt

#endif // KILN_RUNTIME_BLAS_H
