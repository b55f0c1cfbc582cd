//===- CudaSparse.h - 2:4 gemm steps on cuSPARSELt, loaded at run time ----===//
//
// A bf16/f16 weight whose every 4 input features hold at most 2 non-zeros
// (kilnc --prune 2:4 with --gemm-dtype bf16/f16) is compressed once at load
// (cusparseLtSpMMACompress2: the kept values and their positions, about
// 0.56x the dense bytes) and its gemms run on the sparse tensor cores:
// D = A op(W) with A the narrowed activations [m, k] and D [m, n] in the
// weights' type, both row-major, fp32 accumulation; a plan per (weight, m)
// is made on the first call of that shape (never inside a graph capture:
// the executor captures a shape's second call). libcusparseLt is opened
// with dlopen; without it the weights stay dense on cuBLASLt.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CUDASPARSE_H
#define KILN_RUNTIME_CUDASPARSE_H

#include "runtime/CudaDriver.h"

#include "absl/status/statusor.h"

#include <cstdint>
#include <memory>
#include <string>

namespace kiln::rt {

class CudaSparse {
public:
  /// Opens `library` (a path or soname), or where empty libcusparseLt.so.0
  /// from the loader's path.
  static absl::StatusOr<std::unique_ptr<CudaSparse>>
  load(const CudaDriver &driver, CUstream stream,
       const std::string &library = "");
  ~CudaSparse();

  /// The file the library was loaded from.
  const std::string &libraryPath() const;

  /// Compresses weight `w` on the device: n output channels of k input
  /// features, stored [n, k] (`outIn`) or [k, n], bf16 or f16, 2:4 along
  /// k. Returns its index for gemm(), or why cuSPARSELt would not take it
  /// (the caller keeps it dense).
  absl::StatusOr<int> compress(CUdeviceptr w, int64_t n, int64_t k, bool outIn,
                               bool bf16, const std::string &where);

  /// D [m, n] = A [m, k] op(W) for compressed weight `weight`, A and D
  /// row-major in its type. Unimplemented (nothing run) when cuSPARSELt
  /// cannot plan that shape: the caller runs the weight dense.
  absl::Status gemm(int weight, int64_t m, CUdeviceptr a, CUdeviceptr d,
                    const std::string &where);

  struct Impl;

private:
  explicit CudaSparse(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_CUDASPARSE_H
