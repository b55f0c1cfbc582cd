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
  int multiprocessors = 1;
  size_t memoryBytes = 0;
};

/// Opaque driver handles, as in cuda.h.
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUstream = struct CUstream_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUgraph = struct CUgraph_st *;
using CUgraphExec = struct CUgraphExec_st *;
using CUevent = struct CUevent_st *;

/// The driver entry points the CUDA executor uses.
struct CudaApi {
  int (*devicePrimaryCtxRetain)(CUcontext *, int) = nullptr;
  int (*devicePrimaryCtxRelease)(int) = nullptr;
  int (*ctxSetCurrent)(CUcontext) = nullptr;
  int (*streamCreate)(CUstream *, unsigned) = nullptr;
  int (*streamDestroy)(CUstream) = nullptr;
  int (*streamSynchronize)(CUstream) = nullptr;
  int (*memAlloc)(CUdeviceptr *, size_t) = nullptr;
  int (*memFree)(CUdeviceptr) = nullptr;
  int (*memcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream) = nullptr;
  int (*memcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream) = nullptr;
  /// Between two buffers of one context (collectives among ranks that
  /// share the GPU); null: those go through host memory.
  int (*memcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream) = nullptr;
  int (*memsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream) = nullptr;
  int (*moduleLoadData)(CUmodule *, const void *) = nullptr;
  int (*moduleUnload)(CUmodule) = nullptr;
  int (*moduleGetFunction)(CUfunction *, CUmodule, const char *) = nullptr;
  int (*launchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                      unsigned, unsigned, unsigned, CUstream, void **,
                      void **) = nullptr;
  // CUDA graphs: a stream's work captured once, replayed by one launch.
  int (*streamBeginCapture)(CUstream, int mode) = nullptr;
  int (*streamEndCapture)(CUstream, CUgraph *) = nullptr;
  int (*graphInstantiate)(CUgraphExec *, CUgraph, unsigned long long) = nullptr;
  int (*graphLaunch)(CUgraphExec, CUstream) = nullptr;
  int (*graphExecDestroy)(CUgraphExec) = nullptr;
  int (*graphDestroy)(CUgraph) = nullptr;
  // Events: the device time of a call's steps, apart from its copies.
  int (*eventCreate)(CUevent *, unsigned flags) = nullptr;
  int (*eventDestroy)(CUevent) = nullptr;
  int (*eventRecord)(CUevent, CUstream) = nullptr;
  int (*eventElapsedTime)(float *ms, CUevent start, CUevent end) = nullptr;
};

/// CU_STREAM_CAPTURE_MODE_THREAD_LOCAL: only this thread's unsafe calls
/// (allocations) invalidate a capture.
inline constexpr int kCaptureThreadLocal = 1;
/// CU_STREAM_NON_BLOCKING: the executor's stream does not wait for (nor
/// hold up) work on the legacy default stream of other code in the process.
inline constexpr unsigned kStreamNonBlocking = 1;

class CudaDriver {
public:
  /// Opens libcuda.so.1 and initializes it; fails with a message naming
  /// what is missing.
  static absl::StatusOr<std::unique_ptr<CudaDriver>> load();
  /// A driver made of the given entry points and devices: the seam through
  /// which a test runs the CUDA executor's host logic without a GPU.
  static std::unique_ptr<CudaDriver> fromApi(const CudaApi &api,
                                             std::vector<CudaDevice> devices);
  ~CudaDriver();

  /// Every device the driver reports (an error when there is none).
  absl::StatusOr<std::vector<CudaDevice>> devices();

  /// "CUDA_ERROR_...: description" for a driver result code.
  std::string describe(int result) const;
  /// OK, or an error naming `what` and the driver's code.
  absl::Status check(int result, const std::string &what) const;

  const CudaApi &api() const { return api_; }

private:
  CudaDriver() = default;
  void *handle_ = nullptr;
  CudaApi api_;
  std::vector<CudaDevice> fixedDevices_;
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
