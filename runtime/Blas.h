//===- Blas.h - single-precision GEMM for gemm steps ----------------------===//
//
// A GEMM library is loaded at run time (dlopen), so kiln-run starts where
// none is installed and `ldd kiln-run` names none. In order of preference:
//   - oneDNN (libdnnl), whose sgemm picks its kernels from the CPU's
//     features itself (AVX-512 where there is AVX-512) and reads no
//     environment variable to decide;
//   - OpenBLAS, whose kernels follow OPENBLAS_CORETYPE where it is set
//     (measured on a 2-core AVX-512 machine, M = 1024, N = K = 768:
//     oneDNN 230 GFLOP/s, OpenBLAS 118 with OPENBLAS_CORETYPE=Haswell and
//     45 without it);
//   - a plain loop nest parallelized over rows of C, correct but slow.
// KILN_GEMM=onednn|onednn-sgemm|openblas|builtin picks one (benchmarks
// compare them; onednn-sgemm: oneDNN without packed weights);
// --bench says which is in use. With OpenBLAS a single-row product (every
// decode step's) goes to sgemv, which streams the matrix once instead of
// packing it first; oneDNN's sgemm does that by itself. With oneDNN, a
// gemm's weight can be packed once into the matmul primitive's layout
// (pack, gemmPacked; runtime/OneDnnMatmul.h).
// applyGemmEpilogue is a gemm step's bias, activation and residual, run
// after the product.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_BLAS_H
#define KILN_RUNTIME_BLAS_H

#include "runtime/CpuIsa.h"
#include "runtime/OneDnnMatmul.h"
#include "runtime/StepPlan.h"
#include "runtime/ThreadPool.h"

#include <cstdint>
#include <memory>
#include <string>

namespace kiln::rt {

class Blas {
public:
  /// Loads a GEMM library that will use the pool's thread count (its own
  /// threads run while the pool's wait).
  Blas(ThreadPool &pool);
  ~Blas();

  /// Where GEMMs go: the library's path (and whether weights are packed
  /// for its matmul), or "built-in".
  const std::string &provider() const { return provider_; }

  /// Row-major C[M, N] = op(A) op(B), op(A) [M, K], op(B) [K, N]; lda, ldb,
  /// ldc are row strides.
  void sgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
             const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
             int64_t ldc);

  /// B (op(B) [K, N]; stored [N, K] when transB) packed once for
  /// gemmPacked; null where the library has no packed path (the caller
  /// keeps calling sgemm).
  PackedBPtr pack(bool transB, int64_t n, int64_t k, const float *b,
                  int64_t ldb);
  /// C[M, N] (row stride N) = A op(B) + the epilogue, B packed; false (C
  /// untouched) where the library declines, and the caller runs sgemm
  /// and applyGemmEpilogue. Up to OneDnnMatmul::kFewRows rows (decode)
  /// run Kiln's panel kernel for `isa` on the pool instead of the
  /// library's primitive.
  bool gemmPacked(PackedB &b, int64_t m, const float *a, int64_t lda, float *c,
                  const PackedEpilogue &epilogue, CpuIsa isa = CpuIsa::Generic);

  /// Whether gemmBf16 has a library kernel: oneDNN's bf16 gemm, which
  /// runs where the CPU has AVX-512 (with AVX512-BF16 or AMX it multiplies
  /// bf16 natively).
  bool hasBf16Gemm() const { return dnnlGemmBf16_ != nullptr; }
  /// Row-major C[M, N] (f32) = op(A) op(B) with bf16 A and B and f32
  /// accumulation; false (C untouched) where the library cannot, and the
  /// caller widens to sgemm.
  bool gemmBf16(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
                float *c, int64_t ldc);

  /// Row-major C[M, N] (int32) = A B^T with int8 A [M, K] and B [N, K]
  /// (both K contiguous): oneDNN's int8 gemm (VNNI or AMX where the CPU has
  /// them), else a loop nest over C's columns.
  void gemmS8(int64_t m, int64_t n, int64_t k, const int8_t *a, int64_t lda,
              const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc);
  /// Whether gemmS8 runs a library kernel (benchmarks say which).
  bool hasS8Gemm() const { return dnnlGemmS8_ != nullptr; }

private:
  using DnnlGemmS8 = int (*)(char, char, char, int64_t, int64_t, int64_t, float,
                             const int8_t *, int64_t, int8_t, const int8_t *,
                             int64_t, int8_t, float, int32_t *, int64_t,
                             const int32_t *);
  using DnnlGemmBf16 = int (*)(char, char, int64_t, int64_t, int64_t, float,
                               const uint16_t *, int64_t, const uint16_t *,
                               int64_t, float, float *, int64_t);
  using CblasSgemm = void (*)(int, int, int, int, int, int, float,
                              const float *, int, const float *, int, float,
                              float *, int);
  using CblasSgemv = void (*)(int, int, int, int, float, const float *, int,
                              const float *, int, float, float *, int);
  using DnnlSgemm = int (*)(char, char, int64_t, int64_t, int64_t, float,
                            const float *, int64_t, const float *, int64_t,
                            float, float *, int64_t);
  using SetThreads = void (*)(int);

  /// Opens library `name` (dlopen `flags` added) as handle_ and returns its
  /// `entry` symbol; null, with nothing kept open, when either is missing.
  void *open(const char *name, const char *entry, int flags);
  bool loadOneDnn(const char *name);
  bool loadOpenBlas(const char *name);
  void builtinSgemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                    const float *a, int64_t lda, const float *b, int64_t ldb,
                    float *c, int64_t ldc);

  ThreadPool &pool_;
  void *handle_ = nullptr;
  CblasSgemm cblasSgemm_ = nullptr;
  CblasSgemv cblasSgemv_ = nullptr;
  DnnlSgemm dnnlSgemm_ = nullptr;
  DnnlGemmBf16 dnnlGemmBf16_ = nullptr;
  DnnlGemmS8 dnnlGemmS8_ = nullptr;
  SetThreads ompSetThreads_ = nullptr;
  std::unique_ptr<OneDnnMatmul> matmul_;
  std::string provider_ = "built-in";
};

/// Applies a gemm step's epilogue to rows [rowBegin, rowEnd) of C, which
/// the product has just written (the CPU path; cuBLASLt fuses it); to
/// their columns [colBegin, colEnd) only where given (a kernel that writes
/// C by column ranges applies it to each range as it finishes it).
void applyGemmEpilogue(const GemmPlan &plan, float *c, const float *bias,
                       const float *residual, int64_t rowBegin, int64_t rowEnd,
                       int64_t colBegin = 0, int64_t colEnd = -1);

} // namespace kiln::rt

#endif // KILN_RUNTIME_BLAS_H
