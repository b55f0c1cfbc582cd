//===- CudaExecutor.cpp - running an artifact's step lists on a GPU -------===//

#include "runtime/CudaExecutor.h"

#include "artifact/Artifact.h"
#include "runtime/ArenaPlan.h"
#include "runtime/CallBinding.h"
#include "runtime/Collectives.h"
#include "runtime/CudaBlas.h"
#include "runtime/CudaDriver.h"
#include "runtime/CudaLaunch.h"
#include "runtime/CudaSparse.h"
#include "runtime/DimExpr.h"
#include "runtime/HostWeights.h"
#include "runtime/ManifestChecks.h"
#include "runtime/StepPlan.h"
#include "runtime/StepProfile.h"
#include "runtime/Tensor.h"
#include "support/Quantize.h"
#include "support/Status.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

// The runtime's own kernels (runtime/cuda/Kernels.cu), embedded at build
// time.
extern "C" const unsigned char kKilnRuntimeKernelsFatbin[];
extern "C" const size_t kKilnRuntimeKernelsFatbinSize;

namespace kiln::rt {

using namespace artifact;

namespace {

constexpr unsigned kThreads = kOwnKernelThreads;
constexpr int64_t kMaxBlocks = 65535;
constexpr size_t kDeviceAlignment = 256;
/// Call plans (argument tables, graphs) kept at once; beyond this the
/// oldest shapes are dropped together.
constexpr size_t kMaxPlans = 64;

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

/// Everything the executor holds on the device (context, stream, modules,
/// weights, arena, caches, per-call plans and graphs) and the code that
/// drives it; the executor's methods are thin calls into it.
struct CudaExecutor::DeviceState : DeviceCollectiveOps {
  const Artifact &artifact;
  const ManifestT &manifest;
  std::shared_ptr<CudaDriver> driver;
  std::function<absl::Status(const GemmPlan &, const GemmBuffers &)>
      gemmOverride;
  std::string deviceName;
  int device = 0;
  int multiprocessors = 1;
  bool useGraphs = true;
  bool syncSteps = false;
  CUcontext context = nullptr;
  CUstream stream = nullptr;
  /// Recorded around every call's steps (after its uploads, before its
  /// downloads): deviceSeconds is their sum over all calls.
  CUevent stepsBegin = nullptr, stepsEnd = nullptr;
  /// With profiling: one event before each step and one after the last.
  bool profiling = false;
  std::vector<CUevent> stepEvents;
  StepProfiles profile;
  double deviceSeconds = 0;
  CUmodule kernelsModule = nullptr, ownModule = nullptr;
  std::vector<CUfunction> generatedKernels;    // the artifact's, by index
  CUfunction ownKernels[kOwnKernelCount] = {}; // the runtime's, by OwnKernel
  std::unique_ptr<CudaBlas> blas;
  /// cuSPARSELt (null without it), and per weight slot the index of its
  /// compressed 2:4 form there (-1: dense).
  std::unique_ptr<CudaSparse> sparse;
  std::vector<int> sparseWeights;
  CUdeviceptr weights = 0, arena = 0, workspace = 0;
  std::vector<CUdeviceptr> weightPtrs;
  /// Per weight slot: its integers, scales and smoothing factors on the
  /// device when it is quantized (kilnc --quantize), values 0 otherwise.
  std::vector<DeviceQuantWeight> quantWeights;
  int64_t arenaBytes = 0, workspaceBytes = 0;
  ArenaPlans arenaPlans; // calls past the compiled batch or sequence
  struct Cache {
    CUdeviceptr data = 0;
    std::vector<int64_t> shape;
  };
  std::map<std::string, Cache> caches;
  /// A partitioned artifact's rank: see CudaOptions. The caches its
  /// stage's steps use (the others are not allocated), and the host copies
  /// collective steps move.
  int64_t stages = 1, stage = 0;
  Communicator *communicator = nullptr;
  StageLink *stageLink = nullptr;
  /// Collectives among ranks that share this GPU exchange device buffers
  /// (CudaOptions::deviceCollectives): this rank's share of each result,
  /// which the other ranks copy from, and the step in flight (for errors).
  bool deviceCollectives = true;
  CUdeviceptr collectiveShare = 0;
  int64_t collectiveShareBytes = 0;
  std::string collectiveWhere;
  std::set<std::string> stageCaches;
  std::vector<uint8_t> hostIn, hostOut;
  std::vector<CUdeviceptr> inputs;
  std::vector<size_t> inputBytes;

  /// What one (entry, symbol values) call launches, given the buffers'
  /// current addresses: the generated kernels' argument table (pointers and
  /// dims, uploaded once) and, from the second call on, the CUDA graph of
  /// all its steps. Dropped whenever an input, cache or workspace buffer
  /// moves, since the table and the graph hold addresses.
  struct CallPlan {
    CUdeviceptr table = 0;
    std::vector<int64_t> host;
    std::vector<size_t> tableAt; // per step, its byte offset in the table
    std::vector<int64_t> work;   // per kernel step, the result's elements
    std::vector<int64_t> rows;   // per kernel step, the result's dim 0
    CUgraphExec graph = nullptr;
    int64_t calls = 0;
    /// The scratch its steps need (flash-decoding's partial results, a
    /// half-precision gemm's A), and its cached attention steps whose
    /// positions come from the caller: checked on the host every call.
    int64_t workspaceBytes = 0;
    struct CachePositions {
      const StepT *step;
      AttentionPlan attention;
      int caller;
      bool wide;
    };
    std::vector<CachePositions> cachePositions;
  };
  std::map<std::pair<std::string, std::vector<int64_t>>, CallPlan> plans;
  CudaStats stats;

  DeviceState(const Artifact &a) : artifact(a), manifest(a.manifest()) {}
  ~DeviceState() override {
    if (!driver)
      return;
    const CudaApi &api = driver->api();
    if (stream)
      api.streamSynchronize(stream);
    dropPlans();
    blas.reset();
    for (CUdeviceptr p : {weights, arena, workspace, collectiveShare})
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
    for (CUevent e : {stepsBegin, stepsEnd})
      if (e)
        api.eventDestroy(e);
    for (CUevent e : stepEvents)
      api.eventDestroy(e);
    if (stream)
      api.streamDestroy(stream);
    if (context)
      api.devicePrimaryCtxRelease(device);
  }

  absl::Status check(int result, const std::string &what) const {
    return driver->check(result, what);
  }
  /// A gemm step's compressed 2:4 B on cuSPARSELt, or -1: a half-precision
  /// product of row-major A rows (the batch folded into them), some rows.
  int sparseB(const StepT &step, const GemmPlan &g) const {
    const BufferT &b = *step.operands[1];
    if (!sparse || b.kind != BufferKind::Weight ||
        static_cast<size_t>(b.index) >= sparseWeights.size() ||
        !g.halfPrecision() || g.transA || g.lda != g.k ||
        (g.batch > 1 && !g.shared) || g.batch * g.m == 0)
      return -1;
    return sparseWeights[b.index];
  }
  /// Compresses the weights cuSPARSELt can take (see CudaOptions).
  absl::Status compressSparseWeights(const HostWeights &host);
  /// A gemm step's B when it is a quantized weight (kilnc --quantize).
  const DeviceQuantWeight *quantizedB(const StepT &step) const {
    const BufferT &b = *step.operands[1];
    if (b.kind != BufferKind::Weight ||
        static_cast<size_t>(b.index) >= quantWeights.size() ||
        !quantWeights[b.index].values)
      return nullptr;
    return &quantWeights[b.index];
  }
  /// The gemm through cuBLASLt (or the test's function), its epilogue
  /// fused, or as kiln_gemm_epilogue after it where cuBLASLt cannot fuse it.
  absl::Status runGemm(const GemmPlan &g, const GemmBuffers &buffers,
                       const std::string &where);
  absl::Status enqueueQuantizedGemm(
      const StepT &step, const GemmPlan &g, const DeviceQuantWeight &w,
      const std::function<CUdeviceptr(const BufferT &)> &pointer,
      const std::string &where);
  /// Makes the device buffer `p` (of `have` bytes) at least `need` bytes
  /// long, contents not kept; the plans and graphs holding its old address
  /// are dropped.
  absl::Status grow(CUdeviceptr &p, int64_t &have, int64_t need,
                    const std::string &what) {
    if (need <= have)
      return absl::OkStatus();
    dropPlans();
    if (p)
      driver->api().memFree(p);
    p = 0;
    have = 0;
    KILN_RETURN_IF_ERROR(check(driver->api().memAlloc(&p, need), what));
    have = need;
    return absl::OkStatus();
  }
  void dropPlans() {
    const CudaApi &api = driver->api();
    if (!plans.empty() && stream)
      api.streamSynchronize(stream);
    for (auto &[key, plan] : plans) {
      if (plan.graph)
        api.graphExecDestroy(plan.graph);
      if (plan.table)
        api.memFree(plan.table);
    }
    plans.clear();
  }
  absl::Status load(const CudaOptions &options);
  absl::Status launchGrid(CUfunction fn, unsigned x, unsigned y, unsigned z,
                          size_t sharedBytes, void **params,
                          const std::string &what) {
    return check(driver->api().launchKernel(fn, x, y, z, kThreads, 1, 1,
                                            sharedBytes, stream, params,
                                            nullptr),
                 "launching " + what);
  }
  absl::Status launchOwn(KernelLaunch &l, const std::string &what) {
    return launchGrid(ownKernels[static_cast<int>(l.kernel)], l.grid[0],
                      l.grid[1], l.grid[2], l.sharedBytes, l.params(),
                      absl::StrCat(ownKernelName(l.kernel), " at ", what));
  }
  absl::StatusOr<CallPlan *>
  planFor(const EntryT &entry, const CallBinding &binding,
          const std::function<CUdeviceptr(const BufferT &)> &pointer);
  absl::Status reserveWorkspace(int64_t bytes);
  absl::Status
  enqueue(const EntryT &entry, const CallBinding &binding, const CallPlan &plan,
          const std::function<CUdeviceptr(const BufferT &)> &pointer);
  absl::StatusOr<std::vector<NamedTensor>>
  run(const EntryT &entry, const std::vector<Tensor> &arguments);
  /// Adds each step's time between its profiling events (after the call's
  /// synchronization).
  absl::Status accountSteps(const EntryT &entry);
  /// A collective step (kilnc --tp/--pp): the stream synchronized, then
  /// either the ranks sharing this GPU exchange the device buffers
  /// themselves (threads of one process: kiln_rank_share and
  /// device-to-device copies for all_reduce and all_gather, a device
  /// buffer handed from stage to stage for send_recv), or the operand is
  /// downloaded, moved by the group's or pipeline's transport on the host
  /// (MPI processes) and the result uploaded.
  absl::Status
  collective(const StepT &step, const CallBinding &binding,
             const std::function<CUdeviceptr(const BufferT &)> &pointer,
             const std::string &where);

  // DeviceCollectiveOps: on this rank's stream, each synchronized.
  absl::Status share(float *out, const std::vector<const float *> &inputs,
                     int64_t begin, int64_t end, int64_t cols) override {
    std::vector<CUdeviceptr> from;
    for (const float *p : inputs)
      from.push_back(reinterpret_cast<CUdeviceptr>(p));
    KILN_ASSIGN_OR_RETURN(KernelLaunch l,
                          rankShareLaunch(reinterpret_cast<CUdeviceptr>(out),
                                          begin, end, cols, from));
    KILN_RETURN_IF_ERROR(launchOwn(l, collectiveWhere));
    return check(driver->api().streamSynchronize(stream), collectiveWhere);
  }
  absl::Status copy(void *to, const void *from, int64_t bytes) override {
    const CudaApi &api = driver->api();
    KILN_RETURN_IF_ERROR(check(
        api.memcpyDtoDAsync(reinterpret_cast<CUdeviceptr>(to),
                            reinterpret_cast<CUdeviceptr>(from), bytes, stream),
        collectiveWhere));
    return check(api.streamSynchronize(stream), collectiveWhere);
  }
  absl::StatusOr<float *> shareBuffer(int64_t bytes) override {
    if (bytes > collectiveShareBytes) {
      // Not in any call plan (collective steps are not captured), so no
      // plan holds its address.
      if (collectiveShare)
        driver->api().memFree(collectiveShare);
      collectiveShare = 0;
      collectiveShareBytes = 0;
      KILN_RETURN_IF_ERROR(
          check(driver->api().memAlloc(&collectiveShare, bytes),
                "allocating the collective buffer at " + collectiveWhere));
      collectiveShareBytes = bytes;
    }
    return reinterpret_cast<float *>(collectiveShare);
  }
  absl::StatusOr<void *> allocate(int64_t bytes) override {
    CUdeviceptr p = 0;
    KILN_RETURN_IF_ERROR(
        check(driver->api().memAlloc(&p, bytes),
              "allocating the value sent at " + collectiveWhere));
    return reinterpret_cast<void *>(p);
  }
  void release(void *buffer) override {
    driver->api().memFree(reinterpret_cast<CUdeviceptr>(buffer));
  }
};

absl::Status CudaExecutor::DeviceState::collective(
    const StepT &step, const CallBinding &binding,
    const std::function<CUdeviceptr(const BufferT &)> &pointer,
    const std::string &where) {
  const CudaApi &api = driver->api();
  auto sync = [&] { return check(api.streamSynchronize(stream), where); };
  const BufferT &in = *step.operands[0], &out = *step.results[0];
  KILN_ASSIGN_OR_RETURN(auto inDims, binding.dimsOf(in));
  KILN_ASSIGN_OR_RETURN(auto outDims, binding.dimsOf(out));
  const int64_t inBytes = checkedBytes(inDims, dtypeBytes(in.dtype));
  const int64_t outBytes = checkedBytes(outDims, dtypeBytes(out.dtype));
  if (inBytes < 0 || outBytes < 0)
    return absl::InvalidArgumentError("damaged: " + where +
                                      " has an impossible shape");
  // A send_recv's sender only reads its operand, its receiver only writes
  // its result.
  const bool sendRecv = step.collective == CollectiveKind::SendRecv;
  if (deviceCollectives && !sendRecv && communicator &&
      communicator->sharesMemory() && api.memcpyDtoDAsync &&
      static_cast<size_t>(communicator->size()) <= kRankShareMaxRanks &&
      in.dtype == DType::F32 && out.dtype == DType::F32) {
    // The operand is complete once the stream is; then the ranks read one
    // another's buffers.
    KILN_RETURN_IF_ERROR(sync());
    collectiveWhere = where;
    const auto *source = reinterpret_cast<const float *>(pointer(in));
    auto *target = reinterpret_cast<float *>(pointer(out));
    ++stats.deviceCollectives;
    if (step.collective == CollectiveKind::AllReduce) {
      if (inBytes != outBytes)
        return absl::InvalidArgumentError("damaged: " + where +
                                          " sums operands of another size");
      return communicator->allReduceOnDevice(*this, source, target,
                                             outBytes / 4, where);
    }
    const int64_t cols = inDims.empty() ? 1 : inDims.back();
    if (outDims.empty() || outDims.back() != cols * communicator->size() ||
        inBytes * communicator->size() != outBytes)
      return absl::InvalidArgumentError("damaged: " + where +
                                        " gathers the wrong width");
    return communicator->allGatherOnDevice(
        *this, source, target, inBytes / 4 / std::max<int64_t>(1, cols), cols,
        where);
  }
  if (deviceCollectives && sendRecv && stageLink && stageLink->sharesMemory() &&
      api.memcpyDtoDAsync) {
    // Stages on this GPU: the sender's value waits in a device buffer.
    KILN_RETURN_IF_ERROR(sync());
    collectiveWhere = where;
    ++stats.deviceCollectives;
    if (sendsValue(step, stage))
      return stageLink->sendOnDevice(
          *this, static_cast<int>(step.peer_stage),
          reinterpret_cast<const void *>(pointer(in)), inBytes, where);
    return stageLink->recvOnDevice(*this, senderStage(step),
                                   reinterpret_cast<void *>(pointer(out)),
                                   outBytes, where);
  }
  ++stats.hostCollectives;
  const bool reads = !sendRecv || sendsValue(step, stage);
  const bool writes = !sendRecv || !sendsValue(step, stage);
  hostIn.resize(inBytes);
  hostOut.resize(outBytes);
  if (reads) {
    KILN_RETURN_IF_ERROR(sync());
    KILN_RETURN_IF_ERROR(
        check(api.memcpyDtoHAsync(hostIn.data(), pointer(in), inBytes, stream),
              where));
    KILN_RETURN_IF_ERROR(sync());
  }
  KILN_RETURN_IF_ERROR(runCollectiveStep(step, stage, communicator, stageLink,
                                         hostIn.data(), hostOut.data(), inDims,
                                         outDims, where));
  if (!writes)
    return absl::OkStatus();
  KILN_RETURN_IF_ERROR(
      check(api.memcpyHtoDAsync(pointer(out), hostOut.data(), outBytes, stream),
            where));
  return sync(); // the host copy is reused by the next collective
}

absl::Status CudaExecutor::DeviceState::load(const CudaOptions &options) {
  const CudaApi &api = driver->api();
  device = options.device;
  syncSteps = options.syncSteps;
  profiling = options.profile;
  stages = std::max<int64_t>(1, manifest.pipeline_parallel);
  stage = options.stage;
  communicator = options.communicator;
  stageLink = options.stageLink;
  deviceCollectives = options.deviceCollectives;
  if (stage < 0 || stage >= stages)
    return absl::InvalidArgumentError(
        absl::StrCat(artifact.path(), ": has no pipeline stage ", stage,
                     " (it has ", stages, ")"));
  // Collective steps wait for the other ranks on the host: not capturable.
  const bool partitioned =
      std::max<int64_t>(1, manifest.tensor_parallel) * stages > 1;
  useGraphs = options.graphs && !syncSteps && !profiling && !partitioned;
  KILN_RETURN_IF_ERROR(check(api.devicePrimaryCtxRetain(&context, device),
                             "creating the CUDA context"));
  KILN_RETURN_IF_ERROR(check(api.ctxSetCurrent(context), "cuCtxSetCurrent"));
  KILN_RETURN_IF_ERROR(
      check(api.streamCreate(&stream, kStreamNonBlocking), "cuStreamCreate"));
  for (CUevent *e : {&stepsBegin, &stepsEnd})
    KILN_RETURN_IF_ERROR(check(api.eventCreate(e, 0), "cuEventCreate"));

  // The generated kernels and the runtime's own.
  int blob = -1;
  for (size_t i = 0; i < manifest.blobs.size(); ++i)
    if (manifest.blobs[i]->kind == BlobKind::CudaKernels)
      blob = static_cast<int>(i);
  if (!manifest.kernels.empty()) {
    if (blob < 0)
      return absl::InvalidArgumentError(absl::StrCat(
          artifact.path(), ": damaged: no CUDA kernel fatbin is embedded"));
    KILN_RETURN_IF_ERROR(
        check(api.moduleLoadData(&kernelsModule, artifact.blobData(blob)),
              "loading the artifact's sm_90 kernels"));
    for (const auto &k : manifest.kernels) {
      CUfunction fn = nullptr;
      KILN_RETURN_IF_ERROR(
          check(api.moduleGetFunction(&fn, kernelsModule, k->symbol.c_str()),
                "finding kernel " + k->symbol));
      generatedKernels.push_back(fn);
    }
  }
  KILN_RETURN_IF_ERROR(
      check(api.moduleLoadData(&ownModule, kKilnRuntimeKernelsFatbin),
            "loading the runtime's attention kernels"));
  for (int i = 0; i < kOwnKernelCount; ++i) {
    const char *name = ownKernelName(static_cast<OwnKernel>(i));
    KILN_RETURN_IF_ERROR(
        check(api.moduleGetFunction(&ownKernels[i], ownModule, name),
              absl::StrCat("finding ", name)));
  }
  gemmOverride = options.gemm;
  if (!gemmOverride) {
    KILN_ASSIGN_OR_RETURN(auto loadedBlas,
                          CudaBlas::load(*driver, stream, options.cublasLt));
    blas = std::move(loadedBlas);
  }

  // Weights: one allocation, uploaded once.
  StageNeeds needs = stageNeeds(artifact, stage);
  stageCaches = std::move(needs.caches);
  KILN_ASSIGN_OR_RETURN(auto host,
                        HostWeights::load(artifact, options.weightsDir, "CUDA",
                                          {}, options.rank, needs.weights));
  // A quantized weight's scales (and W8A8's 1 / smoothing factors) follow
  // its integers.
  auto scaleBytes = [](const QuantizedMatrix &q) {
    return q.format.scaleCount() * static_cast<int64_t>(sizeof(float));
  };
  auto invSmoothBytes = [](const QuantizedMatrix &q) {
    return q.invSmooth ? q.format.cols * static_cast<int64_t>(sizeof(float))
                       : 0;
  };
  size_t total = 0;
  std::vector<size_t> offsets;
  for (size_t i = 0; i < host->size(); ++i) {
    offsets.push_back(total);
    total += alignUp(host->bytes(i));
    if (const QuantizedMatrix *q = host->quantized(i))
      total += alignUp(scaleBytes(*q)) + alignUp(invSmoothBytes(*q));
  }
  quantWeights.assign(host->size(), {});
  if (total > 0) {
    KILN_RETURN_IF_ERROR(
        check(api.memAlloc(&weights, total),
              absl::StrCat("allocating ", total, " bytes of weights")));
    for (size_t i = 0; i < host->size(); ++i) {
      weightPtrs.push_back(weights + offsets[i]);
      if (host->bytes(i) == 0) // another pipeline stage's
        continue;
      KILN_RETURN_IF_ERROR(
          check(api.memcpyHtoDAsync(weightPtrs.back(), host->data(i),
                                    host->bytes(i), stream),
                "uploading weight " + manifest.weights[i]->name));
      const QuantizedMatrix *q = host->quantized(i);
      if (!q)
        continue;
      DeviceQuantWeight &d = quantWeights[i];
      d.format = q->format;
      d.actBits = q->actBits;
      d.values = weightPtrs.back();
      d.scales = d.values + alignUp(host->bytes(i));
      KILN_RETURN_IF_ERROR(check(
          api.memcpyHtoDAsync(d.scales, q->scales, scaleBytes(*q), stream),
          "uploading the scales of weight " + manifest.weights[i]->name));
      if (q->invSmooth) {
        d.invSmooth = d.scales + alignUp(scaleBytes(*q));
        KILN_RETURN_IF_ERROR(
            check(api.memcpyHtoDAsync(d.invSmooth, q->invSmooth,
                                      invSmoothBytes(*q), stream),
                  "uploading the smoothing factors of weight " +
                      manifest.weights[i]->name));
      }
    }
    KILN_RETURN_IF_ERROR(
        check(api.streamSynchronize(stream), "uploading the weights"));
  }

  sparseWeights.assign(host->size(), -1);
  if (options.cusparseLt != "none") {
    auto loaded = CudaSparse::load(*driver, stream, options.cusparseLt);
    if (loaded.ok())
      sparse = std::move(*loaded);
    else if (!options.cusparseLt.empty()) // asked for by name
      return loaded.status();
  }
  if (sparse)
    KILN_RETURN_IF_ERROR(compressSparseWeights(*host));

  for (const auto &e : manifest.entries)
    arenaBytes = std::max(arenaBytes, e->arena_bytes);
  if (arenaBytes > 0)
    KILN_RETURN_IF_ERROR(
        check(api.memAlloc(&arena, arenaBytes),
              absl::StrCat("allocating the ", arenaBytes, "-byte arena")));
  return absl::OkStatus();
}

absl::Status
CudaExecutor::DeviceState::compressSparseWeights(const HostWeights &host) {
  // How each slot is read as a gemm's B: stored [n, k] (1) or [k, n] (2);
  // -1 both ways (one compressed form serves one), 0 never.
  std::vector<int> read(host.size(), 0);
  for (const auto &e : manifest.entries)
    for (const auto &step : e->steps) {
      if (step->kind != StepKind::Gemm || step->operands.size() < 2)
        continue;
      const BufferT &b = *step->operands[1];
      if (b.kind != BufferKind::Weight ||
          static_cast<size_t>(b.index) >= host.size())
        continue;
      const int way = step->transpose_rhs ? 1 : 2;
      int &r = read[b.index];
      r = r == 0 || r == way ? way : -1;
    }
  for (size_t slot = 0; slot < host.size(); ++slot) {
    const WeightT &w = host.weight(slot);
    const bool bf16 = w.dtype == DType::BF16;
    if (read[slot] <= 0 || (!bf16 && w.dtype != DType::F16) ||
        w.shape.size() != 2 || host.bytes(slot) == 0)
      continue;
    const bool outIn = read[slot] == 1;
    const int64_t n = outIn ? w.shape[0] : w.shape[1];
    const int64_t k = outIn ? w.shape[1] : w.shape[0];
    if (k % 4 != 0 || n == 0)
      continue;
    // Every 4 input features of an output channel: at most 2 non-zeros
    // (either sign of zero is zero).
    const auto *v = reinterpret_cast<const uint16_t *>(host.data(slot));
    bool twoFour = true;
    for (int64_t c = 0; c < n && twoFour; ++c)
      for (int64_t f = 0; f < k && twoFour; f += 4) {
        int kept = 0;
        for (int64_t j = f; j < f + 4; ++j)
          kept += (v[outIn ? c * k + j : j * n + c] & 0x7fff) != 0;
        twoFour = kept <= 2;
      }
    if (!twoFour)
      continue;
    auto index = sparse->compress(weightPtrs[slot], n, k, outIn, bf16,
                                  "compressing 2:4 weight " + w.name);
    if (!index.ok()) { // a shape or type this cuSPARSELt does not take
      ++stats.sparseRefused;
      continue;
    }
    sparseWeights[slot] = *index;
    ++stats.sparseWeights;
  }
  return absl::OkStatus();
}

absl::StatusOr<CudaExecutor::DeviceState::CallPlan *>
CudaExecutor::DeviceState::planFor(
    const EntryT &entry, const CallBinding &binding,
    const std::function<CUdeviceptr(const BufferT &)> &pointer) {
  auto key = std::make_pair(entry.name, binding.symbols());
  auto found = plans.find(key);
  if (found != plans.end())
    return &found->second;
  if (plans.size() >= kMaxPlans)
    dropPlans();
  CallPlan plan;
  plan.tableAt.assign(entry.steps.size(), 0);
  plan.work.assign(entry.steps.size(), 0);
  plan.rows.assign(entry.steps.size(), 1);
  for (size_t i = 0; i < entry.steps.size(); ++i) {
    const StepT &step = *entry.steps[i];
    if (step.kind != StepKind::Kernel)
      continue;
    plan.tableAt[i] = plan.host.size() * 8;
    // Operands then results; the launch covers the first result (every
    // result of a kernel has one shape).
    const size_t operands = step.operands.size();
    size_t count = operands + step.results.size();
    auto buffer = [&](size_t k) -> const BufferT & {
      return k < operands ? *step.operands[k] : *step.results[k - operands];
    };
    for (size_t k = 0; k < count; ++k)
      plan.host.push_back(static_cast<int64_t>(pointer(buffer(k))));
    std::vector<int64_t> dims;
    for (size_t k = 0; k < count; ++k) {
      KILN_ASSIGN_OR_RETURN(auto d, binding.dimsOf(buffer(k)));
      plan.host.insert(plan.host.end(), d.begin(), d.end());
      if (k == operands)
        dims = std::move(d);
    }
    plan.work[i] = product(dims);
    if (!dims.empty())
      plan.rows[i] = dims[0];
  }
  for (const auto &step : entry.steps) {
    if (step->kind == StepKind::Attention) {
      KILN_ASSIGN_OR_RETURN(auto a, planAttention(*step, binding));
      plan.workspaceBytes = std::max(
          plan.workspaceBytes, attentionWorkspaceBytes(a, multiprocessors));
      if (a.kCache >= 0) {
        const BufferT &pos = *step->operands[a.positions];
        int caller = pos.kind == BufferKind::Argument
                         ? binding.callerArgument(pos.index)
                         : -1;
        if (caller >= 0)
          plan.cachePositions.push_back(
              {step.get(), a, caller, pos.dtype == DType::I64});
      }
    }
    if (step->kind == StepKind::Gemm) {
      KILN_ASSIGN_OR_RETURN(auto g, planGemm(*step, binding));
      if (g.halfPrecision())
        plan.workspaceBytes =
            std::max(plan.workspaceBytes, 2 * g.batch * g.m * g.k);
      if (sparseB(*step, g) >= 0) // A narrowed, then cuSPARSELt's D
        plan.workspaceBytes = std::max<int64_t>(
            plan.workspaceBytes,
            alignUp(2 * g.batch * g.m * g.k) + 2 * g.batch * g.m * g.n);
      if (const DeviceQuantWeight *q = quantizedB(*step))
        plan.workspaceBytes = std::max(
            plan.workspaceBytes, quantGemmWorkspaceBytes(*q, g.batch * g.m));
    }
  }
  // Before this plan joins the others: growing the workspace drops them.
  KILN_RETURN_IF_ERROR(reserveWorkspace(plan.workspaceBytes));
  const CudaApi &api = driver->api();
  if (!plan.host.empty()) {
    size_t bytes = plan.host.size() * 8;
    KILN_RETURN_IF_ERROR(check(
        api.memAlloc(&plan.table, bytes),
        absl::StrCat("allocating a ", bytes, "-byte kernel argument table")));
    if (absl::Status s = check(
            api.memcpyHtoDAsync(plan.table, plan.host.data(), bytes, stream),
            "uploading the kernel argument table");
        !s.ok()) {
      api.memFree(plan.table);
      return s;
    }
  }
  return &plans.emplace(key, std::move(plan)).first->second;
}

absl::Status CudaExecutor::DeviceState::runGemm(const GemmPlan &g,
                                                const GemmBuffers &buffers,
                                                const std::string &where) {
  std::string what = absl::StrCat("gemm ", g.batch, "x[", g.m, ",", g.k, "]x[",
                                  g.k, ",", g.n, "] at ", where);
  auto gemm = [&](const GemmPlan &plan, const GemmBuffers &b) {
    return gemmOverride ? gemmOverride(plan, b) : blas->gemm(plan, b, what);
  };
  absl::Status s = gemm(g, buffers);
  if (!absl::IsUnimplemented(s) || !g.hasEpilogue())
    return s;
  // cuBLASLt cannot fuse this epilogue: the plain product, then the
  // epilogue as a kernel.
  GemmPlan plain = g;
  plain.bias = plain.residual = -1;
  plain.activation = Activation::None;
  GemmBuffers product{buffers.a, buffers.b, buffers.c};
  KILN_RETURN_IF_ERROR(gemm(plain, product));
  KernelLaunch l =
      gemmEpilogueLaunch(buffers.c, buffers.bias, buffers.residual,
                         g.batch * g.m, g.n, static_cast<int>(g.activation));
  return launchOwn(l, where);
}

namespace {
/// A gemm step's epilogue with its buffers' device addresses.
DeviceEpilogue
epilogueOf(const StepT &step, const GemmPlan &g,
           const std::function<CUdeviceptr(const BufferT &)> &pointer) {
  DeviceEpilogue epilogue;
  if (g.bias >= 0)
    epilogue.bias = pointer(*step.operands[g.bias]);
  if (g.residual >= 0)
    epilogue.residual = pointer(*step.operands[g.residual]);
  epilogue.activation = static_cast<int>(g.activation);
  return epilogue;
}
} // namespace

/// A gemm on a quantized weight: W's stored rows are C's columns (its
/// format has g.n rows and g.k columns, as HostWeights sized it). B is a
/// 2-D weight and validateSteps refuses a transposed A, so the batch always
/// folds into A's rows: one product of g.batch * g.m rows. W8A8
/// quantizes A's rows and multiplies in int8; weight-only int8/int4 reads
/// the stored bytes directly for a few rows of A, and for more dequantizes
/// W into the workspace and runs the f32 gemm (epilogue fused) on it.
absl::Status CudaExecutor::DeviceState::enqueueQuantizedGemm(
    const StepT &step, const GemmPlan &g, const DeviceQuantWeight &w,
    const std::function<CUdeviceptr(const BufferT &)> &pointer,
    const std::string &where) {
  const DeviceEpilogue epilogue = epilogueOf(step, g, pointer);
  const CUdeviceptr a = pointer(*step.operands[0]);
  const CUdeviceptr c = pointer(*step.results[0]);
  const int64_t m = g.batch * g.m;
  if (m == 0)
    return absl::OkStatus();
  if (w.actBits == 0 && m > kQuantGemvRows) {
    KernelLaunch dequantize = dequantizeLaunch(w, workspace);
    KILN_RETURN_IF_ERROR(launchOwn(dequantize, where));
    GemmPlan f32 = g;
    f32.transB = true; // W as [n, k]
    f32.ldb = g.k;
    f32.shared = true;
    f32.bType = DType::F32;
    return runGemm(f32, {a, workspace, c, epilogue.bias, epilogue.residual},
                   where);
  }
  if (w.actBits == 8) {
    // A's rows to int8, then the product: past a few rows on cuBLASLt's
    // int8 tensor cores (the int32 sums into C's buffer, then scaled there
    // with the epilogue), else, or where cuBLASLt has no algorithm, on the
    // own kernel. Both give the same bits.
    std::vector<KernelLaunch> own =
        w8a8Launches(w, c, a, m, g.lda, workspace, epilogue);
    KILN_RETURN_IF_ERROR(launchOwn(own[0], where));
    if (blas && m > kQuantGemvRows) {
      absl::Status product =
          blas->gemmInt8(m, w.format.rows, w.format.paddedCols(), workspace,
                         w.values, c, where);
      if (product.ok()) {
        ++stats.int8TensorCoreGemms;
        KernelLaunch scale = int8EpilogueLaunch(w, c, m, workspace, epilogue);
        return launchOwn(scale, where);
      }
      if (!absl::IsUnimplemented(product))
        return product;
    }
    ++stats.int8KernelGemms;
    return launchOwn(own[1], where);
  }
  KernelLaunch l = quantGemvLaunch(w, c, a, m, g.lda, epilogue);
  return launchOwn(l, where);
}

absl::Status CudaExecutor::DeviceState::reserveWorkspace(int64_t bytes) {
  if (bytes <= workspaceBytes)
    return absl::OkStatus();
  dropPlans(); // their graphs hold the old workspace
  const CudaApi &api = driver->api();
  if (workspace)
    api.memFree(workspace);
  workspace = 0;
  workspaceBytes = 0;
  KILN_RETURN_IF_ERROR(check(
      api.memAlloc(&workspace, bytes),
      absl::StrCat("allocating the ", bytes, "-byte attention workspace")));
  workspaceBytes = bytes;
  return absl::OkStatus();
}

absl::Status CudaExecutor::DeviceState::enqueue(
    const EntryT &entry, const CallBinding &binding, const CallPlan &plan,
    const std::function<CUdeviceptr(const BufferT &)> &pointer) {
  if (profiling)
    while (stepEvents.size() < entry.steps.size() + 1) {
      CUevent e = nullptr;
      KILN_RETURN_IF_ERROR(
          check(driver->api().eventCreate(&e, 0), "cuEventCreate"));
      stepEvents.push_back(e);
    }
  for (size_t i = 0; i < entry.steps.size(); ++i) {
    const StepT &step = *entry.steps[i];
    if (!runsOnStage(step, stage, stages))
      continue;
    std::string where =
        absl::StrCat("step ", i, " of ", entry.name, " (", step.location, ")");
    if (profiling)
      KILN_RETURN_IF_ERROR(check(
          driver->api().eventRecord(stepEvents[i], stream), "cuEventRecord"));
    switch (step.kind) {
    case StepKind::Kernel: {
      const KernelT &k = *manifest.kernels[step.kernel];
      CUdeviceptr buffers = plan.table + plan.tableAt[i];
      CUdeviceptr shapes =
          buffers + 8 * (step.operands.size() + step.results.size());
      // A splittable kernel gets all its rows; the others [0, 1). The
      // kernels are grid-stride loops, so any grid is correct.
      int64_t begin = 0;
      int64_t end = k.splittable ? plan.rows[i] : 1;
      void *params[] = {&buffers, &shapes, &begin, &end};
      unsigned blocks = static_cast<unsigned>(std::clamp<int64_t>(
          (plan.work[i] + kThreads - 1) / kThreads, 1, kMaxBlocks));
      KILN_RETURN_IF_ERROR(launchGrid(generatedKernels[step.kernel], blocks, 1,
                                      1, 0, params, k.name + " at " + where));
      break;
    }
    case StepKind::Gemm: {
      KILN_ASSIGN_OR_RETURN(auto g, planGemm(step, binding));
      if (const DeviceQuantWeight *q = quantizedB(step)) {
        KILN_RETURN_IF_ERROR(enqueueQuantizedGemm(step, g, *q, pointer, where));
        break;
      }
      if (int weight = sparseB(step, g); weight >= 0) {
        // A narrowed, the product on cuSPARSELt in the weight's type, then
        // widened to C with the epilogue.
        const int64_t rows = g.batch * g.m;
        const bool bf16 = g.bType == DType::BF16;
        KernelLaunch narrow = narrowLaunch(
            workspace, pointer(*step.operands[0]), rows * g.k, bf16);
        KILN_RETURN_IF_ERROR(launchOwn(narrow, where));
        const CUdeviceptr d = workspace + alignUp(2 * rows * g.k);
        absl::Status product = sparse->gemm(weight, rows, workspace, d, where);
        if (product.ok()) {
          KernelLaunch widen = widenEpilogueLaunch(pointer(*step.results[0]), d,
                                                   epilogueOf(step, g, pointer),
                                                   rows, g.n, bf16);
          KILN_RETURN_IF_ERROR(launchOwn(widen, where));
          ++stats.sparseGemms;
          break;
        }
        if (!absl::IsUnimplemented(product))
          return product;
        // A shape cuSPARSELt would not plan: the dense weight on cuBLASLt.
      }
      GemmBuffers buffers;
      buffers.a = pointer(*step.operands[0]);
      if (g.halfPrecision()) {
        // cuBLASLt multiplies bf16 by bf16 (f16 by f16): A is narrowed
        // into the workspace first.
        KernelLaunch l = narrowLaunch(workspace, buffers.a, g.batch * g.m * g.k,
                                      g.bType == DType::BF16);
        KILN_RETURN_IF_ERROR(launchOwn(l, where));
        buffers.a = workspace;
      }
      buffers.b = pointer(*step.operands[1]);
      buffers.c = pointer(*step.results[0]);
      if (g.bias >= 0)
        buffers.bias = pointer(*step.operands[g.bias]);
      if (g.residual >= 0)
        buffers.residual = pointer(*step.operands[g.residual]);
      KILN_RETURN_IF_ERROR(runGemm(g, buffers, where));
      break;
    }
    case StepKind::Norm: {
      KILN_ASSIGN_OR_RETURN(auto plan, planNorm(step, binding));
      if (plan.rows == 0)
        break;
      KILN_ASSIGN_OR_RETURN(
          auto l,
          normLaunch(pointer(*step.results[0]), pointer(*step.operands[0]),
                     pointer(*step.operands[1]),
                     plan.bias ? pointer(*step.operands[2]) : 0, plan, where));
      KILN_RETURN_IF_ERROR(launchOwn(l, where));
      break;
    }
    case StepKind::Attention: {
      KILN_ASSIGN_OR_RETURN(auto plan, planAttention(step, binding));
      DeviceAttention d;
      d.plan = plan;
      const AttentionPlan &p = d.plan;
      d.q = pointer(*step.operands[0]);
      d.k = pointer(*step.operands[1]);
      d.v = pointer(*step.operands[2]);
      d.out = pointer(*step.results[0]);
      if (p.kCache >= 0) {
        const BufferT &pos = *step.operands[p.positions];
        d.positions = pointer(pos);
        d.widePositions = pos.dtype == DType::I64;
        for (auto [cache, rows] :
             {std::pair{pointer(*step.operands[p.kCache]), d.k},
              std::pair{pointer(*step.operands[p.vCache]), d.v}}) {
          KernelLaunch l =
              cacheWriteLaunch(cache, rows, d.positions, d.widePositions,
                               p.batch, p.sq, p.cacheLength, p.width);
          KILN_RETURN_IF_ERROR(launchOwn(l, where));
        }
        d.k = pointer(*step.operands[p.kCache]);
        d.v = pointer(*step.operands[p.vCache]);
      }
      if (p.mask >= 0) {
        d.mask = pointer(*step.operands[p.mask]);
        d.maskKind = maskKind(step.operands[p.mask]->dtype);
        if (d.maskKind < 0)
          return absl::InvalidArgumentError(
              where + ": key_mask has an unsupported element type");
      }
      if (p.bias >= 0)
        d.bias = pointer(*step.operands[p.bias]);
      KILN_ASSIGN_OR_RETURN(auto launches, attentionLaunches(d, multiprocessors,
                                                             workspace, where));
      for (KernelLaunch &l : launches)
        KILN_RETURN_IF_ERROR(launchOwn(l, where));
      break;
    }
    case StepKind::Collective:
      KILN_RETURN_IF_ERROR(collective(step, binding, pointer, where));
      break;
    }
    // A fault inside a kernel surfaces at the next synchronization; with
    // syncSteps that is right here, named by its step.
    if (syncSteps)
      KILN_RETURN_IF_ERROR(
          check(driver->api().streamSynchronize(stream), "running " + where));
  }
  if (profiling)
    KILN_RETURN_IF_ERROR(
        check(driver->api().eventRecord(stepEvents[entry.steps.size()], stream),
              "cuEventRecord"));
  return absl::OkStatus();
}

absl::Status CudaExecutor::DeviceState::accountSteps(const EntryT &entry) {
  const CudaApi &api = driver->api();
  for (size_t i = 0; i < entry.steps.size(); ++i) {
    const StepT &step = *entry.steps[i];
    float ms = 0;
    KILN_RETURN_IF_ERROR(
        check(api.eventElapsedTime(&ms, stepEvents[i], stepEvents[i + 1]),
              "cuEventElapsedTime"));
    profile.add(stepName(manifest, step), ms / 1e3);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>>
CudaExecutor::DeviceState::run(const EntryT &entry,
                               const std::vector<Tensor> &arguments) {
  const CudaApi &api = driver->api();
  KILN_RETURN_IF_ERROR(check(api.ctxSetCurrent(context), "cuCtxSetCurrent"));
  auto binding = CallBinding::bind(
      artifact, entry, arguments,
      [&](const std::string &name) -> const std::vector<int64_t> * {
        auto it = caches.find(name);
        return it == caches.end() ? nullptr : &it->second.shape;
      },
      arenaPlans);
  if (!binding.ok())
    return binding.status();
  // A call past the compiled maxima may need a larger arena.
  KILN_RETURN_IF_ERROR(grow(
      arena, arenaBytes, binding->arenaBytes(),
      absl::StrCat("allocating the ", binding->arenaBytes(), "-byte arena")));

  // The caller's tensors go to device buffers kept between calls.
  inputs.resize(std::max(inputs.size(), arguments.size()), 0);
  inputBytes.resize(inputs.size(), 0);
  for (size_t i = 0; i < arguments.size(); ++i) {
    size_t bytes = std::max<size_t>(arguments[i].bytes.size(), 1);
    if (bytes > inputBytes[i]) {
      int64_t have = static_cast<int64_t>(inputBytes[i]);
      KILN_RETURN_IF_ERROR(grow(
          inputs[i], have, alignUp(bytes),
          absl::StrCat("allocating ", alignUp(bytes), " bytes for input ", i)));
      inputBytes[i] = static_cast<size_t>(have);
    }
    if (!arguments[i].bytes.empty())
      KILN_RETURN_IF_ERROR(
          check(api.memcpyHtoDAsync(inputs[i], arguments[i].bytes.data(),
                                    arguments[i].bytes.size(), stream),
                "uploading argument " + std::to_string(i)));
  }
  std::function<CUdeviceptr(const BufferT &)> pointer =
      [&](const BufferT &b) -> CUdeviceptr {
    switch (b.kind) {
    case BufferKind::Arena:
      return arena + binding->arenaOffset(b);
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

  KILN_ASSIGN_OR_RETURN(auto plan, planFor(entry, *binding, pointer));
  CallPlan &p = *plan;
  // Positions given by the caller are checked here, where a cache overflow
  // can still be reported (the kernels would skip the rows).
  for (const CallPlan::CachePositions &c : p.cachePositions)
    if (auto starts = cacheRowStarts(*c.step, c.attention,
                                     arguments[c.caller].bytes.data(), c.wide);
        !starts.ok())
      return starts.status();
  ++p.calls;
  // Outside any capture: the events time this call, not the graph.
  KILN_RETURN_IF_ERROR(
      check(api.eventRecord(stepsBegin, stream), "cuEventRecord"));
  // The first call of a shape runs step by step, so that a failure names
  // its step; from the second on the steps are captured once as a CUDA
  // graph and replayed, one launch instead of hundreds.
  if (useGraphs && !p.graph && p.calls >= 2) {
    KILN_RETURN_IF_ERROR(
        check(api.streamBeginCapture(stream, kCaptureThreadLocal),
              "beginning a CUDA graph capture"));
    absl::Status enqueued = enqueue(entry, *binding, p, pointer);
    CUgraph graph = nullptr;
    absl::Status ended = check(api.streamEndCapture(stream, &graph),
                               "capturing " + entry.name + " as a CUDA graph");
    if (enqueued.ok() && ended.ok())
      ended = check(api.graphInstantiate(&p.graph, graph, 0),
                    "instantiating the CUDA graph of " + entry.name);
    if (graph)
      api.graphDestroy(graph);
    if (!enqueued.ok())
      return enqueued;
    if (!ended.ok())
      return ended;
    ++stats.graphsCaptured;
  }
  if (p.graph) {
    KILN_RETURN_IF_ERROR(check(api.graphLaunch(p.graph, stream),
                               "replaying the CUDA graph of " + entry.name));
    ++stats.graphReplays;
  } else if (absl::Status s = enqueue(entry, *binding, p, pointer); !s.ok()) {
    return s;
  }
  KILN_RETURN_IF_ERROR(
      check(api.eventRecord(stepsEnd, stream), "cuEventRecord"));

  std::vector<NamedTensor> outputs;
  for (const auto &r : entry.results) {
    if (isCache(r->role) || stage != stages - 1) // the last stage's
      continue;
    KILN_ASSIGN_OR_RETURN(auto dims, binding->dimsOf(*r->buffer));
    Tensor t = Tensor::zeros(r->buffer->dtype, dims);
    if (!t.bytes.empty())
      KILN_RETURN_IF_ERROR(
          check(api.memcpyDtoHAsync(t.bytes.data(), pointer(*r->buffer),
                                    t.bytes.size(), stream),
                "downloading " + r->name));
    outputs.push_back({r->name, std::move(t)});
  }
  KILN_RETURN_IF_ERROR(check(api.streamSynchronize(stream),
                             "running " + entry.name + " on the GPU"));
  float ms = 0;
  KILN_RETURN_IF_ERROR(check(api.eventElapsedTime(&ms, stepsBegin, stepsEnd),
                             "cuEventElapsedTime"));
  deviceSeconds += ms / 1e3;
  if (profiling)
    KILN_RETURN_IF_ERROR(accountSteps(entry));
  return outputs;
}

CudaExecutor::CudaExecutor(std::unique_ptr<DeviceState> impl)
    : state_(std::move(impl)) {}
CudaExecutor::~CudaExecutor() = default;

absl::StatusOr<std::unique_ptr<CudaExecutor>>
CudaExecutor::create(const Artifact &artifact, const CudaOptions &options) {
  KILN_RETURN_IF_ERROR(checkArtifact(artifact, "cuda", "CUDA"));
  auto impl = std::make_unique<DeviceState>(artifact);
  if (options.driver) {
    impl->driver = options.driver;
  } else {
    KILN_ASSIGN_OR_RETURN(auto driver, CudaDriver::load());
    impl->driver = std::move(driver);
  }
  KILN_ASSIGN_OR_RETURN(auto devices, impl->driver->devices());
  if (options.device < 0 || options.device >= static_cast<int>(devices.size()))
    return absl::InvalidArgumentError(
        absl::StrCat("no CUDA device ", options.device));
  const CudaDevice &d = devices[options.device];
  impl->deviceName = absl::StrCat(d.name, " (sm_", d.major, d.minor, ")");
  if (d.major < 9)
    return absl::FailedPreconditionError(
        absl::StrCat(impl->deviceName, ": the kernels are compiled for sm_90"));
  impl->multiprocessors = std::max(d.multiprocessors, 1);
  KILN_RETURN_IF_ERROR(impl->load(options));
  return std::unique_ptr<CudaExecutor>(new CudaExecutor(std::move(impl)));
}

absl::Status CudaExecutor::resetCaches(int64_t batch, int64_t length) {
  DeviceState &state = *state_;
  const CudaApi &api = state.driver->api();
  KILN_RETURN_IF_ERROR(
      state.check(api.ctxSetCurrent(state.context), "cuCtxSetCurrent"));
  KILN_RETURN_IF_ERROR(checkCacheShape(state.artifact, batch, length));
  KILN_ASSIGN_OR_RETURN(auto caches, cacheArguments(state.artifact));
  for (const CacheArgument &c : caches) {
    const std::string &name = c.name;
    const int64_t width = c.width;
    DeviceState::Cache &cache = state.caches[name];
    std::vector<int64_t> shape = {batch, length, width};
    int64_t bytes = checkedBytes(shape, 4);
    if (bytes < 0)
      return absl::InvalidArgumentError("impossible cache shape");
    // Another pipeline stage's cache: its shape binds the symbols, its
    // bytes live on that stage.
    if (state.stages > 1 && !state.stageCaches.count(name)) {
      cache.shape = shape;
      continue;
    }
    if (cache.shape != shape) {
      state.dropPlans(); // they hold the old address
      if (cache.data)
        api.memFree(cache.data);
      cache.data = 0;
      cache.shape.clear(); // until the new one is allocated
      KILN_RETURN_IF_ERROR(state.check(
          api.memAlloc(&cache.data, std::max<int64_t>(bytes, 1)),
          absl::StrCat("allocating the ", bytes, "-byte kv cache ", c.name,
                       " (batch ", batch, ", ", length, " positions)")));
      cache.shape = shape;
    }
    KILN_RETURN_IF_ERROR(
        state.check(api.memsetD8Async(cache.data, 0, bytes, state.stream),
                    "clearing the kv cache"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>>
CudaExecutor::run(const std::string &entry,
                  const std::vector<Tensor> &arguments) {
  KILN_ASSIGN_OR_RETURN(auto found, findEntry(state_->artifact, entry));
  return state_->run(*found, arguments);
}

const std::string &CudaExecutor::deviceName() const {
  return state_->deviceName;
}
int64_t CudaExecutor::arenaBytes() const { return state_->arenaBytes; }
const CudaStats &CudaExecutor::stats() const { return state_->stats; }
double CudaExecutor::deviceSeconds() const { return state_->deviceSeconds; }
std::vector<StepProfile> CudaExecutor::profile() const {
  return state_->profile.byTime();
}

std::string CudaExecutor::gemmLibrary() const {
  return state_->blas ? state_->blas->libraryPath() : "a test's gemm function";
}

} // namespace kiln::rt
