//===- CudaSparse.cpp - 2:4 gemm steps on cuSPARSELt, loaded at run time --===//

#include "runtime/CudaSparse.h"

#include "runtime/CudaDriver.h"
#include "runtime/CusparseLtApi.h"
#include "runtime/LoadedLibrary.h"
#include "support/Status.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include <cstddef>
#include <cstdint>
#include <cusparse.h>
#include <dlfcn.h>
#include <library_types.h>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kiln::rt {

namespace lt = cusparselt;

namespace {
/// What cuSPARSELt is told of every pointer: the arena's and the weights'
/// allocations are 64-byte aligned, and its kernels need 16.
constexpr uint32_t kAlignment = 16;
} // namespace

struct CudaSparse::Impl {
  const CudaDriver &driver;
  CUstream stream;
  void *library = nullptr;
  std::string libraryPath;
  lt::Handle handle{};
  bool initialized = false;
  lt::InitFn init = nullptr;
  lt::DestroyFn destroy = nullptr;
  lt::ErrorStringFn errorString = nullptr;
  lt::DenseDescriptorInitFn denseInit = nullptr;
  lt::StructuredDescriptorInitFn structuredInit = nullptr;
  lt::MatDescriptorDestroyFn descriptorDestroy = nullptr;
  lt::MatmulDescriptorInitFn matmulInit = nullptr;
  lt::AlgSelectionInitFn algInit = nullptr;
  lt::AlgSelectionDestroyFn algDestroy = nullptr;
  lt::PlanInitFn planInit = nullptr;
  lt::PlanDestroyFn planDestroy = nullptr;
  lt::GetWorkspaceFn getWorkspace = nullptr;
  lt::MatmulFn matmul = nullptr;
  lt::CompressedSize2Fn compressedSize = nullptr;
  lt::Compress2Fn compress = nullptr;

  /// One compressed weight: its descriptor (cuSPARSELt's B) and form.
  struct Weight {
    lt::MatDescriptor descriptor{};
    int64_t n = 0, k = 0;
    bool outIn = true;
    cudaDataType type = CUDA_R_16BF;
    CUdeviceptr compressed = 0;
  };
  std::vector<std::unique_ptr<Weight>> weights;
  /// One (weight, m) product: A's and D's descriptors and the plan.
  struct Product {
    lt::MatDescriptor a{}, d{};
    lt::MatmulDescriptor matmul{};
    lt::AlgSelection alg{};
    lt::Plan plan{};
    bool described = false, planned = false, ready = false;
    /// Its own: a graph captured with it keeps the address.
    CUdeviceptr workspace = 0;
  };
  std::map<std::pair<int, int64_t>, std::unique_ptr<Product>> products;

  Impl(const CudaDriver &d, CUstream s) : driver(d), stream(s) {}
  ~Impl() {
    for (auto &[key, p] : products) {
      if (p->planned) {
        planDestroy(&p->plan);
        algDestroy(&p->alg);
      }
      if (p->described) {
        descriptorDestroy(&p->a);
        descriptorDestroy(&p->d);
      }
      if (p->workspace)
        driver.api().memFree(p->workspace);
    }
    for (auto &w : weights) {
      descriptorDestroy(&w->descriptor);
      if (w->compressed)
        driver.api().memFree(w->compressed);
    }
    if (initialized)
      destroy(&handle);
    if (library)
      dlclose(library);
  }
  absl::Status check(cusparseStatus_t s, const std::string &what) const {
    if (s == CUSPARSE_STATUS_SUCCESS)
      return absl::OkStatus();
    return absl::InternalError(
        absl::StrCat(what, ": ", errorString ? errorString(s) : "cuSPARSELt",
                     " (", static_cast<int>(s), ")"));
  }
  absl::Status device(int result, const std::string &what) const {
    return driver.check(result, what);
  }
};

CudaSparse::CudaSparse(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaSparse::~CudaSparse() = default;

absl::StatusOr<std::unique_ptr<CudaSparse>>
CudaSparse::load(const CudaDriver &driver, CUstream stream,
                 const std::string &library) {
  auto impl = std::make_unique<Impl>(driver, stream);
  const std::string name = library.empty() ? "libcusparseLt.so.0" : library;
  impl->library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!impl->library)
    return absl::UnavailableError(
        library.empty()
            ? "cuSPARSELt (libcusparseLt.so.0) is not installed; 2:4 "
              "weights stay dense (add its folder to LD_LIBRARY_PATH)"
            : absl::StrCat("cannot open cuSPARSELt ", library, ": ",
                           dlerror()));
  impl->libraryPath = loadedPath(impl->library, name);
  auto resolve = [&](auto &fn, const char *symbol) {
    return resolveSymbol(impl->library, fn, symbol);
  };
  Impl &i = *impl;
  if (!resolve(i.init, "cusparseLtInit") ||
      !resolve(i.destroy, "cusparseLtDestroy") ||
      !resolve(i.errorString, "cusparseLtGetErrorString") ||
      !resolve(i.denseInit, "cusparseLtDenseDescriptorInit") ||
      !resolve(i.structuredInit, "cusparseLtStructuredDescriptorInit") ||
      !resolve(i.descriptorDestroy, "cusparseLtMatDescriptorDestroy") ||
      !resolve(i.matmulInit, "cusparseLtMatmulDescriptorInit") ||
      !resolve(i.algInit, "cusparseLtMatmulAlgSelectionInit") ||
      !resolve(i.algDestroy, "cusparseLtMatmulAlgSelectionDestroy") ||
      !resolve(i.planInit, "cusparseLtMatmulPlanInit") ||
      !resolve(i.planDestroy, "cusparseLtMatmulPlanDestroy") ||
      !resolve(i.getWorkspace, "cusparseLtMatmulGetWorkspace") ||
      !resolve(i.matmul, "cusparseLtMatmul") ||
      !resolve(i.compressedSize, "cusparseLtSpMMACompressedSize2") ||
      !resolve(i.compress, "cusparseLtSpMMACompress2"))
    return absl::UnavailableError(
        "cuSPARSELt lacks the entry points Kiln uses");
  KILN_RETURN_IF_ERROR(i.check(i.init(&i.handle), "cusparseLtInit"));
  i.initialized = true;
  return std::unique_ptr<CudaSparse>(new CudaSparse(std::move(impl)));
}

const std::string &CudaSparse::libraryPath() const {
  return impl_->libraryPath;
}

absl::StatusOr<int> CudaSparse::compress(CUdeviceptr w, int64_t n, int64_t k,
                                         bool outIn, bool bf16,
                                         const std::string &where) {
  Impl &i = *impl_;
  auto weight = std::make_unique<Impl::Weight>();
  weight->n = n;
  weight->k = k;
  weight->outIn = outIn;
  weight->type = bf16 ? CUDA_R_16BF : CUDA_R_16F;
  // cuSPARSELt's B, row-major as stored: [n, k] (op T) or [k, n] (op N).
  const int64_t rows = outIn ? n : k, cols = outIn ? k : n;
  KILN_RETURN_IF_ERROR(
      i.check(i.structuredInit(&i.handle, &weight->descriptor, rows, cols, cols,
                               kAlignment, weight->type, CUSPARSE_ORDER_ROW,
                               lt::kSparsity50Percent),
              where));
  size_t bytes = 0, bufferBytes = 0;
  absl::Status s = i.check(
      i.compressedSize(&i.handle, &weight->descriptor, &bytes, &bufferBytes),
      where);
  CUdeviceptr buffer = 0;
  const CudaApi &api = i.driver.api();
  if (s.ok())
    s = i.device(api.memAlloc(&weight->compressed, bytes),
                 absl::StrCat("allocating ", bytes,
                              " bytes for a compressed 2:4 weight"));
  if (s.ok() && bufferBytes > 0)
    s = i.device(api.memAlloc(&buffer, bufferBytes),
                 "allocating cuSPARSELt's compression buffer");
  if (s.ok())
    s = i.check(i.compress(&i.handle, &weight->descriptor, /*isSparseA=*/0,
                           outIn ? CUSPARSE_OPERATION_TRANSPOSE
                                 : CUSPARSE_OPERATION_NON_TRANSPOSE,
                           reinterpret_cast<const void *>(w),
                           reinterpret_cast<void *>(weight->compressed),
                           reinterpret_cast<void *>(buffer),
                           reinterpret_cast<cudaStream_t>(i.stream)),
                where);
  if (s.ok())
    s = i.device(api.streamSynchronize(i.stream), where);
  if (buffer)
    api.memFree(buffer);
  if (!s.ok()) {
    i.descriptorDestroy(&weight->descriptor);
    if (weight->compressed)
      api.memFree(weight->compressed);
    return s;
  }
  i.weights.push_back(std::move(weight));
  return static_cast<int>(i.weights.size() - 1);
}

absl::Status CudaSparse::gemm(int index, int64_t m, CUdeviceptr a,
                              CUdeviceptr d, const std::string &where) {
  Impl &i = *impl_;
  if (index < 0 || static_cast<size_t>(index) >= i.weights.size())
    return absl::InternalError(where + ": no such compressed weight");
  const Impl::Weight &w = *i.weights[index];
  std::unique_ptr<Impl::Product> &slot = i.products[{index, m}];
  if (!slot) {
    // The first call of this shape: its plan and workspace (outside any
    // graph capture). Kept even when a step fails, so the destructor
    // frees what was made; a shape cuSPARSELt would not plan is not asked
    // again.
    slot = std::make_unique<Impl::Product>();
    Impl::Product &p = *slot;
    auto plan = [&]() -> absl::Status {
      KILN_RETURN_IF_ERROR(
          i.check(i.denseInit(&i.handle, &p.a, m, w.k, w.k, kAlignment, w.type,
                              CUSPARSE_ORDER_ROW),
                  where));
      if (absl::Status s =
              i.check(i.denseInit(&i.handle, &p.d, m, w.n, w.n, kAlignment,
                                  w.type, CUSPARSE_ORDER_ROW),
                      where);
          !s.ok()) {
        i.descriptorDestroy(&p.a);
        return s;
      }
      p.described = true;
      KILN_RETURN_IF_ERROR(i.check(
          i.matmulInit(&i.handle, &p.matmul, CUSPARSE_OPERATION_NON_TRANSPOSE,
                       w.outIn ? CUSPARSE_OPERATION_TRANSPOSE
                               : CUSPARSE_OPERATION_NON_TRANSPOSE,
                       &p.a, &w.descriptor, &p.d, &p.d, lt::kCompute32F),
          where));
      KILN_RETURN_IF_ERROR(i.check(
          i.algInit(&i.handle, &p.alg, &p.matmul, lt::kAlgDefault), where));
      if (absl::Status s =
              i.check(i.planInit(&i.handle, &p.plan, &p.matmul, &p.alg), where);
          !s.ok()) {
        i.algDestroy(&p.alg);
        return s;
      }
      p.planned = true;
      size_t bytes = 0;
      KILN_RETURN_IF_ERROR(
          i.check(i.getWorkspace(&i.handle, &p.plan, &bytes), where));
      if (bytes > 0)
        KILN_RETURN_IF_ERROR(
            i.device(i.driver.api().memAlloc(&p.workspace, bytes),
                     "allocating cuSPARSELt's workspace"));
      p.ready = true;
      return absl::OkStatus();
    };
    if (absl::Status s = plan(); !s.ok())
      return absl::UnimplementedError(s.message());
  } else if (!slot->ready) {
    return absl::UnimplementedError(where +
                                    ": cuSPARSELt could not plan this shape");
  }
  const float one = 1, zero = 0;
  cudaStream_t stream = reinterpret_cast<cudaStream_t>(i.stream);
  return i.check(
      i.matmul(&i.handle, &slot->plan, &one, reinterpret_cast<const void *>(a),
               reinterpret_cast<const void *>(w.compressed), &zero,
               reinterpret_cast<const void *>(d), reinterpret_cast<void *>(d),
               reinterpret_cast<void *>(slot->workspace), &stream, 1),
      where);
}

} // namespace kiln::rt
