//===- CudaBlas.h - gemm steps on cuBLASLt, loaded at run time ------------===//
//
// GEMMs with fp32 accumulation and TF32 off (CUBLAS_COMPUTE_32F): fp32
// operands, or bf16/fp16 ones (kilnc --gemm-dtype) with an fp32 result, on
// row-major operands: C = op(A) op(B) is computed as the column-major
// C^T = op(B)^T op(A)^T, strided-batched where B is per batch. A gemm
// step's epilogue runs inside the GEMM: the bias ([N], the rows of the
// column-major D) through CUBLASLT_EPILOGUE_BIAS / RELU_BIAS / GELU_BIAS
// (GELU is the tanh form, which is why only tanh-GELU linears carry it),
// the residual as C with beta = 1. The chosen algorithm is cached per
// shape, epilogue and operand alignment: the heuristic is told the
// alignment the real pointers have (arena buffers are 64-byte aligned, not
// the 256 it assumes). W8A8's int8 products past a few rows run there too
// (gemmInt8). libcublasLt is opened with dlopen, so kiln-run starts
// without it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CUDABLAS_H
#define KILN_RUNTIME_CUDABLAS_H

#include "runtime/CudaDriver.h"
#include "runtime/StepPlan.h"

#include <array>
#include <map>
#include <memory>
#include <tuple>

namespace kiln::rt {

/// A gemm step's device buffers (0 where the plan has none); with a
/// half-precision plan, `a` holds A already narrowed to B's type.
struct GemmBuffers {
  CUdeviceptr a = 0, b = 0, c = 0, bias = 0, residual = 0;
};

class CudaBlas {
public:
  /// Opens `library` (a path or soname), or where empty the first
  /// libcublasLt.so.13 of the loader's path and the toolkit's folders.
  static absl::StatusOr<std::unique_ptr<CudaBlas>>
  load(const CudaDriver &driver, CUstream stream,
       const std::string &library = "");
  ~CudaBlas();

  /// The file the library was loaded from.
  const std::string &libraryPath() const;

  /// C = epilogue(op(A) op(B)) for every batch of `plan`. Unimplemented
  /// (nothing run) when cuBLASLt has no algorithm with that epilogue fused:
  /// the caller runs the product without it, then the epilogue.
  absl::Status gemm(const GemmPlan &plan, const GemmBuffers &buffers,
                    const std::string &where);

  /// W8A8's int32 sums S[m, n] = Q W^T of int8 row-major Q [m, k] and W
  /// [n, k] (one output channel per row), S row-major, through cuBLASLt's
  /// int8 tensor-core gemm (CUBLAS_COMPUTE_32I, the "TN" layout its IMMA
  /// kernels take without reordered operands). Unimplemented (nothing run)
  /// when cuBLASLt has no algorithm for it, or k or n is not a multiple of
  /// 4 as those kernels need: the caller runs its own int8 kernel.
  absl::Status gemmInt8(int64_t m, int64_t n, int64_t k, CUdeviceptr q,
                        CUdeviceptr w, CUdeviceptr sums,
                        const std::string &where);

  struct Impl;

private:
  explicit CudaBlas(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_CUDABLAS_H
