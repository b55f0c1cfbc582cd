//===- CudaDriver.cpp - the CUDA driver, loaded at run time ---------------===//

#include "runtime/CudaDriver.h"

#include "runtime/LoadedLibrary.h"

#include "absl/strings/str_cat.h"

#include <dlfcn.h>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kiln::rt {

namespace {
// Values from cuda.h (stable across driver versions).
constexpr int kSuccess = 0;
constexpr int kOutOfMemory = 2; // CUDA_ERROR_OUT_OF_MEMORY
constexpr int kNoDevice = 100;
constexpr int kAttrMajor = 75, kAttrMinor = 76, kAttrMultiprocessors = 16;
} // namespace

CudaDriver::~CudaDriver() {
  if (handle_)
    dlclose(handle_);
}

std::string CudaDriver::describe(int result) const {
  const char *name = nullptr, *text = nullptr;
  if (getErrorName_)
    getErrorName_(result, &name);
  if (getErrorString_)
    getErrorString_(result, &text);
  return absl::StrCat(name ? name : "CUDA error", " (", result, ")",
                      text ? absl::StrCat(": ", text) : "");
}

absl::Status CudaDriver::check(int result, const std::string &what) const {
  if (result == kSuccess)
    return absl::OkStatus();
  // An allocation that does not fit is the user's to act on (a smaller
  // --max-batch or --max-seq, another GPU), not an internal failure.
  if (result == kOutOfMemory)
    return absl::ResourceExhaustedError(
        absl::StrCat(what, ": out of GPU memory (", describe(result), ")"));
  return absl::InternalError(absl::StrCat(what, ": ", describe(result)));
}

absl::StatusOr<std::unique_ptr<CudaDriver>> CudaDriver::load() {
  std::unique_ptr<CudaDriver> d(new CudaDriver());
  d->handle_ = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!d->handle_)
    return absl::UnavailableError(
        absl::StrCat("no NVIDIA driver on this machine (", dlerror(), ")"));
  auto resolve = [&](auto &fn, const char *name) {
    return resolveSymbol(d->handle_, fn, name);
  };
  if (!resolve(d->getErrorName_, "cuGetErrorName") ||
      !resolve(d->getErrorString_, "cuGetErrorString") ||
      !resolve(d->init_, "cuInit") ||
      !resolve(d->deviceGetCount_, "cuDeviceGetCount") ||
      !resolve(d->deviceGet_, "cuDeviceGet") ||
      !resolve(d->deviceGetName_, "cuDeviceGetName") ||
      !resolve(d->deviceGetAttribute_, "cuDeviceGetAttribute") ||
      !resolve(d->deviceTotalMem_, "cuDeviceTotalMem_v2"))
    return absl::UnavailableError(
        "the NVIDIA driver (libcuda.so.1) lacks the entry points Kiln uses; "
        "is it older than CUDA 12?");
  CudaApi &a = d->api_;
  if (!resolve(a.devicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") ||
      !resolve(a.devicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2") ||
      !resolve(a.ctxSetCurrent, "cuCtxSetCurrent") ||
      !resolve(a.streamCreate, "cuStreamCreate") ||
      !resolve(a.streamDestroy, "cuStreamDestroy_v2") ||
      !resolve(a.streamSynchronize, "cuStreamSynchronize") ||
      !resolve(a.memAlloc, "cuMemAlloc_v2") ||
      !resolve(a.memFree, "cuMemFree_v2") ||
      !resolve(a.memcpyHtoDAsync, "cuMemcpyHtoDAsync_v2") ||
      !resolve(a.memcpyDtoHAsync, "cuMemcpyDtoHAsync_v2") ||
      !resolve(a.memcpyDtoDAsync, "cuMemcpyDtoDAsync_v2") ||
      !resolve(a.memsetD8Async, "cuMemsetD8Async") ||
      !resolve(a.moduleLoadData, "cuModuleLoadData") ||
      !resolve(a.moduleUnload, "cuModuleUnload") ||
      !resolve(a.moduleGetFunction, "cuModuleGetFunction") ||
      !resolve(a.launchKernel, "cuLaunchKernel") ||
      !resolve(a.streamBeginCapture, "cuStreamBeginCapture_v2") ||
      !resolve(a.streamEndCapture, "cuStreamEndCapture") ||
      !resolve(a.graphInstantiate, "cuGraphInstantiateWithFlags") ||
      !resolve(a.graphLaunch, "cuGraphLaunch") ||
      !resolve(a.graphExecDestroy, "cuGraphExecDestroy") ||
      !resolve(a.graphDestroy, "cuGraphDestroy") ||
      !resolve(a.eventCreate, "cuEventCreate") ||
      !resolve(a.eventDestroy, "cuEventDestroy_v2") ||
      !resolve(a.eventRecord, "cuEventRecord") ||
      // _v2 from CUDA 12.8 on (what cuda.h 13 maps the name to).
      !(resolve(a.eventElapsedTime, "cuEventElapsedTime_v2") ||
        resolve(a.eventElapsedTime, "cuEventElapsedTime")))
    return absl::UnavailableError(
        "the NVIDIA driver (libcuda.so.1) lacks the entry points Kiln uses; "
        "is it older than CUDA 12?");
  if (int r = d->init_(0); r != kSuccess)
    return absl::UnavailableError(
        r == kNoDevice ? std::string("the NVIDIA driver reports no CUDA device")
                       : absl::StrCat("cuInit failed: ", d->describe(r)));
  return d;
}

std::unique_ptr<CudaDriver>
CudaDriver::fromApi(const CudaApi &api, std::vector<CudaDevice> devices) {
  std::unique_ptr<CudaDriver> d(new CudaDriver());
  d->api_ = api;
  d->fixedDevices_ = std::move(devices);
  return d;
}

absl::StatusOr<std::vector<CudaDevice>> CudaDriver::devices() {
  if (!handle_)
    return fixedDevices_;
  int count = 0;
  if (int r = deviceGetCount_(&count); r != kSuccess)
    return absl::UnavailableError(
        absl::StrCat("cuDeviceGetCount failed: ", describe(r)));
  if (count == 0)
    return absl::UnavailableError("the NVIDIA driver reports no CUDA device");
  std::vector<CudaDevice> out;
  for (int i = 0; i < count; ++i) {
    int device = 0;
    char name[256] = {};
    CudaDevice info;
    info.ordinal = i;
    if (int r = deviceGet_(&device, i); r != kSuccess)
      return absl::UnavailableError(
          absl::StrCat("cuDeviceGet(", i, ") failed: ", describe(r)));
    deviceGetName_(name, sizeof(name) - 1, device);
    info.name = name;
    deviceGetAttribute_(&info.major, kAttrMajor, device);
    deviceGetAttribute_(&info.minor, kAttrMinor, device);
    deviceGetAttribute_(&info.multiprocessors, kAttrMultiprocessors, device);
    deviceTotalMem_(&info.memoryBytes, device);
    out.push_back(info);
  }
  return out;
}

} // namespace kiln::rt
