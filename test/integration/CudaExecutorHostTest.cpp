//===- CudaExecutorHostTest.cpp - the CUDA executor on a fake device ------===//
//
// Runs the CUDA executor's host logic without a GPU: a fake driver whose
// "device memory" is host memory, whose module of generated kernels is the
// same step list compiled for the CPU through the CUDA lowering (GPU
// threads emulated), and whose module of runtime kernels is
// runtime/cuda/Kernels.cu itself on the CPU emulator
// (test/support/CudaEmulator.h). Stream capture records the launches and
// gemms with their parameter values and graphs replay them, as the driver
// does; an allocation or copy during a capture is refused. Gemm steps go
// through a plain loop nest, or through the real runtime/CudaBlas driving a
// fake cuBLASLt (test/support/FakeCublasLt.h) that computes what cuBLASLt
// documents for the descriptors, layouts, epilogues and batch strides it
// is given and refuses what cuBLASLt would refuse. Every fixture family
// must then match transformers: this checks the executor's uploads,
// per-call argument tables, pointer mapping, launch parameters, caches,
// CUDA graph reuse and downloads, the runtime's kernels, and what is asked
// of cuBLASLt. What it cannot check is the generated fatbin and cuBLASLt's
// own kernels.
//
//===----------------------------------------------------------------------===//

#include "artifact/Artifact.h"
#include "runtime/CpuExecutor.h"
#include "runtime/CudaBlas.h"
#include "runtime/CudaDriver.h"
#include "runtime/CudaExecutor.h"
#include "runtime/CudaLaunch.h"
#include "runtime/DimExpr.h"
#include "runtime/Driver.h"
#include "runtime/Ranks.h"
#include "runtime/StepPlan.h"
#include "support/Files.h"
#include "support/Half.h"
#include "support/Npy.h"
#include "test/support/CompiledFixture.h"
#include "test/support/EmulatedKernels.h"
#include "test/support/FakeCublasLt.h"
#include "test/support/FakeCusparseLt.h"
#include "test/support/Golden.h"
#include "test/support/ReferenceGemm.h"

#include <cublasLt.h> // the epilogue values the fake records
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <sys/mman.h>
#include <unistd.h>

extern "C" const unsigned char kKilnRuntimeKernelsFatbin[];

namespace {

namespace fs = std::filesystem;
namespace rt = kiln::rt;
using rt::CUdeviceptr;

void *kernelLibrary = nullptr; // the CPU-emulated kernels of the fixture
const auto kOwnModule = reinterpret_cast<rt::CUmodule>(1);
const auto kKernelsModule = reinterpret_cast<rt::CUmodule>(2);

template <typename T> T param(void **params, int i) {
  return *static_cast<T *>(params[i]);
}

/// Stream capture: while a capture is open, work is recorded (with its
/// parameter values, as the driver copies them) instead of run; a graph
/// replays the record.
using Graph = std::vector<std::function<int()>>;
Graph *capturing = nullptr;
constexpr int kCaptureUnsupported =
    900; // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED

/// Device memory faults: the allocation that `allocationsBeforeFailure`
/// reaches (counting down, -1: never) fails with CUDA_ERROR_OUT_OF_MEMORY;
/// `liveAllocations` counts what is not freed.
int64_t allocationsBeforeFailure = -1;
int64_t liveAllocations = 0;
constexpr int kOutOfMemory = 2;

/// Whether the fake cuBLASLt fuses epilogues; without, the executor must
/// run the plain product and then kiln_gemm_epilogue.
bool fusesEpilogues = true;
int64_t epilogueLaunches = 0;
/// Device-to-device copies (collectives among ranks sharing the device).
std::atomic<int64_t> deviceCopies{0};

/// One device runs one kernel at a time here: ranks sharing it (threads of
/// the test) take turns, as the emulator's thread state is one per process.
std::mutex deviceTurn;

int runKernel(rt::CUfunction fn, const unsigned grid[3], unsigned shared,
              void **p) {
  std::lock_guard<std::mutex> turn(deviceTurn);
  if (kiln::test::isEmulatedKernel(fn)) {
    const auto *k = reinterpret_cast<const kiln::test::EmulatedKernel *>(fn);
    epilogueLaunches += k->name == "kiln_gemm_epilogue";
    unsigned block[3] = {rt::kOwnKernelThreads, 1, 1};
    std::string error = k->launch(grid, block, shared, p);
    EXPECT_EQ(error, "") << k->name;
    return error.empty() ? 0 : 719; // CUDA_ERROR_LAUNCH_FAILED
  }
  using Kernel = void (*)(void **, const int64_t *, int64_t, int64_t);
  reinterpret_cast<Kernel>(fn)(
      reinterpret_cast<void **>(param<CUdeviceptr>(p, 0)),
      reinterpret_cast<const int64_t *>(param<CUdeviceptr>(p, 1)),
      param<int64_t>(p, 2), param<int64_t>(p, 3));
  return 0;
}

int launch(rt::CUfunction fn, unsigned gx, unsigned gy, unsigned gz,
           unsigned bx, unsigned, unsigned, unsigned shared, rt::CUstream,
           void **p, void **) {
  EXPECT_EQ(bx, rt::kOwnKernelThreads);
  unsigned grid[3] = {gx, gy, gz};
  if (!capturing)
    return runKernel(fn, grid, shared, p);
  // Every parameter of these kernels is passed in an 8-byte slot.
  size_t arity =
      kiln::test::isEmulatedKernel(fn)
          ? reinterpret_cast<const kiln::test::EmulatedKernel *>(fn)->arity
          : 4;
  std::vector<uint64_t> values(arity);
  for (size_t i = 0; i < arity; ++i)
    std::memcpy(&values[i], p[i], 8);
  capturing->push_back([=]() mutable {
    std::vector<void *> params;
    for (uint64_t &v : values)
      params.push_back(&v);
    unsigned g[3] = {grid[0], grid[1], grid[2]};
    return runKernel(fn, g, shared, params.data());
  });
  return 0;
}

rt::CudaApi fakeApi() {
  rt::CudaApi api;
  api.devicePrimaryCtxRetain = [](rt::CUcontext *c, int) {
    *c = reinterpret_cast<rt::CUcontext>(1);
    return 0;
  };
  api.devicePrimaryCtxRelease = [](int) { return 0; };
  api.ctxSetCurrent = [](rt::CUcontext) { return 0; };
  api.streamCreate = [](rt::CUstream *s, unsigned) {
    *s = reinterpret_cast<rt::CUstream>(1);
    return 0;
  };
  api.streamDestroy = [](rt::CUstream) { return 0; };
  api.streamSynchronize = [](rt::CUstream) { return 0; };
  api.memAlloc = [](CUdeviceptr *p, size_t n) {
    if (capturing)
      return kCaptureUnsupported;
    if (allocationsBeforeFailure >= 0 && allocationsBeforeFailure-- == 0)
      return kOutOfMemory;
    void *m = std::aligned_alloc(256, (n + 255) / 256 * 256);
    if (!m)
      return kOutOfMemory;
    // Poisoned: an output the executor never writes shows as NaN.
    std::memset(m, 0xff, (n + 255) / 256 * 256);
    *p = reinterpret_cast<CUdeviceptr>(m);
    ++liveAllocations;
    return 0;
  };
  api.memFree = [](CUdeviceptr p) {
    if (p)
      --liveAllocations;
    std::free(reinterpret_cast<void *>(p));
    return 0;
  };
  api.memcpyHtoDAsync = [](CUdeviceptr d, const void *s, size_t n,
                           rt::CUstream) {
    if (capturing) // the executor uploads before it captures
      return kCaptureUnsupported;
    std::memcpy(reinterpret_cast<void *>(d), s, n);
    return 0;
  };
  api.memcpyDtoHAsync = [](void *d, CUdeviceptr s, size_t n, rt::CUstream) {
    if (capturing)
      return kCaptureUnsupported;
    std::memcpy(d, reinterpret_cast<const void *>(s), n);
    return 0;
  };
  api.memcpyDtoDAsync = [](CUdeviceptr d, CUdeviceptr s, size_t n,
                           rt::CUstream) {
    if (capturing)
      return kCaptureUnsupported;
    ++deviceCopies;
    std::memmove(reinterpret_cast<void *>(d), reinterpret_cast<void *>(s), n);
    return 0;
  };
  api.memsetD8Async = [](CUdeviceptr d, unsigned char v, size_t n,
                         rt::CUstream) {
    if (capturing)
      return kCaptureUnsupported;
    std::memset(reinterpret_cast<void *>(d), v, n);
    return 0;
  };
  api.moduleLoadData = [](rt::CUmodule *m, const void *data) {
    *m = data == kKilnRuntimeKernelsFatbin ? kOwnModule : kKernelsModule;
    return 0;
  };
  api.moduleUnload = [](rt::CUmodule) { return 0; };
  api.moduleGetFunction = [](rt::CUfunction *f, rt::CUmodule m,
                             const char *name) {
    if (m == kOwnModule) {
      *f = reinterpret_cast<rt::CUfunction>(
          const_cast<kiln::test::EmulatedKernel *>(
              kiln::test::emulatedKernel(name)));
      return *f ? 0 : 500; // CUDA_ERROR_NOT_FOUND
    }
    *f = reinterpret_cast<rt::CUfunction>(dlsym(kernelLibrary, name));
    return *f ? 0 : 500;
  };
  api.launchKernel = launch;
  api.streamBeginCapture = [](rt::CUstream, int) {
    if (capturing)
      return 1;
    capturing = new Graph();
    return 0;
  };
  api.streamEndCapture = [](rt::CUstream, rt::CUgraph *g) {
    *g = reinterpret_cast<rt::CUgraph>(capturing);
    capturing = nullptr;
    return *g ? 0 : 1;
  };
  api.graphInstantiate = [](rt::CUgraphExec *e, rt::CUgraph g,
                            unsigned long long) {
    *e = reinterpret_cast<rt::CUgraphExec>(
        new Graph(*reinterpret_cast<Graph *>(g)));
    return 0;
  };
  api.graphLaunch = [](rt::CUgraphExec e, rt::CUstream) {
    for (auto &op : *reinterpret_cast<Graph *>(e))
      if (int r = op())
        return r;
    return 0;
  };
  api.graphExecDestroy = [](rt::CUgraphExec e) {
    delete reinterpret_cast<Graph *>(e);
    return 0;
  };
  api.graphDestroy = [](rt::CUgraph g) {
    delete reinterpret_cast<Graph *>(g);
    return 0;
  };
  // Events: a call's device time is the host time between its records
  // (the fake device runs everything at once).
  api.eventCreate = [](rt::CUevent *e, unsigned) {
    *e = reinterpret_cast<rt::CUevent>(new double(0));
    return 0;
  };
  api.eventDestroy = [](rt::CUevent e) {
    delete reinterpret_cast<double *>(e);
    return 0;
  };
  api.eventRecord = [](rt::CUevent e, rt::CUstream) {
    if (capturing) // the executor times calls, not graphs
      return kCaptureUnsupported;
    *reinterpret_cast<double *>(e) =
        std::chrono::duration<double>(
            std::chrono::steady_clock::now().time_since_epoch())
            .count();
    return 0;
  };
  api.eventElapsedTime = [](float *ms, rt::CUevent begin, rt::CUevent end) {
    *ms = static_cast<float>(1e3 * (*reinterpret_cast<double *>(end) -
                                    *reinterpret_cast<double *>(begin)));
    return 0;
  };
  return api;
}

/// Gemm steps on host pointers.

absl::Status hostGemm(const rt::GemmPlan &g, const rt::GemmBuffers &d) {
  if (!fusesEpilogues && g.hasEpilogue())
    return absl::UnimplementedError("no algorithm with this epilogue fused");
  auto run = [=] {
    auto in = [](CUdeviceptr p) { return reinterpret_cast<const float *>(p); };
    const float *a = in(d.a), *b = in(d.b);
    // Half precision: A (narrowed by kiln_narrow) and B in bf16/f16, as
    // cuBLASLt gets them, widened for the reference.
    std::vector<float> wideA, wideB;
    if (g.halfPrecision()) {
      auto widen = [&](CUdeviceptr p, int64_t count) {
        const auto *h = reinterpret_cast<const uint16_t *>(p);
        std::vector<float> out(count);
        for (int64_t i = 0; i < count; ++i)
          out[i] = g.bType == kiln::artifact::DType::BF16
                       ? kiln::bf16ToFloat(h[i])
                       : kiln::halfToFloat(h[i]);
        return out;
      };
      wideA = widen(d.a, g.batch * g.m * g.k);
      wideB = widen(d.b, (g.shared ? 1 : g.batch) * g.k * g.n);
      a = wideA.data();
      b = wideB.data();
    }
    kiln::test::referenceGemm(g, a, b, reinterpret_cast<float *>(d.c),
                              g.bias >= 0 ? in(d.bias) : nullptr,
                              g.residual >= 0 ? in(d.residual) : nullptr);
    return 0;
  };
  if (capturing) {
    capturing->push_back(run);
  } else {
    std::lock_guard<std::mutex> turn(deviceTurn);
    run();
  }
  return absl::OkStatus();
}

/// `fixture` for the fake device (`cpuThreads` 0: --target cuda with
/// `gemmDtype`) or, with `cpuThreads` > 0, for the CPU through the CUDA
/// lowering with that many emulated GPU threads: the fake device's kernels.
/// `pastMaxima`: compiled for one sequence of 2 positions, so the golden
/// requests run past both maxima (the device arena laid out per call).
/// `quantize`: kilnc --quantize.
std::string compile(const std::string &fixture, const std::string &gemmDtype,
                    int64_t cpuThreads, bool pastMaxima = false, int64_t tp = 1,
                    int64_t pp = 1, const std::string &quantize = "none") {
  kiln::CompileOptions options;
  options.quantize = quantize;
  options.tp = tp;
  options.pp = pp;
  options.maxBatch = pastMaxima ? 1 : 2;
  options.maxSeq = pastMaxima ? 2 : 32;
  if (cpuThreads > 0) {
    options.emulateGpuThreads = cpuThreads;
  } else {
    options.target = "cuda";
    options.gemmDtype = gemmDtype;
  }
  auto path = kiln::test::compiledFixture(fixture, options);
  EXPECT_TRUE(path.ok()) << path.status();
  return path.ok() ? *path : "";
}

class CudaExecutorHostTest : public ::testing::TestWithParam<std::string> {};

/// The fake cuBLASLt library, opened once (CudaBlas opens the same copy).
kiln::test::FakeCublasLt *fakeCublasLt() {
  static void *library = dlopen(KILN_FAKE_CUBLASLT, RTLD_NOW | RTLD_LOCAL);
  if (!library)
    return nullptr;
  auto state = reinterpret_cast<kiln::test::FakeCublasLt *(*)()>(
      dlsym(library, "kilnFakeCublasLt"));
  return state ? state() : nullptr;
}

/// Every output of `got` within `bound` (relative L2) of `expected`'s.
void expectClose(const rt::Response &got, const rt::Response &expected,
                 double bound) {
  ASSERT_EQ(got.outputs.size(), expected.outputs.size());
  for (size_t o = 0; o < got.outputs.size(); ++o) {
    const rt::Tensor &a = got.outputs[o].second;
    const rt::Tensor &b = expected.outputs[o].second;
    ASSERT_EQ(a.shape, b.shape);
    double diff = 0, norm = 0;
    for (int64_t i = 0; i < a.numElements(); ++i) {
      const double d = a.data<float>()[i] - b.data<float>()[i];
      diff += d * d;
      norm += static_cast<double>(b.data<float>()[i]) * b.data<float>()[i];
    }
    EXPECT_LE(std::sqrt(diff / std::max(norm, 1e-30)), bound)
        << got.outputs[o].first;
  }
}

/// Runs a fake cuBLASLt product now, or records it in the graph being
/// captured.
void enqueueOnFakeStream(std::function<void()> product) {
  if (!capturing)
    return product();
  capturing->push_back([product] {
    product();
    return 0;
  });
}

/// The cuBLASLt epilogue each gemm step of the artifact should ask for,
/// with whether it has a residual (C = residual, beta 1).
std::set<std::pair<int, bool>> expectedEpilogues(const kiln::Artifact &a) {
  std::set<std::pair<int, bool>> kinds;
  for (const auto &e : a.manifest().entries)
    for (const auto &step : e->steps) {
      if (step->kind != kiln::artifact::StepKind::Gemm)
        continue;
      int epilogue = CUBLASLT_EPILOGUE_DEFAULT;
      switch (step->activation) {
      case kiln::artifact::Activation::Relu:
        epilogue = step->has_bias ? CUBLASLT_EPILOGUE_RELU_BIAS
                                  : CUBLASLT_EPILOGUE_RELU;
        break;
      case kiln::artifact::Activation::GeluTanh:
        epilogue = step->has_bias ? CUBLASLT_EPILOGUE_GELU_BIAS
                                  : CUBLASLT_EPILOGUE_GELU;
        break;
      default:
        epilogue =
            step->has_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
      }
      kinds.insert({epilogue, step->has_residual});
    }
  return kinds;
}

/// The fake device's generated kernels: the CPU-emulated build of the
/// same step list (`cpu`), opened as kernelLibrary. Its first kernel
/// library, the generic x86-64 one every host runs (the later ones are for
/// AVX2 and AVX-512).
void loadDeviceKernels(const kiln::Artifact &cpu) {
  int blob = -1;
  for (size_t i = 0; i < cpu.manifest().blobs.size() && blob < 0; ++i)
    if (cpu.manifest().blobs[i]->kind == kiln::artifact::BlobKind::CpuKernels)
      blob = static_cast<int>(i);
  ASSERT_GE(blob, 0);
  int fd = memfd_create("fake-device-kernels", MFD_CLOEXEC);
  ASSERT_EQ(::write(fd, cpu.blobData(blob), cpu.blobSize(blob)),
            static_cast<ssize_t>(cpu.blobSize(blob)));
  kernelLibrary = dlopen(("/proc/self/fd/" + std::to_string(fd)).c_str(),
                         RTLD_NOW | RTLD_LOCAL);
  ::close(fd);
  ASSERT_NE(kernelLibrary, nullptr) << dlerror();
}

/// Executor options on the fake driver with one sm_90 device.
rt::CudaOptions fakeDeviceOptions() {
  rt::CudaOptions options;
  rt::CudaDevice device;
  device.name = "fake";
  device.major = 9;
  options.driver = rt::CudaDriver::fromApi(fakeApi(), {device});
  options.cusparseLt = "none"; // a test asks for the fake one by name
  return options;
}

/// `fixture` compiled for the fake device (--target cuda with
/// `gemmDtype`), with the generated kernels the fake device runs loaded
/// from the CPU build through the CUDA lowering; null (the failure
/// reported) when either cannot be had.
std::unique_ptr<kiln::Artifact>
openOnFakeDevice(const std::string &fixture,
                 const std::string &gemmDtype = "f32", bool pastMaxima = false,
                 const std::string &quantize = "none") {
  auto cuda = kiln::Artifact::open(
      compile(fixture, gemmDtype, 0, pastMaxima, 1, 1, quantize));
  auto cpu = kiln::Artifact::open(
      compile(fixture, "f32", 3, pastMaxima, 1, 1, quantize));
  EXPECT_TRUE(cuda.ok()) << cuda.status();
  EXPECT_TRUE(cpu.ok()) << cpu.status();
  if (!cuda.ok() || !cpu.ok())
    return nullptr;
  loadDeviceKernels(**cpu);
  if (!kernelLibrary)
    return nullptr;
  return std::move(*cuda);
}

/// The fixture's golden request (its new tokens generated to the end).
rt::Request goldenRequest(const kiln::test::GoldenInputs &inputs) {
  rt::Request request;
  request.inputIds = inputs.ids;
  request.tokenTypeIds = inputs.tokenTypes;
  request.maxNewTokens = inputs.newTokens;
  request.ignoreEos = inputs.newTokens > 0;
  return request;
}

/// The response's outputs against the fixture's transformers goldens
/// (within 1e-4, or `rounded` and not bit-equal for rounded weights when
/// not `exact`) and, when `exact`, its generated ids up to the first
/// near-tie.
void expectGolden(const std::string &fixture, const nlohmann::json &golden,
                  const rt::Response &response,
                  const std::vector<int64_t> &lengths, bool exact,
                  double rounded = 2e-2) {
  fs::path dir = fs::path(KILN_GOLDEN_DIR) / fixture;
  for (auto it = golden["outputs"].begin(); it != golden["outputs"].end();
       ++it) {
    auto expected =
        kiln::readNpy((dir / it.value().get<std::string>()).string());
    ASSERT_TRUE(expected.ok());
    const rt::Tensor *ours = nullptr;
    for (const auto &[name, t] : response.outputs)
      if (name == it.key())
        ours = &t;
    ASSERT_NE(ours, nullptr) << it.key();
    ASSERT_EQ(ours->shape, expected->shape) << it.key();
    std::vector<float> got(ours->data<float>(),
                           ours->data<float>() + ours->numElements());
    bool finite = true;
    double error = kiln::test::relativeErrorExcludingPadding(
        expected->shape, got, expected->values, lengths, finite);
    EXPECT_TRUE(finite) << it.key();
    EXPECT_LE(error, exact ? 1e-4 : rounded) << fixture << " " << it.key();
    if (!exact) { // rounded weights: not bit-identical to f32
      EXPECT_GE(error, 1e-6) << fixture << " " << it.key();
    }
  }
  if (golden.contains("generate") && exact) {
    auto ids =
        golden["generate"]["ids"].get<std::vector<std::vector<int64_t>>>();
    auto gaps =
        golden["generate"]["top2_gaps"].get<std::vector<std::vector<double>>>();
    for (size_t b = 0; b < ids.size(); ++b)
      for (size_t t = 0; t < ids[b].size() && gaps[b][t] >= 1e-3; ++t)
        EXPECT_EQ(response.generated[b][t], ids[b][t]) << b << " " << t;
  }
}

/// `gemmDtype`: kilnc --gemm-dtype; with bf16/f16 the outputs must agree
/// within 2e-2 and the generated ids are not compared (rounding moves near
/// ties). `syncSteps`: CudaOptions::syncSteps (no graphs then).
/// `throughCublasLt`: gemms through runtime/CudaBlas and the fake cuBLASLt
/// instead of the plain loop nest.
/// `pastMaxima`: see compile(). `quantize`: kilnc --quantize, whose
/// outputs must agree as RuntimeGoldenTest's CPU builds do (w8a16 3e-2,
/// w4a16 0.35, w8a8 6e-2).
void runFamily(const std::string &fixture, const std::string &gemmDtype = "f32",
               bool syncSteps = false, bool throughCublasLt = false,
               bool pastMaxima = false, const std::string &quantize = "none") {
  const bool exact = gemmDtype == "f32" && quantize == "none";
  const double rounded = quantize == "w4a16"   ? 0.35
                         : quantize == "w8a8"  ? 6e-2
                         : quantize == "w8a16" ? 3e-2
                                               : 2e-2;
  epilogueLaunches = 0;
  std::unique_ptr<kiln::Artifact> cuda =
      openOnFakeDevice(fixture, gemmDtype, pastMaxima, quantize);
  if (!cuda)
    return;
  rt::CudaOptions options = fakeDeviceOptions();
  options.syncSteps = syncSteps;
  kiln::test::FakeCublasLt *fake = nullptr;
  if (throughCublasLt) {
    fake = fakeCublasLt();
    ASSERT_NE(fake, nullptr) << KILN_FAKE_CUBLASLT << ": " << dlerror();
    bool fuses = fusesEpilogues;
    fake->reset();
    fake->fusesEpilogues = fuses;
    fake->enqueue = enqueueOnFakeStream;
    options.cublasLt = KILN_FAKE_CUBLASLT;
  } else {
    options.gemm = hostGemm;
  }
  auto executor = rt::CudaExecutor::create(*cuda, options);
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto model = kiln::fromArtifact(cuda->manifest().model.get());
  ASSERT_TRUE(model.ok());

  auto golden = kiln::readJsonObject(
      (fs::path(KILN_GOLDEN_DIR) / fixture / "golden.json").string());
  ASSERT_TRUE(golden.ok());
  const kiln::test::GoldenInputs inputs = kiln::test::goldenInputs(*golden);
  const auto &lengths = inputs.lengths;
  rt::Request request = goldenRequest(inputs);
  auto response = rt::runModel(*model, **executor, request);
  ASSERT_TRUE(response.ok()) << response.status();
  // Device time is measured per pass, apart from wall time.
  EXPECT_EQ(response->firstPassDeviceSeconds.size(), 1u);
  EXPECT_EQ(response->decodeStepDeviceSeconds.size(),
            response->decodeStepSeconds.size());
  EXPECT_GE((*executor)->deviceSeconds(), 0);
  expectGolden(fixture, *golden, *response, lengths, exact, rounded);
  // Every decode step after the first two replays a graph.
  if (syncSteps)
    EXPECT_EQ((*executor)->stats().graphsCaptured, 0);
  else if (golden->contains("generate") && request.maxNewTokens >= 3) {
    EXPECT_GE((*executor)->stats().graphsCaptured, 1);
    EXPECT_GE((*executor)->stats().graphReplays, request.maxNewTokens - 3);
  }
  if (fake) {
    EXPECT_EQ(fake->error, "") << fixture;
    EXPECT_EQ((*executor)->gemmLibrary(), KILN_FAKE_CUBLASLT);
    ASSERT_FALSE(fake->calls.empty());
    // Each gemm step's epilogue was asked for (with C the residual at beta
    // 1, or C = D at beta 0), and only those.
    std::set<std::pair<int, bool>> asked;
    for (const kiln::test::FakeMatmul &call : fake->calls) {
      EXPECT_EQ(call.alpha, 1.0f);
      EXPECT_EQ(call.beta, call.cIsD ? 0.0f : 1.0f);
      asked.insert({call.epilogue, !call.cIsD});
    }
    if (fusesEpilogues) // (pointer alignment is checked by the fake)
      EXPECT_EQ(asked, expectedEpilogues(*cuda)) << fixture;
    else // fused epilogues refused: plain products (a residual stays C)
      for (const auto &[epilogue, residual] : asked)
        EXPECT_EQ(epilogue, CUBLASLT_EPILOGUE_DEFAULT) << fixture;
    // One heuristic query per distinct shape, not per call: the same
    // request again asks for none.
    const int64_t queries = fake->heuristicQueries;
    auto again = rt::runModel(*model, **executor, request);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(fake->heuristicQueries, queries);
  }
  executor->reset();
  if (fake) {
    EXPECT_EQ(fake->live, 0) << "cuBLASLt descriptors leaked";
    fake->enqueue = nullptr;
  }
  dlclose(kernelLibrary);
  // Every family has gemm epilogues (bias, activation or residual); the
  // loop nest refuses them all, cuBLASLt only those it is asked to fuse
  // (a residual is C, never refused).
  bool refused = !fusesEpilogues;
  if (refused && throughCublasLt) {
    refused = false;
    for (const auto &[epilogue, residual] : expectedEpilogues(*cuda))
      refused |= epilogue != CUBLASLT_EPILOGUE_DEFAULT;
  }
  if (refused)
    EXPECT_GT(epilogueLaunches, 0);
  else
    EXPECT_EQ(epilogueLaunches, 0);
}

/// Partitioned artifacts (kilnc --target cuda --tp 2 --pp 2; T5's three
/// heads take --pp 2 alone) with every
/// rank a CudaExecutor on the one (fake) device, through RankedExecutor as
/// kiln-run --device cuda --ranks runs them: all_reduce and all_gather
/// exchange device buffers (kiln_rank_share and device-to-device copies)
/// and send_recv hands over device buffers, or, with deviceCollectives
/// off, all pass host copies, with the same bits; each stage uploads only
/// its weights, and the outputs match transformers as the single-rank
/// build's do.
TEST(CudaExecutorHostRanks, PartitionedRanksShareOneDevice) {
  for (const std::string fixture : {"llama_gqa", "gpt2_hd64", "t5_gated"})
    for (bool onDevice : {true, false}) {
      SCOPED_TRACE(fixture +
                   (onDevice ? ", device collectives" : ", host collectives"));
      const int64_t tp = fixture == "t5_gated" ? 1 : 2;
      auto cuda =
          kiln::Artifact::open(compile(fixture, "f32", 0, false, tp, 2));
      auto cpu = kiln::Artifact::open(compile(fixture, "f32", 3, false, tp, 2));
      ASSERT_TRUE(cuda.ok()) << cuda.status();
      ASSERT_TRUE(cpu.ok()) << cpu.status();
      loadDeviceKernels(**cpu);
      ASSERT_NE(kernelLibrary, nullptr);
      rt::RanksOptions options;
      options.collectiveTimeoutSeconds = 30;
      int64_t created = 0;
      options.makeRank = [&](const rt::CpuOptions &rank)
          -> absl::StatusOr<std::unique_ptr<rt::Executor>> {
        rt::CudaOptions own = fakeDeviceOptions();
        own.gemm = hostGemm;
        own.rank = rank.rank;
        own.stage = rank.stage;
        own.communicator = rank.communicator;
        own.stageLink = rank.stageLink;
        own.deviceCollectives = onDevice;
        ++created;
        return rt::CudaExecutor::create(**cuda, own);
      };
      deviceCopies = 0;
      auto ranked = rt::RankedExecutor::create(**cuda, options);
      ASSERT_TRUE(ranked.ok()) << ranked.status();
      // tp x pp ranks, an executor per micro-batch (one per stage).
      EXPECT_EQ(created, tp * 2 * 2);
      auto *first = dynamic_cast<rt::CudaExecutor *>(&(*ranked)->rank(0));
      ASSERT_NE(first, nullptr);
      auto model = kiln::fromArtifact((*cuda)->manifest().model.get());
      ASSERT_TRUE(model.ok());
      auto golden = kiln::readJsonObject(
          (fs::path(KILN_GOLDEN_DIR) / fixture / "golden.json").string());
      ASSERT_TRUE(golden.ok());
      const kiln::test::GoldenInputs inputs = kiln::test::goldenInputs(*golden);
      auto response = rt::runModel(*model, **ranked, goldenRequest(inputs));
      ASSERT_TRUE(response.ok()) << response.status();
      expectGolden(fixture, *golden, *response, inputs.lengths, /*exact=*/true);
      // No graphs: the collectives wait for the other ranks on the host.
      EXPECT_EQ(first->stats().graphsCaptured, 0);
      const rt::CudaStats &stats = first->stats();
      // Rank 0 sends to stage 1, and with tp 2 sums and gathers.
      if (onDevice) {
        EXPECT_GT(stats.deviceCollectives, 0);
        EXPECT_EQ(stats.hostCollectives, 0);
        EXPECT_GT(deviceCopies.load(), 0);
      } else {
        EXPECT_EQ(stats.deviceCollectives, 0);
        EXPECT_GT(stats.hostCollectives, 0);
        EXPECT_EQ(deviceCopies.load(), 0);
      }
      // Both transports give the same bits.
      static std::vector<rt::NamedTensor> previous;
      if (onDevice) {
        previous = response->outputs;
      } else {
        ASSERT_EQ(previous.size(), response->outputs.size());
        for (size_t i = 0; i < previous.size(); ++i)
          EXPECT_EQ(previous[i].second.bytes, response->outputs[i].second.bytes)
              << previous[i].first;
      }
      ranked->reset();
      dlclose(kernelLibrary);
      kernelLibrary = nullptr;
    }
}

TEST_P(CudaExecutorHostTest, MatchesTransformersOnAFakeDevice) {
  fusesEpilogues = true;
  runFamily(GetParam());
}

TEST_P(CudaExecutorHostTest, MatchesTransformersPastTheCompiledMaxima) {
  runFamily(GetParam(), "f32", /*syncSteps=*/false, /*throughCublasLt=*/false,
            /*pastMaxima=*/true);
}

TEST_P(CudaExecutorHostTest, MatchesTransformersWithBf16Gemms) {
  runFamily(GetParam(), "bf16");
}

TEST_P(CudaExecutorHostTest, MatchesTransformersWithF16Gemms) {
  runFamily(GetParam(), "f16");
}

TEST_P(CudaExecutorHostTest, MatchesTransformersWithEpiloguesAsKernels) {
  fusesEpilogues = false;
  runFamily(GetParam(), "f32", /*syncSteps=*/true);
  fusesEpilogues = true;
}

TEST_P(CudaExecutorHostTest, MatchesTransformersThroughCuBLASLtCalls) {
  fusesEpilogues = true;
  runFamily(GetParam(), "f32", /*syncSteps=*/false, /*throughCublasLt=*/true);
}

TEST_P(CudaExecutorHostTest, MatchesTransformersThroughCuBLASLtBf16) {
  fusesEpilogues = true;
  runFamily(GetParam(), "bf16", /*syncSteps=*/false, /*throughCublasLt=*/true);
}

TEST_P(CudaExecutorHostTest, MatchesTransformersWithQuantizedWeights) {
  // The gemms on int8/int4 weights: kiln_quant_gemv for decode's rows,
  // kiln_dequantize then the gemm for prefill's; W8A8's int8 rows and
  // product for both.
  fusesEpilogues = true;
  for (const char *scheme : {"w8a16", "w4a16", "w8a8"}) {
    SCOPED_TRACE(scheme);
    runFamily(GetParam(), "f32", /*syncSteps=*/false,
              /*throughCublasLt=*/false, /*pastMaxima=*/false, scheme);
  }
}

TEST(CudaExecutorHostQuantized, FewRowsMatchTheCpuExecutor) {
  // A request of one short sequence keeps every gemm at a few rows (the
  // prompt, then each decode step), so the device's quantized gemms are
  // kiln_quant_gemv and W8A8's kernels throughout; the CPU executor runs the
  // same scheme's CPU build (the same quantized weights): outputs within
  // 1e-4 and the same generated ids.
  for (const char *fixture : {"gpt2_tiny", "llama_gqa"})
    for (const char *scheme : {"w8a16", "w4a16", "w8a8"}) {
      SCOPED_TRACE(::testing::Message() << fixture << " " << scheme);
      std::unique_ptr<kiln::Artifact> cuda =
          openOnFakeDevice(fixture, "f32", false, scheme);
      ASSERT_NE(cuda, nullptr);
      kiln::CompileOptions cpuOptions;
      cpuOptions.quantize = scheme;
      cpuOptions.maxBatch = 2;
      cpuOptions.maxSeq = 32;
      auto cpuPath = kiln::test::compiledFixture(fixture, cpuOptions);
      ASSERT_TRUE(cpuPath.ok()) << cpuPath.status();
      auto cpu = kiln::Artifact::open(*cpuPath);
      ASSERT_TRUE(cpu.ok()) << cpu.status();
      auto golden = kiln::readJsonObject(
          (fs::path(KILN_GOLDEN_DIR) / fixture / "golden.json").string());
      ASSERT_TRUE(golden.ok());
      rt::Request request;
      std::vector<int64_t> prompt = kiln::test::goldenInputs(*golden).ids[0];
      prompt.resize(std::min<size_t>(prompt.size(), 5));
      request.inputIds = {prompt};
      request.maxNewTokens = 6;
      request.ignoreEos = true;
      rt::CudaOptions options = fakeDeviceOptions();
      options.gemm = hostGemm;
      auto device = rt::CudaExecutor::create(*cuda, options);
      ASSERT_TRUE(device.ok()) << device.status();
      auto host = rt::CpuExecutor::create(**cpu, rt::CpuOptions{});
      ASSERT_TRUE(host.ok()) << host.status();
      auto model = kiln::fromArtifact(cuda->manifest().model.get());
      ASSERT_TRUE(model.ok());
      auto got = rt::runModel(*model, **device, request);
      auto expected = rt::runModel(*model, **host, request);
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_TRUE(expected.ok()) << expected.status();
      EXPECT_EQ(got->generated, expected->generated);
      expectClose(*got, *expected, 1e-4);
      device->reset();
      dlclose(kernelLibrary);
      kernelLibrary = nullptr;
    }
}

TEST(CudaExecutorHostQuantized, W8A8PrefillRunsOnCuBLASLtInt8) {
  // W8A8 through the fake cuBLASLt: the prompt's rows (past
  // kQuantGemvRows) multiply in its int8 gemm (TN, int32 sums into C's
  // buffer, then kiln_int8_epilogue), decode's few rows on kiln_int8_gemm.
  // With no int8 algorithm every product falls back to kiln_int8_gemm: the
  // same bits either way (int32 sums are exact, the scaling the same
  // operations), and both within W8A8's bound of transformers.
  for (const char *fixture : {"gpt2_tiny", "llama_gqa", "bert_tiny"}) {
    SCOPED_TRACE(fixture);
    std::unique_ptr<kiln::Artifact> cuda =
        openOnFakeDevice(fixture, "f32", false, "w8a8");
    ASSERT_NE(cuda, nullptr);
    kiln::test::FakeCublasLt *fake = fakeCublasLt();
    ASSERT_NE(fake, nullptr) << KILN_FAKE_CUBLASLT << ": " << dlerror();
    auto golden = kiln::readJsonObject(
        (fs::path(KILN_GOLDEN_DIR) / fixture / "golden.json").string());
    ASSERT_TRUE(golden.ok());
    const kiln::test::GoldenInputs inputs = kiln::test::goldenInputs(*golden);
    auto model = kiln::fromArtifact(cuda->manifest().model.get());
    ASSERT_TRUE(model.ok());
    std::vector<rt::Response> responses;
    std::vector<int64_t> int8Calls;
    for (bool int8 : {true, false}) {
      fake->reset();
      fake->int8Algorithms = int8;
      fake->enqueue = enqueueOnFakeStream;
      rt::CudaOptions options = fakeDeviceOptions();
      options.cublasLt = KILN_FAKE_CUBLASLT;
      auto executor = rt::CudaExecutor::create(*cuda, options);
      ASSERT_TRUE(executor.ok()) << executor.status();
      auto response = rt::runModel(*model, **executor, goldenRequest(inputs));
      ASSERT_TRUE(response.ok()) << response.status();
      EXPECT_EQ(fake->error, "");
      int64_t calls = 0;
      for (const kiln::test::FakeMatmul &call : fake->calls) {
        if (call.operandType != CUDA_R_8I)
          continue;
        ++calls;
        // op(A) = W (its stored rows), op(B) = the prompt's int8 rows.
        EXPECT_TRUE(call.transA);
        EXPECT_FALSE(call.transB);
        EXPECT_GT(call.n, rt::kQuantGemvRows);
        EXPECT_EQ(call.k % 32, 0);
      }
      int8Calls.push_back(calls);
      // Enqueued products, not calls (a replayed graph calls again).
      const rt::CudaStats &stats = (*executor)->stats();
      EXPECT_EQ(stats.int8TensorCoreGemms > 0, int8);
      // Decode's few rows (and widths not a multiple of 4), or every
      // product without an int8 algorithm.
      if (!int8 || golden->contains("generate")) {
        EXPECT_GT(stats.int8KernelGemms, 0);
      }
      expectGolden(fixture, *golden, *response, inputs.lengths,
                   /*exact=*/false, 6e-2);
      responses.push_back(std::move(*response));
      executor->reset();
      EXPECT_EQ(fake->live, 0) << "cuBLASLt descriptors leaked";
    }
    fake->enqueue = nullptr;
    EXPECT_GT(int8Calls[0], 0);
    EXPECT_EQ(int8Calls[1], 0);
    EXPECT_EQ(responses[0].generated, responses[1].generated);
    ASSERT_EQ(responses[0].outputs.size(), responses[1].outputs.size());
    for (size_t o = 0; o < responses[0].outputs.size(); ++o) {
      const rt::Tensor &a = responses[0].outputs[o].second;
      const rt::Tensor &b = responses[1].outputs[o].second;
      ASSERT_EQ(a.shape, b.shape);
      EXPECT_EQ(std::memcmp(a.data<float>(), b.data<float>(),
                            a.numElements() * sizeof(float)),
                0)
          << responses[0].outputs[o].first;
    }
    dlclose(kernelLibrary);
    kernelLibrary = nullptr;
  }
}

TEST(CudaExecutorHostSparse, TwoFourWeightsRunOnCuSPARSELt) {
  // kilnc --prune 2:4 --gemm-dtype bf16 --target cuda: every pruned linear
  // weight is bf16 and 2:4 along its input features, so the executor
  // compresses it through the fake cuSPARSELt at load and runs its gemms
  // there (A narrowed, D in bf16, kiln_widen_epilogue to f32 with the
  // epilogue); with cuSPARSELt "none", or one that refuses them, the same
  // weights run dense. All within bf16's bound of transformers' pruned
  // model, and of each other (D's rounding to bf16 is the difference).
  static void *library = dlopen(KILN_FAKE_CUSPARSELT, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(library, nullptr) << dlerror();
  auto *fake = reinterpret_cast<kiln::test::FakeCusparseLt *(*)()>(
      dlsym(library, "kilnFakeCusparseLt"))();
  for (const char *fixture : {"gpt2_tiny", "llama_gqa"}) {
    SCOPED_TRACE(fixture);
    const std::string pruned = std::string("../pruned/") + fixture + "_2_4";
    auto build = [&](int64_t cpuThreads, bool external = false) {
      kiln::CompileOptions options;
      options.prune = "2:4";
      options.externalWeights = external;
      options.maxBatch = 2;
      options.maxSeq = 32;
      if (cpuThreads > 0) {
        options.emulateGpuThreads = cpuThreads;
      } else {
        options.target = "cuda";
        options.gemmDtype = "bf16";
      }
      auto path = kiln::test::compiledFixture(fixture, options);
      EXPECT_TRUE(path.ok()) << path.status();
      return kiln::Artifact::open(path.ok() ? *path : "");
    };
    auto cuda = build(0);
    auto cpu = build(3);
    ASSERT_TRUE(cuda.ok()) << cuda.status();
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    loadDeviceKernels(**cpu);
    ASSERT_NE(kernelLibrary, nullptr);
    auto golden = kiln::readJsonObject(
        (fs::path(KILN_GOLDEN_DIR) / pruned / "golden.json").string());
    ASSERT_TRUE(golden.ok()) << golden.status();
    const kiln::test::GoldenInputs inputs = kiln::test::goldenInputs(*golden);
    auto model = kiln::fromArtifact((*cuda)->manifest().model.get());
    ASSERT_TRUE(model.ok());
    std::vector<rt::Response> responses;
    // On cuSPARSELt; without it; with a cuSPARSELt that takes none of them.
    for (int mode : {0, 1, 2}) {
      const bool sparse = mode == 0;
      fake->reset();
      fake->takes = mode != 2;
      fake->enqueue = enqueueOnFakeStream;
      rt::CudaOptions options = fakeDeviceOptions();
      options.gemm = hostGemm;
      if (mode != 1)
        options.cusparseLt = KILN_FAKE_CUSPARSELT;
      auto executor = rt::CudaExecutor::create(**cuda, options);
      ASSERT_TRUE(executor.ok()) << executor.status();
      auto response = rt::runModel(*model, **executor, goldenRequest(inputs));
      ASSERT_TRUE(response.ok()) << response.status();
      EXPECT_EQ(fake->error, "");
      const rt::CudaStats &stats = (*executor)->stats();
      if (sparse) {
        // 2 layers x 4 linears (GPT-2's c_attn, c_proj, c_fc, c_proj;
        // Llama's merged qkv, o, merged gate/up, down); the tied or
        // unpruned LM head stays dense.
        EXPECT_EQ(stats.sparseWeights, 8);
        EXPECT_EQ(stats.sparseRefused, 0);
        EXPECT_EQ(static_cast<int64_t>(fake->compressed.size()), 8);
        EXPECT_GT(stats.sparseGemms, 0);
        EXPECT_FALSE(fake->calls.empty());
        for (const kiln::test::FakeSparseMatmul &call : fake->calls) {
          EXPECT_EQ(call.type, CUDA_R_16BF);
          EXPECT_EQ(call.k % 4, 0);
        }
      } else { // dense: the refused ones counted as such
        EXPECT_EQ(stats.sparseWeights, 0);
        EXPECT_EQ(stats.sparseRefused, mode == 2 ? 8 : 0);
        EXPECT_TRUE(fake->calls.empty());
      }
      expectGolden(pruned, *golden, *response, inputs.lengths,
                   /*exact=*/false, 2e-2);
      responses.push_back(std::move(*response));
      executor->reset();
      EXPECT_EQ(fake->live, 0) << "cuSPARSELt descriptors or plans leaked";
    }
    fake->enqueue = nullptr;
    expectClose(responses[0], responses[1], 1e-2);
    expectClose(responses[2], responses[1], 0); // both dense: the same
    // External weights: pruned and narrowed at load to the embedded bits,
    // then compressed alike.
    auto external = build(0, /*external=*/true);
    ASSERT_TRUE(external.ok()) << external.status();
    fake->reset();
    fake->enqueue = enqueueOnFakeStream;
    rt::CudaOptions options = fakeDeviceOptions();
    options.gemm = hostGemm;
    options.cusparseLt = KILN_FAKE_CUSPARSELT;
    options.weightsDir = (fs::path(KILN_GOLDEN_DIR) / fixture).string();
    auto executor = rt::CudaExecutor::create(**external, options);
    ASSERT_TRUE(executor.ok()) << executor.status();
    auto response = rt::runModel(*model, **executor, goldenRequest(inputs));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ((*executor)->stats().sparseWeights, 8);
    EXPECT_EQ(fake->error, "");
    expectClose(*response, responses[0], 0);
    executor->reset();
    dlclose(kernelLibrary);
    kernelLibrary = nullptr;
  }
}

TEST_P(CudaExecutorHostTest, CuBLASLtRefusingEpiloguesFallsBackToKernels) {
  fusesEpilogues = false;
  runFamily(GetParam(), "f32", /*syncSteps=*/false, /*throughCublasLt=*/true);
  fusesEpilogues = true;
}

TEST(CudaExecutorHostProfile, TimesEveryStepWithoutGraphs) {
  std::unique_ptr<kiln::Artifact> artifact = openOnFakeDevice("gpt2_tiny");
  if (!artifact)
    return;
  rt::CudaOptions options = fakeDeviceOptions();
  options.gemm = hostGemm;
  options.profile = true;
  auto executor = rt::CudaExecutor::create(*artifact, options);
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto model = kiln::fromArtifact(artifact->manifest().model.get());
  ASSERT_TRUE(model.ok());
  rt::Request request;
  request.inputIds = {{79, 13, 27}};
  request.maxNewTokens = 3;
  request.ignoreEos = true;
  auto response = rt::runModel(*model, **executor, request);
  ASSERT_TRUE(response.ok()) << response.status();
  // Every step of every call is counted once (prefill, then 2 decodes:
  // the third new token is sampled from the second decode's logits), and
  // profiling runs no graph.
  int64_t steps = 0;
  for (const auto &e : artifact->manifest().entries)
    steps +=
        static_cast<int64_t>(e->steps.size()) * (e->name == "prefill" ? 1 : 2);
  int64_t calls = 0;
  std::set<std::string> names;
  for (const rt::StepProfile &p : (*executor)->profile()) {
    calls += p.calls;
    names.insert(p.name);
    EXPECT_GE(p.seconds, 0) << p.name;
  }
  EXPECT_EQ(calls, steps);
  EXPECT_TRUE(names.count("gemm") && names.count("attention") &&
              names.count("norm"));
  EXPECT_EQ((*executor)->stats().graphsCaptured, 0);
}

TEST(CudaExecutorHostErrors, NamesACuBLASLtThatCannotOpen) {
  std::unique_ptr<kiln::Artifact> artifact = openOnFakeDevice("gpt2_tiny");
  if (!artifact)
    return;
  rt::CudaOptions options = fakeDeviceOptions();
  options.cublasLt = "/nonexistent/libcublasLt.so.13";
  auto executor = rt::CudaExecutor::create(*artifact, options);
  dlclose(kernelLibrary);
  ASSERT_FALSE(executor.ok());
  EXPECT_NE(executor.status().message().find(
                "cannot open cuBLASLt /nonexistent/libcublasLt.so.13"),
            std::string::npos)
      << executor.status();
}

TEST(CudaExecutorHostErrors, NamesACuSPARSELtThatCannotOpenOrLacksEntryPoints) {
  // Asked for by name, a cuSPARSELt that does not open, or a library that
  // is not cuSPARSELt, is one error (unnamed and absent: dense weights).
  std::unique_ptr<kiln::Artifact> artifact = openOnFakeDevice("gpt2_tiny");
  if (!artifact)
    return;
  for (const auto &[library, message] :
       std::vector<std::pair<std::string, std::string>>{
           {"/nonexistent/libcusparseLt.so.0",
            "cannot open cuSPARSELt /nonexistent/libcusparseLt.so.0"},
           {KILN_FAKE_CUBLASLT,
            "cuSPARSELt lacks the entry points Kiln uses"}}) {
    rt::CudaOptions options = fakeDeviceOptions();
    options.gemm = hostGemm;
    options.cusparseLt = library;
    auto executor = rt::CudaExecutor::create(*artifact, options);
    ASSERT_FALSE(executor.ok()) << library;
    EXPECT_NE(executor.status().message().find(message), std::string::npos)
        << executor.status();
  }
  dlclose(kernelLibrary);
}

/// Every device allocation of loading and running a model (weights,
/// arena, kv caches, workspace, argument tables, inputs), failed in turn:
/// each is one error naming what did not fit and its size, and everything
/// allocated before it is freed with the executor.
TEST(CudaExecutorHostErrors, EveryAllocationCanFailCleanly) {
  std::unique_ptr<kiln::Artifact> artifact = openOnFakeDevice("gpt2_tiny");
  if (!artifact)
    return;
  auto model = kiln::fromArtifact(artifact->manifest().model.get());
  ASSERT_TRUE(model.ok()) << model.status();
  rt::Request request;
  request.inputIds = {{5, 6, 7}};
  request.maxNewTokens = 3;
  auto attempt = [&]() -> absl::Status {
    rt::CudaOptions options = fakeDeviceOptions();
    options.gemm = hostGemm;
    auto executor = rt::CudaExecutor::create(*artifact, options);
    if (!executor.ok())
      return executor.status();
    return rt::runModel(*model, **executor, request).status();
  };
  liveAllocations = 0;
  ASSERT_TRUE(attempt().ok());
  EXPECT_EQ(liveAllocations, 0);
  std::set<std::string> failures;
  for (int64_t k = 0;; ++k) {
    allocationsBeforeFailure = k;
    absl::Status status = attempt();
    const bool reached = allocationsBeforeFailure < 0;
    allocationsBeforeFailure = -1;
    EXPECT_EQ(liveAllocations, 0) << "allocation " << k << " leaked memory";
    if (!reached) { // every allocation was failed once
      EXPECT_TRUE(status.ok()) << status;
      break;
    }
    ASSERT_FALSE(status.ok()) << "allocation " << k << " failed unnoticed";
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
    std::string message(status.message());
    EXPECT_NE(message.find("out of GPU memory"), std::string::npos) << message;
    EXPECT_TRUE(message.find("byte") != std::string::npos) << message;
    failures.insert(message.substr(0, message.find(':')));
  }
  dlclose(kernelLibrary);
  // Every kind was reached, each named (inputs, weights, argument tables,
  // each kv cache, the attention workspace, the arena).
  std::string all;
  for (const std::string &f : failures)
    all += f + "\n";
  EXPECT_GE(failures.size(), 8u) << all;
  EXPECT_NE(all.find("bytes of weights"), std::string::npos) << all;
  EXPECT_NE(all.find("-byte arena"), std::string::npos) << all;
  EXPECT_NE(all.find("-byte kv cache"), std::string::npos) << all;
}

INSTANTIATE_TEST_SUITE_P(Families, CudaExecutorHostTest,
                         ::testing::Values("gpt2_tiny", "bert_tiny",
                                           "roberta_cls", "t5_gated",
                                           "llama_gqa"),
                         [](const ::testing::TestParamInfo<std::string> &info) {
                           return info.param;
                         });

} // namespace
