//===- CudaDriver.h - the CUDA driver, loaded at run time -----------------===//
//
// kiln-run must start on machines without an NVIDIA driver (build machines,
// CI), so it never links libcuda: the driver is opened with dlopen when
// --device cuda asks for it, and every failure becomes one message saying
// what is missing (no driver, no device, an error code with its name).
// Only the entry points the runtime uses are resolved; their C types are
// declared here so no CUDA header is needed to build.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CUDADRIVER_H
#define KILN_RUNTIME_CUDADRIVER_H

#include "absl/status/statusor.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln::rt {

struct CudaDevice {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0; // compute capability
  size_t memoryBytes = 0;
};

class CudaDriver {
public:
  /// Opens libcuda.so.1 and initializes it; fails with a message naming
  /// what is missing.
  static absl::StatusOr<std::unique_ptr<CudaDriver>> load();
  ~CudaDriver();

  /// Every device the driver reports (an error when there is none).
  absl::StatusOr<std::vector<CudaDevice>> devices();

  /// "CUDA_ERROR_...: description" for a driver result code.
  std::string describe(int result) const;

private:
  CudaDriver() = default;
  void *handle_ = nullptr;
  using GetErrorName = int (*)(int, const char **);
  using GetErrorString = int (*)(int, const char **);
  using Init = int (*)(unsigned);
  using DeviceGetCount = int (*)(int *);
  using DeviceGet = int (*)(int *, int);
  using DeviceGetName = int (*)(char *, int, int);
  using DeviceGetAttribute = int (*)(int *, int, int);
  using DeviceTotalMem = int (*)(size_t *, int);
  GetErrorName getErrorName_ = nullptr;
  GetErrorString getErrorString_ = nullptr;
  Init init_ = nullptr;
  DeviceGetCount deviceGetCount_ = nullptr;
  DeviceGet deviceGet_ = nullptr;
  DeviceGetName deviceGetName_ = nullptr;
  DeviceGetAttribute deviceGetAttribute_ = nullptr;
  DeviceTotalMem deviceTotalMem_ = nullptr;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_CUDADRIVER_H
