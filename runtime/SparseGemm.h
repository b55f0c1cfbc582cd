//===- SparseGemm.h - gemms on compressed 2:4 weights (kilnc --prune 2:4) -===//
//
// C = A W^T with W a compressed 2:4 weight (support/Prune.h: one output
// channel per stored row, so W's rows are C's columns), A f32 row-major.
// Few rows of A (decode) run a kernel that reads W as stored, half its
// values plus 2-bit positions, and gathers the matching features of A in
// registers (AVX-512; any x86-64 runs a scalar loop): a memory-bound
// decode reads about half the bytes of the dense weight. More rows
// (prefill) decompress W to f32 once per call and hand it to the BLAS.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_SPARSEGEMM_H
#define KILN_RUNTIME_SPARSEGEMM_H

#include "runtime/CpuIsa.h"
#include "support/Prune.h"

#include <cstdint>
#include <vector>

namespace kiln::rt {

class Blas;
class ThreadPool;

/// Rows of A up to which the compressed kernel runs (above: decompress +
/// BLAS).
inline constexpr int64_t kSparseKernelRows = 8;

/// C[m, n] = A[m, k] W^T, n = W's rows and k its columns; A has leading
/// dimension lda, C ldc. `scratch` holds the padded A rows or the
/// decompressed W between calls.
void sparse24Gemm(const Sparse24Matrix &w, int64_t m, const float *a,
                  int64_t lda, float *c, int64_t ldc, ThreadPool &pool,
                  Blas &blas, CpuIsa isa, std::vector<float> &scratch);

/// The same for a weight stored as sparse rows (unstructured pruning past
/// sparseRowsThreshold): few rows of A gather A's features at each row's
/// indices (AVX-512 vgatherdps; any x86-64 a scalar loop), more decompress
/// W and call the BLAS.
void sparseRowsGemm(const SparseRowsMatrix &w, int64_t m, const float *a,
                    int64_t lda, float *c, int64_t ldc, ThreadPool &pool,
                    Blas &blas, CpuIsa isa, std::vector<float> &scratch);

} // namespace kiln::rt

#endif // KILN_RUNTIME_SPARSEGEMM_H
