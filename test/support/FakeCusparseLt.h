//===- FakeCusparseLt.h - a recording cuSPARSELt with its semantics -------===//
//
// runtime/CudaSparse opens libcusparseLt with dlopen and drives it through
// descriptors, a plan, compression and cusparseLtMatmul; the tests open this
// library in its place (CudaOptions::cusparseLt): the same C entry points
// (declared as runtime/CusparseLtApi.h has them), computing on host memory
// (the fake device's memory is host memory) what cuSPARSELt documents for a
// structured B:
//
//   D = op(A) op(B)    row-major, bf16/f16 in and out, fp32 accumulation
//
// Compression refuses a B that is not 2:4 along k (more than 2 non-zeros in
// some group of 4), and the fake refuses what cuSPARSELt would: descriptors
// whose leading dimension is below their columns, shapes that do not chain,
// types that differ, a matmul with a plan it did not make. Every
// compression and product is recorded for the test.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_SUPPORT_FAKECUSPARSELT_H
#define KILN_TEST_SUPPORT_FAKECUSPARSELT_H

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kiln::test {

/// What one cusparseLtMatmul computed.
struct FakeSparseMatmul {
  int64_t m = 0, n = 0, k = 0;
  bool transB = false;
  int type = 0; // cudaDataType of A, B and D
};

struct FakeCusparseLt {
  /// Runs the product now, or records it in a graph being captured.
  std::function<void(std::function<void()>)> enqueue;
  /// Weights compressed (rows x cols of B as stored), products run.
  std::vector<std::pair<int64_t, int64_t>> compressed;
  std::vector<FakeSparseMatmul> calls;
  /// False: every structured descriptor is refused (NOT_SUPPORTED), as
  /// cuSPARSELt refuses shapes its kernels do not take.
  bool takes = true;
  /// The first misuse seen ("" if none).
  std::string error;
  /// Descriptors and plans made and not destroyed.
  int64_t live = 0;

  void reset() {
    compressed.clear();
    calls.clear();
    error.clear();
    takes = true;
  }
};

} // namespace kiln::test

/// The library's state, found by the test with dlsym.
extern "C" kiln::test::FakeCusparseLt *kilnFakeCusparseLt();

#endif // KILN_TEST_SUPPORT_FAKECUSPARSELT_H
