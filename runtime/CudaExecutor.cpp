//===- CudaExecutor.cpp - running an artifact's step lists on a GPU -------===//

#include "runtime/CudaExecutor.h"

#include "runtime/CudaBlas.h"
#include "runtime/CudaDriver.h"
#include "runtime/StepPlan.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cstring>
#include <map>

// The runtime's own kernels (runtime/cuda/Attention.cu), embedded at build
// time.
extern "C" const unsigned char kKilnAttentionFatbin[];
extern "C" const size_t kKilnAttentionFatbinSize;

namespace kiln::rt {

using namespace artifact;

namespace {

constexpr unsigned kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;
constexpr size_t kDeviceAlignment = 256;

size_t alignUp(size_t v) {
  return (v + kDeviceAlignment - 1) / kDeviceAlignment * kDeviceAlignment;
}

int maskKind(DType dtype) {
  switch (dtype) {
  case DType::I1:
  case DType::I8:
    return 1;
  case DType::I32:
    return 2;
  case DType::I64:
    return 3;
  case DType::F32:
    return 4;
  default:
    return -1;
  }
}

} // namespace

struct CudaExecutor::Impl {
  const Artifact &artifact;
  const ManifestT &m;
  std::shared_ptr<CudaDriver> driver;
  std::function<absl::Status(const GemmPlan &, CUdeviceptr, CUdeviceptr,
                             CUdeviceptr)>
      gemmOverride;
  std::string deviceName;
  int device = 0;
  CUcontext context = nullptr;
  CUstream stream = nullptr;
  CUmodule kernelsModule = nullptr, ownModule = nullptr;
  std::vector<CUfunction> kernels;
  CUfunction attentionFn = nullptr, cacheWriteFn = nullptr;
  std::unique_ptr<CudaBlas> blas;
  CUdeviceptr weights = 0, arena = 0, table = 0;
  std::vector<CUdeviceptr> weightPtrs;
  int64_t arenaBytes = 0, tableBytes = 0;
  struct Cache {
    CUdeviceptr data = 0;
    std::vector<int64_t> shape;
  };
  std::map<std::string, Cache> caches;
  std::vector<CUdeviceptr> inputs;
  std::vector<size_t> inputBytes;

  Impl(const Artifact &a) : artifact(a), m(a.manifest()) {}
  ~Impl() {
    if (!driver)
      return;
    const CudaApi &api = driver->api();
    if (stream)
      api.streamSynchronize(stream);
    blas.reset();
    for (CUdeviceptr p : {weights, arena, table})
      if (p)
        api.memFree(p);
    for (auto &[name, cache] : caches)
      if (cache.data)
        api.memFree(cache.data);
    for (CUdeviceptr p : inputs)
      if (p)
        api.memFree(p);
    for (CUmodule module : {kernelsModule, ownModule})
      if (module)
        api.moduleUnload(module);
    if (stream)
      api.streamDestroy(stream);
    if (context)
      api.devicePrimaryCtxRelease(device);
  }

  absl::Status check(int result, const std::string &what) const {
    return driver->check(result, what);
  }
  absl::Status load(const CudaOptions &options);
  /// A grid-stride kernel over `work` items: as many 256-thread blocks as
  /// that needs, at most kMaxBlocks.
  absl::Status launch(CUfunction fn, int64_t work, void **params,
                      const std::string &what) {
    unsigned blocks = static_cast<unsigned>(
        std::clamp<int64_t>((work + kThreads - 1) / kThreads, 1, kMaxBlocks));
    return launchGrid(fn, blocks, 1, 1, 0, params, what);
  }
  absl::Status launchGrid(CUfunction fn, unsigned x, unsigned y, unsigned z,
                          size_t sharedBytes, void **params,
                          const std::string &what) {
    return check(driver->api().launchKernel(fn, x, y, z, kThreads, 1, 1,
                                            sharedBytes, stream, params,
                                            nullptr),
                 "launching " + what);
  }
  absl::StatusOr<std::vector<NamedTensor>>
  run(const EntryT &entry, const std::vector<Tensor> &arguments);
};

absl::Status CudaExecutor::Impl::load(const CudaOptions &options) {
  const CudaApi &api = driver->api();
  device = options.device;
  if (absl::Status s = check(api.devicePrimaryCtxRetain(&context, device),
                             "creating the CUDA context");
      !s.ok())
    return s;
  if (absl::Status s = check(api.ctxSetCurrent(context), "cuCtxSetCurrent");
      !s.ok())
    return s;
  if (absl::Status s = check(api.streamCreate(&stream, 0), "cuStreamCreate");
      !s.ok())
    return s;

  // The generated kernels and the runtime's own.
  int blob = -1;
  for (size_t i = 0; i < m.blobs.size(); ++i)
    if (m.blobs[i]->kind == BlobKind::CudaKernels)
      blob = static_cast<int>(i);
  if (!m.kernels.empty()) {
    if (blob < 0)
      return absl::InvalidArgumentError(absl::StrCat(
          artifact.path(), ": damaged: no CUDA kernel fatbin is embedded"));
    if (absl::Status s =
            check(api.moduleLoadData(&kernelsModule, artifact.blobData(blob)),
                  "loading the artifact's sm_90 kernels");
        !s.ok())
      return s;
    for (const auto &k : m.kernels) {
      CUfunction fn = nullptr;
      if (absl::Status s = check(
              api.moduleGetFunction(&fn, kernelsModule, k->symbol.c_str()),
              "finding kernel " + k->symbol);
          !s.ok())
        return s;
      kernels.push_back(fn);
    }
  }
  if (absl::Status s =
          check(api.moduleLoadData(&ownModule, kKilnAttentionFatbin),
                "loading the runtime's attention kernels");
      !s.ok())
    return s;
  if (absl::Status s = check(
          api.moduleGetFunction(&attentionFn, ownModule, "kiln_attention"),
          "finding kiln_attention");
      !s.ok())
    return s;
  if (absl::Status s = check(
          api.moduleGetFunction(&cacheWriteFn, ownModule, "kiln_cache_write"),
          "finding kiln_cache_write");
      !s.ok())
    return s;
  gemmOverride = options.gemm;
  if (!gemmOverride) {
    auto loadedBlas = CudaBlas::load(*driver, stream);
    if (!loadedBlas.ok())
      return loadedBlas.status();
    blas = std::move(*loadedBlas);
  }

  // Weights: one allocation, uploaded once.
  auto host = HostWeights::load(artifact, options.weightsDir, "CUDA");
  if (!host.ok())
    return host.status();
  size_t total = 0;
  std::vector<size_t> offsets;
  for (size_t i = 0; i < (*host)->size(); ++i) {
    offsets.push_back(total);
    total += alignUp((*host)->bytes(i));
  }
  if (total > 0) {
    if (absl::Status s =
            check(api.memAlloc(&weights, total),
                  absl::StrCat("allocating ", total, " bytes of weights"));
        !s.ok())
      return s;
    for (size_t i = 0; i < (*host)->size(); ++i) {
      weightPtrs.push_back(weights + offsets[i]);
      if (absl::Status s =
              check(api.memcpyHtoDAsync(weightPtrs.back(), (*host)->data(i),
                                        (*host)->bytes(i), stream),
                    "uploading weight " + m.weights[i]->name);
          !s.ok())
        return s;
    }
    if (absl::Status s =
            check(api.streamSynchronize(stream), "uploading the weights");
        !s.ok())
      return s;
  }

  // The arena and the kernels' argument table.
  for (const auto &e : m.entries) {
    arenaBytes = std::max(arenaBytes, e->arena_bytes);
    int64_t bytes = 0;
    for (const auto &step : e->steps)
      if (step->kind == StepKind::Kernel) {
        bytes += 8 * (step->operands.size() + 1);
        for (const auto &b : step->operands)
          bytes += 8 * b->dims.size();
        bytes += 8 * step->results[0]->dims.size();
      }
    tableBytes = std::max(tableBytes, bytes);
  }
  if (arenaBytes > 0)
    if (absl::Status s =
            check(api.memAlloc(&arena, arenaBytes),
                  absl::StrCat("allocating the ", arenaBytes, "-byte arena"));
        !s.ok())
      return s;
  if (tableBytes > 0)
    if (absl::Status s = check(api.memAlloc(&table, tableBytes),
                               "allocating the kernel argument table");
        !s.ok())
      return s;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>>
CudaExecutor::Impl::run(const EntryT &entry,
                        const std::vector<Tensor> &arguments) {
  const CudaApi &api = driver->api();
  if (absl::Status s = check(api.ctxSetCurrent(context), "cuCtxSetCurrent");
      !s.ok())
    return s;
  auto binding = CallBinding::bind(
      artifact, entry, arguments,
      [&](const std::string &name) -> const std::vector<int64_t> * {
        auto it = caches.find(name);
        return it == caches.end() ? nullptr : &it->second.shape;
      });
  if (!binding.ok())
    return binding.status();

  // The caller's tensors go to device buffers kept between calls.
  inputs.resize(std::max(inputs.size(), arguments.size()), 0);
  inputBytes.resize(inputs.size(), 0);
  for (size_t i = 0; i < arguments.size(); ++i) {
    size_t bytes = std::max<size_t>(arguments[i].bytes.size(), 1);
    if (bytes > inputBytes[i]) {
      if (inputs[i])
        api.memFree(inputs[i]);
      inputs[i] = 0;
      if (absl::Status s = check(api.memAlloc(&inputs[i], alignUp(bytes)),
                                 "allocating an input");
          !s.ok())
        return s;
      inputBytes[i] = alignUp(bytes);
    }
    if (!arguments[i].bytes.empty())
      if (absl::Status s =
              check(api.memcpyHtoDAsync(inputs[i], arguments[i].bytes.data(),
                                        arguments[i].bytes.size(), stream),
                    "uploading argument " + std::to_string(i));
          !s.ok())
        return s;
  }
  auto pointer = [&](const BufferT &b) -> CUdeviceptr {
    switch (b.kind) {
    case BufferKind::Arena:
      return arena + b.index;
    case BufferKind::Argument: {
      int caller = binding->callerArgument(b.index);
      return caller < 0 ? caches[entry.arguments[b.index]->name].data
                        : inputs[caller];
    }
    case BufferKind::Weight:
      return weightPtrs[b.index];
    }
    return 0;
  };

  // Every kernel step's pointers and dims, in one table uploaded once.
  std::vector<int64_t> host;
  std::vector<size_t> tableAt(entry.steps.size(), 0);
  std::vector<int64_t> elements(entry.steps.size(), 0);
  std::vector<int64_t> rows(entry.steps.size(), 1);
  for (size_t i = 0; i < entry.steps.size(); ++i) {
    const StepT &step = *entry.steps[i];
    if (step.kind != StepKind::Kernel)
      continue;
    tableAt[i] = host.size() * 8;
    size_t count = step.operands.size() + 1;
    std::vector<int64_t> dims;
    for (size_t k = 0; k < count; ++k) {
      const BufferT &b =
          k < step.operands.size() ? *step.operands[k] : *step.results[0];
      host.push_back(static_cast<int64_t>(pointer(b)));
    }
    for (size_t k = 0; k < count; ++k) {
      const BufferT &b =
          k < step.operands.size() ? *step.operands[k] : *step.results[0];
      auto d = binding->dimsOf(b);
      if (!d.ok())
        return d.status();
      host.insert(host.end(), d->begin(), d->end());
      dims = std::move(*d);
    }
    elements[i] = product(dims);
    if (!dims.empty())
      rows[i] = dims[0];
  }
  if (!host.empty())
    if (absl::Status s = check(
            api.memcpyHtoDAsync(table, host.data(), host.size() * 8, stream),
            "uploading the kernel argument table");
        !s.ok())
      return s;

  for (size_t i = 0; i < entry.steps.size(); ++i) {
    const StepT &step = *entry.steps[i];
    std::string where =
        absl::StrCat("step ", i, " of ", entry.name, " (", step.location, ")");
    switch (step.kind) {
    case StepKind::Kernel: {
      const KernelT &k = *m.kernels[step.kernel];
      CUdeviceptr buffers = table + tableAt[i];
      CUdeviceptr shapes = buffers + 8 * (step.operands.size() + 1);
      // A splittable kernel gets all its rows; the others [0, 1).
      int64_t begin = 0;
      int64_t end = k.splittable ? rows[i] : 1;
      void *params[] = {&buffers, &shapes, &begin, &end};
      if (absl::Status s = launch(kernels[step.kernel], elements[i], params,
                                  k.name + " at " + where);
          !s.ok())
        return s;
      break;
    }
    case StepKind::Gemm: {
      auto plan = planGemm(step, *binding);
      if (!plan.ok())
        return plan.status();
      CUdeviceptr a = pointer(*step.operands[0]),
                  b = pointer(*step.operands[1]), c = pointer(*step.results[0]);
      absl::Status s = gemmOverride
                           ? gemmOverride(*plan, a, b, c)
                           : blas->gemm(*plan, a, b, c, "gemm at " + where);
      if (!s.ok())
        return s;
      break;
    }
    case StepKind::Attention: {
      auto plan = planAttention(step, *binding);
      if (!plan.ok())
        return plan.status();
      const AttentionPlan &p = *plan;
      CUdeviceptr q = pointer(*step.operands[0]),
                  k = pointer(*step.operands[1]),
                  v = pointer(*step.operands[2]),
                  out = pointer(*step.results[0]);
      CUdeviceptr positions = 0;
      int wide = 1;
      if (p.kCache >= 0) {
        const BufferT &pos = *step.operands[p.positions];
        positions = pointer(pos);
        wide = pos.dtype == DType::I64;
        // Positions given by the caller are checked here, where the
        // overflow can still be reported.
        if (pos.kind == BufferKind::Argument &&
            binding->callerArgument(pos.index) >= 0) {
          const Tensor &t = arguments[binding->callerArgument(pos.index)];
          for (int64_t b = 0; b < p.batch; ++b) {
            int64_t start = wide ? t.data<int64_t>()[b] : t.data<int32_t>()[b];
            if (start < 0 || start + p.sq > p.cacheLength)
              return absl::InvalidArgumentError(absl::StrCat(
                  "attention at ", step.location,
                  ": kv cache overflow: sequence ", b, " writes rows [", start,
                  ", ", start + p.sq, ") of a cache of ", p.cacheLength));
          }
        }
        for (auto [cache, rows] :
             {std::pair{pointer(*step.operands[p.kCache]), k},
              std::pair{pointer(*step.operands[p.vCache]), v}}) {
          int64_t batch = p.batch, count = p.sq, maxSeq = p.cacheLength,
                  width = p.width;
          void *params[] = {&cache, &rows,  &positions, &wide,
                            &batch, &count, &maxSeq,    &width};
          if (absl::Status s = launch(cacheWriteFn, batch * count * width,
                                      params, "the cache write at " + where);
              !s.ok())
            return s;
        }
        k = pointer(*step.operands[p.kCache]);
        v = pointer(*step.operands[p.vCache]);
      }
      CUdeviceptr mask = 0, bias = 0;
      int kind = 0;
      if (p.mask >= 0) {
        mask = pointer(*step.operands[p.mask]);
        kind = maskKind(step.operands[p.mask]->dtype);
        if (kind < 0)
          return absl::InvalidArgumentError(
              where + ": key_mask has an unsupported element type");
      }
      if (p.bias >= 0)
        bias = pointer(*step.operands[p.bias]);
      int64_t sq = p.sq, sk = p.sk, heads = p.heads, kvHeads = p.kvHeads,
              headDim = p.headDim;
      float scale = p.scale;
      int causal = p.causal;
      int64_t bB = p.biasStrides[0], bH = p.biasStrides[1],
              bI = p.biasStrides[2], bJ = p.biasStrides[3];
      void *params[] = {&q,      &k,         &v,       &out,     &sq,
                        &sk,     &heads,     &kvHeads, &headDim, &scale,
                        &causal, &positions, &wide,    &mask,    &kind,
                        &bias,   &bB,        &bH,      &bI,      &bJ};
      // One block per (query row, head, sequence); the row's scores in
      // shared memory.
      if (absl::Status s = launchGrid(
              attentionFn, static_cast<unsigned>(sq),
              static_cast<unsigned>(heads), static_cast<unsigned>(p.batch),
              sk * sizeof(float), params, "attention at " + where);
          !s.ok())
        return s;
      break;
    }
    }
  }

  std::vector<NamedTensor> outputs;
  for (const auto &r : entry.results) {
    if (isCacheName(r->name))
      continue;
    auto dims = binding->dimsOf(*r->buffer);
    if (!dims.ok())
      return dims.status();
    Tensor t = Tensor::zeros(r->buffer->dtype, *dims);
    if (!t.bytes.empty())
      if (absl::Status s =
              check(api.memcpyDtoHAsync(t.bytes.data(), pointer(*r->buffer),
                                        t.bytes.size(), stream),
                    "downloading " + r->name);
          !s.ok())
        return s;
    outputs.push_back({r->name, std::move(t)});
  }
  if (absl::Status s = check(api.streamSynchronize(stream),
                             "running " + entry.name + " on the GPU");
      !s.ok())
    return s;
  return outputs;
}

//===----------------------------------------------------------------------===//

CudaExecutor::CudaExecutor(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
CudaExecutor::~CudaExecutor() = default;

absl::StatusOr<std::unique_ptr<CudaExecutor>>
CudaExecutor::create(const Artifact &artifact, const CudaOptions &options) {
  if (absl::Status s = checkArtifact(artifact, "cuda", "CUDA"); !s.ok())
    return s;
  auto impl = std::make_unique<Impl>(artifact);
  if (options.driver) {
    impl->driver = options.driver;
  } else {
    auto driver = CudaDriver::load();
    if (!driver.ok())
      return driver.status();
    impl->driver = std::move(*driver);
  }
  auto devices = impl->driver->devices();
  if (!devices.ok())
    return devices.status();
  if (options.device < 0 || options.device >= static_cast<int>(devices->size()))
    return absl::InvalidArgumentError(
        absl::StrCat("no CUDA device ", options.device));
  const CudaDevice &d = (*devices)[options.device];
  impl->deviceName = absl::StrCat(d.name, " (sm_", d.major, d.minor, ")");
  if (d.major < 9)
    return absl::FailedPreconditionError(
        absl::StrCat(impl->deviceName, ": the kernels are compiled for sm_90"));
  if (absl::Status s = impl->load(options); !s.ok())
    return s;
  return std::unique_ptr<CudaExecutor>(new CudaExecutor(std::move(impl)));
}

absl::Status CudaExecutor::resetCaches(int64_t batch, int64_t length) {
  Impl &s = *impl_;
  const CudaApi &api = s.driver->api();
  if (absl::Status st =
          s.check(api.ctxSetCurrent(s.context), "cuCtxSetCurrent");
      !st.ok())
    return st;
  auto caches = cacheArguments(s.artifact);
  if (!caches.ok())
    return caches.status();
  for (const auto &[name, width] : *caches) {
    Impl::Cache &cache = s.caches[name];
    std::vector<int64_t> shape = {batch, length, width};
    int64_t bytes = checkedBytes(shape, 4);
    if (bytes < 0)
      return absl::InvalidArgumentError("impossible cache shape");
    if (cache.shape != shape) {
      if (cache.data)
        api.memFree(cache.data);
      cache.data = 0;
      if (absl::Status st =
              s.check(api.memAlloc(&cache.data, std::max<int64_t>(bytes, 1)),
                      "allocating the kv cache");
          !st.ok())
        return st;
      cache.shape = shape;
    }
    if (absl::Status st =
            s.check(api.memsetD8Async(cache.data, 0, bytes, s.stream),
                    "clearing the kv cache");
        !st.ok())
      return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>>
CudaExecutor::run(const std::string &entry,
                  const std::vector<Tensor> &arguments) {
  auto found = findEntry(impl_->artifact, entry);
  if (!found.ok())
    return found.status();
  return impl_->run(**found, arguments);
}

const std::string &CudaExecutor::deviceName() const {
  return impl_->deviceName;
}
int64_t CudaExecutor::arenaBytes() const { return impl_->arenaBytes; }

} // namespace kiln::rt
