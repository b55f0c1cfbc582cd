//===- FakeCublasLt.h - a recording cuBLASLt with its semantics on the CPU ===//
//
// The CUDA executor's gemms go through runtime/CudaBlas, which opens
// libcublasLt with dlopen and drives it through descriptors, layouts,
// preferences, a heuristic and cublasLtMatmul. Without a GPU that call
// sequence would go untested, so the tests open this library in its place
// (CudaOptions::cublasLt): the same C entry points, computing what cuBLASLt
// documents on host memory (the fake device's memory is host memory):
//
//   D = act(alpha * op(A) op(B) + beta * C + bias)   column-major, per batch
//
// with fp32 accumulation of fp32, bf16 or fp16 operands, or int32
// accumulation of int8 ones into int32 (compute type 32I, W8A8), and
// refusing what cuBLASLt would refuse or fault on: a layout whose ld is
// below its rows, shapes that do not chain, operand types that differ, an
// unknown attribute or one of the wrong size, a compute type other than 32F
// or 32I, an int8 gemm other than the TN layout with leading dimensions
// multiples of 4 that its IMMA kernels take, and a pointer less aligned than
// the preference the heuristic was given (it assumes 256 bytes unless told
// less). Every call is recorded for the test.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_SUPPORT_FAKECUBLASLT_H
#define KILN_TEST_SUPPORT_FAKECUBLASLT_H

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kiln::test {

/// What one cublasLtMatmul was asked for.
struct FakeMatmul {
  bool transA = false, transB = false;
  int epilogue = 0; // cublasLtEpilogue_t
  bool bias = false;
  int operandType = 0; // cudaDataType_t of A and B (CUDA_R_8I: int8)
  int64_t m = 0, n = 0, k = 0, batch = 1;
  float alpha = 0, beta = 0;
  bool cIsD = false;          // C and D the same buffer
  uint32_t alignment[4] = {}; // A, B, C, D as the algorithm assumed
};

struct FakeCublasLt {
  /// Runs the product now, or records it while a stream is being captured
  /// (the test's fake driver decides). Default: now.
  std::function<void(std::function<void()>)> enqueue;
  /// False: the heuristic finds no algorithm for a fused epilogue, as
  /// cuBLASLt answers for epilogues it cannot fuse at some shape.
  bool fusesEpilogues = true;
  /// False: none for int8 products either.
  bool int8Algorithms = true;
  std::vector<FakeMatmul> calls;
  int64_t heuristicQueries = 0;
  /// The first misuse seen ("" if none).
  std::string error;
  /// Descriptors, layouts and preferences created and not destroyed.
  int64_t live = 0;

  void reset() {
    calls.clear();
    heuristicQueries = 0;
    error.clear();
    fusesEpilogues = true;
    int8Algorithms = true;
  }
};

} // namespace kiln::test

/// The library's state, found by the test with dlsym.
extern "C" kiln::test::FakeCublasLt *kilnFakeCublasLt();

#endif // KILN_TEST_SUPPORT_FAKECUBLASLT_H
