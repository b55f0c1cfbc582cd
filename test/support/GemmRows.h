//===- GemmRows.h - the rows of A the CPU gemm kernel tests run -----------===//

#ifndef KILN_TEST_SUPPORT_GEMMROWS_H
#define KILN_TEST_SUPPORT_GEMMROWS_H

#include <cstdint>

namespace kiln::test {

// Rows of A: the weight-reading kernels up to 8, decompress or dequantize
// + BLAS past it. Under AddressSanitizer only the kernels: the BLAS
// (oneDNN) starts OpenMP threads that stop LeakSanitizer at exit.
#ifdef __SANITIZE_ADDRESS__
inline constexpr int64_t kGemmRows[] = {1, 2, 3, 4, 5, 8};
#else
inline constexpr int64_t kGemmRows[] = {1, 2, 3, 4, 5, 8, 9, 17};
#endif

} // namespace kiln::test

#endif // KILN_TEST_SUPPORT_GEMMROWS_H
