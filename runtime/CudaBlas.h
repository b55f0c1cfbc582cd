//===- CudaBlas.h - gemm steps on cuBLASLt, loaded at run time ------------===//
//
// fp32 GEMMs with fp32 accumulation and TF32 off (CUBLAS_COMPUTE_32F), on
// row-major operands: C = op(A) op(B) is computed as the column-major
// C^T = op(B)^T op(A)^T, strided-batched where B is per batch. The chosen
// algorithm is cached per shape. libcublasLt is opened with dlopen, so
// kiln-run starts without it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CUDABLAS_H
#define KILN_RUNTIME_CUDABLAS_H

#include "runtime/CudaDriver.h"
#include "runtime/StepPlan.h"

#include <map>
#include <memory>
#include <tuple>

namespace kiln::rt {

class CudaBlas {
public:
  static absl::StatusOr<std::unique_ptr<CudaBlas>>
  load(const CudaDriver &driver, CUstream stream);
  ~CudaBlas();

  /// C = op(A) op(B) for every batch of `plan` (device pointers).
  absl::Status gemm(const GemmPlan &plan, CUdeviceptr a, CUdeviceptr b,
                    CUdeviceptr c, const std::string &where);

  struct Impl;

private:
  explicit CudaBlas(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_CUDABLAS_H
