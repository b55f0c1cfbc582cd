//===- CpuExecutor.cpp - running an artifact's step lists on the CPU ------===//

#include "runtime/CpuExecutor.h"

#include "artifact/Artifact.h"
#include "runtime/ArenaPlan.h"
#include "runtime/Attention.h"
#include "runtime/Blas.h"
#include "runtime/CallBinding.h"
#include "runtime/Collectives.h"
#include "runtime/CpuIsa.h"
#include "runtime/DimExpr.h"
#include "runtime/HostWeights.h"
#include "runtime/ManifestChecks.h"
#include "runtime/Norm.h"
#include "runtime/OneDnnMatmul.h"
#include "runtime/Precision.h"
#include "runtime/QuantGemm.h"
#include "runtime/SparseGemm.h"
#include "runtime/StepPlan.h"
#include "runtime/StepProfile.h"
#include "runtime/Tensor.h"
#include "runtime/ThreadPool.h"
#include "support/Prune.h"
#include "support/Quantize.h"
#include "support/Status.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <exception>
#include <fcntl.h>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdlib.h>
#include <string>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace kiln::rt {

using namespace artifact;

namespace {

using KernelFn = void (*)(void **, const int64_t *, int64_t, int64_t);

/// One product of a gemm plan: op(A) [m, k] by op(B), each operand and C
/// offset (in elements) from its buffer's start.
struct Product {
  bool transA;
  int64_t m, a, b, c;
};

/// `one` for each product of `g` (the batch folded into m, or one per
/// batch), until it returns false; whether none did.
template <typename One> bool forEachProduct(const GemmPlan &g, One one) {
  if (g.folded)
    return one(Product{false, g.batch * g.m, 0, 0, 0});
  for (int64_t i = 0; i < g.batch; ++i)
    if (!one(Product{g.transA, g.m, i * g.m * g.k, g.shared ? 0 : i * g.k * g.n,
                     i * g.m * g.n}))
      return false;
  return true;
}

/// A kernel whose result has fewer elements runs on one thread: waking the
/// pool costs more than the work.
constexpr int64_t kSplitElements = 1 << 15;
struct CacheSlot {
  std::vector<int64_t> shape; // [batch, length, width]
  DType dtype = DType::F32;
  std::vector<uint8_t> data;
};

} // namespace

struct CpuExecutor::Impl {
  const Artifact &artifact;
  const ManifestT &m;
  ThreadPool pool;
  Blas blas;
  void *library = nullptr;
  int libraryFd = -1; // the memfd `library` was loaded from (its name)
  std::vector<KernelFn> kernels;
  std::unique_ptr<HostWeights> weights;
  /// f32 gemm weights packed once for the library's matmul (Blas::pack),
  /// by slot and transB: B [n, k] (transB) or [k, n], dense. A weight the
  /// library declined, or that no f32 gemm reads, is absent.
  std::map<std::pair<int64_t, bool>, PackedBPtr> packed;
  uint8_t *arena = nullptr;
  int64_t arenaBytes = 0;
  ArenaPlans arenaPlans; // calls past the compiled batch or sequence
  std::map<std::string, CacheSlot> caches;
  bool profiling = false;
  StepProfiles profile;
  /// f32 copies of a step's bf16/f16 buffers (--precision builds), kept
  /// between calls.
  struct Scratch {
    std::vector<float> a, b, c, residual, bias, q, k, v, out;
  } scratch;
  StepHook stepHook;
  Communicator *communicator = nullptr;
  /// Pipeline stages (kilnc --pp; 1: none), this executor's, and the kv
  /// caches its steps use (the others are not allocated).
  int64_t stages = 1, stage = 0;
  StageLink *stageLink = nullptr;
  std::set<std::string> stageCaches;

  bool runsHere(const StepT &step) const {
    return runsOnStage(step, stage, stages);
  }

  Impl(const Artifact &a, int threads)
      : artifact(a), m(a.manifest()), pool(threads), blas(pool) {}
  ~Impl() {
    std::free(arena);
    if (library)
      dlclose(library);
    if (libraryFd >= 0)
      ::close(libraryFd);
  }

  /// Packs the f32 weights the gemm steps on this stage read as B, for
  /// the library's matmul (where it has one). A weight's manifest shape
  /// is checked against the bytes held for it, so a slot held in another
  /// form (a rank's part, an int8 or sparse format) is left as it is.
  void packWeights() {
    // Quantized and 2:4 weights, which Kiln's own kernels read.
    std::vector<size_t> ownKernels;
    for (const auto &entry : m.entries)
      for (const auto &step : entry->steps) {
        if (step->kind != StepKind::Gemm || !runsHere(*step) ||
            step->operands.size() < 2)
          continue;
        const BufferT &a = *step->operands[0], &b = *step->operands[1];
        const size_t slot = static_cast<size_t>(b.index);
        if (b.kind != BufferKind::Weight || slot >= weights->size() ||
            packed.count({b.index, step->transpose_rhs}))
          continue;
        const float *f32 = weights->f32(slot);
        const auto &shape = m.weights[slot]->shape;
        const bool bf16Gemm = a.dtype == DType::BF16 &&
                              b.dtype == DType::BF16 && blas.hasBf16Gemm();
        if (weights->quantized(slot) || weights->sparse24(slot)) {
          ownKernels.push_back(slot);
          continue;
        }
        if (!f32 || bf16Gemm || weights->sparseRows(slot) ||
            shape.size() != 2 ||
            shape[0] * shape[1] * static_cast<int64_t>(dtypeBytes(b.dtype)) !=
                weights->bytes(slot))
          continue;
        const bool transB = step->transpose_rhs;
        const int64_t n = transB ? shape[0] : shape[1];
        const int64_t k = transB ? shape[1] : shape[0];
        PackedBPtr p = blas.pack(transB, n, k, f32, shape[1]);
        if (!p)
          continue;
        packed[{b.index, transB}] = std::move(p);
        // The packed copy is what gemms read now: the file's pages go back
        // to the page cache.
        weights->dropMappedPages(slot);
      }
    weights->moveToHugePages(ownKernels);
  }

  absl::Status error(const std::string &what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(artifact.path(), ": ", what));
  }
  /// Makes the arena at least `bytes` long (its contents are not kept).
  absl::Status reserveArena(int64_t bytes) {
    if (bytes <= arenaBytes)
      return absl::OkStatus();
    void *grown = nullptr;
    if (posix_memalign(&grown, kBlobAlignment, bytes) != 0)
      return absl::ResourceExhaustedError(absl::StrCat(
          artifact.path(), ": cannot allocate the ", bytes, "-byte arena"));
    std::free(arena);
    arena = static_cast<uint8_t *>(grown);
    arenaBytes = bytes;
    return absl::OkStatus();
  }

  CpuIsa isa = CpuIsa::Generic;
  std::string kernelIsa = "none";
  absl::Status loadKernels();
  /// `body` over rows [0, rows), split over the pool when the step's
  /// `elements` are worth waking it.
  void overRows(int64_t rows, int64_t elements, const ThreadPool::Body &body) {
    if (rows > 1 && elements >= kSplitElements)
      pool.parallelFor(rows, body);
    else
      body(0, rows);
  }
  absl::StatusOr<std::vector<NamedTensor>>
  run(const EntryT &entry, const std::vector<Tensor> &arguments);
  absl::Status
  runAttention(const StepT &step, const CallBinding &binding,
               const std::function<uint8_t *(const BufferT &)> &pointer);
};

absl::Status CpuExecutor::Impl::loadKernels() {
  if (m.kernels.empty())
    return absl::OkStatus();
  // The library for the highest x86-64 level up to `isa`; an artifact from
  // before there were several names none (x86-64).
  int blobIndex = -1, best = -1;
  std::vector<std::string> levels;
  for (size_t i = 0; i < m.blobs.size(); ++i) {
    if (m.blobs[i]->kind != BlobKind::CpuKernels)
      continue;
    std::string level = m.blobs[i]->isa.empty() ? "x86-64" : m.blobs[i]->isa;
    levels.push_back(level);
    auto needs = isaOfCpuLevel(level);
    if (!needs || static_cast<int>(*needs) > static_cast<int>(isa) ||
        static_cast<int>(*needs) <= best)
      continue;
    blobIndex = i;
    best = static_cast<int>(*needs);
    kernelIsa = level;
  }
  if (levels.empty())
    return error("damaged: kernels are listed but no CPU kernel library "
                 "is embedded");
  if (blobIndex < 0)
    return error(absl::StrCat(
        "its CPU kernels are compiled for ", absl::StrJoin(levels, ", "),
        " only, and this CPU runs up to ", std::string(isaName(isa)), " (",
        std::string(cpuLevelOf(isa)), "): recompile with kilnc --cpu ",
        std::string(cpuLevelOf(isa))));
  // The shared object is loaded from memory: no temporary file to clean up
  // or to collide with another process.
  int fd = memfd_create("kiln-kernels", MFD_CLOEXEC);
  if (fd < 0)
    return error(absl::StrCat("cannot create an in-memory file for the "
                              "kernel library: ",
                              std::strerror(errno)));
  const uint8_t *data = artifact.blobData(blobIndex);
  size_t size = artifact.blobSize(blobIndex);
  for (size_t done = 0; done < size;) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) {
      ::close(fd);
      return error("cannot stage the kernel library in memory");
    }
    done += n;
  }
  // dlopen returns an object already loaded under the same name without
  // reading the file: /proc/self/fd/N must not be the name of a library
  // still loaded (another executor's, of another artifact). The
  // descriptor stays open while the library is loaded, so no live one has
  // its number; a number whose name is still taken (a library that did not
  // unload at dlclose) is skipped.
  std::vector<int> skipped;
  std::string path = absl::StrCat("/proc/self/fd/", fd);
  while (void *taken = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD)) {
    dlclose(taken);
    skipped.push_back(fd);
    fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0 || skipped.size() > 64)
      break;
    path = absl::StrCat("/proc/self/fd/", fd);
  }
  for (int s : skipped)
    ::close(s);
  if (fd < 0 || skipped.size() > 64) {
    if (fd >= 0)
      ::close(fd);
    return error("cannot find a free name to load the kernel library under");
  }
  library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    ::close(fd);
    return error(
        absl::StrCat("cannot load the CPU kernel library: ", dlerror()));
  }
  libraryFd = fd;
  for (const auto &k : m.kernels) {
    auto fn = reinterpret_cast<KernelFn>(dlsym(library, k->symbol.c_str()));
    if (!fn)
      return error(absl::StrCat("the kernel library has no function ",
                                k->symbol, " (kernel ", k->name, ")"));
    kernels.push_back(fn);
  }
  return absl::OkStatus();
}

absl::Status CpuExecutor::Impl::runAttention(
    const StepT &step, const CallBinding &binding,
    const std::function<uint8_t *(const BufferT &)> &pointer) {
  KILN_ASSIGN_OR_RETURN(auto plan, planAttention(step, binding));
  const AttentionPlan &p = plan;
  AttentionArgs a = attentionArgs(p);
  // bf16/f16 buffers (--precision) are widened to f32 scratch: the kernel
  // accumulates in f32 and the output is rounded once.
  const BufferT &qBuffer = *step.operands[0], &kBuffer = *step.operands[1],
                &vBuffer = *step.operands[2], &outBuffer = *step.results[0];
  const int64_t qElements = a.batch * a.sq * a.heads * a.headDim;
  a.q = asF32(qBuffer.dtype, pointer(qBuffer), qElements, scratch.q, pool);
  a.out = f32Destination(outBuffer.dtype, pointer(outBuffer), qElements,
                         scratch.out);
  if (p.kCache >= 0) {
    // The new rows go into the caches first, at each sequence's position,
    // in the caches' type (that of the new rows: the verifier makes them
    // one).
    const BufferT &kCacheBuffer = *step.operands[p.kCache];
    const BufferT &vCacheBuffer = *step.operands[p.vCache];
    if (kCacheBuffer.dtype != kBuffer.dtype ||
        vCacheBuffer.dtype != vBuffer.dtype)
      return absl::InvalidArgumentError(
          absl::StrCat("attention at ", step.location,
                       ": the caches and the new keys/values differ in type"));
    const size_t elementBytes = dtypeBytes(kBuffer.dtype);
    uint8_t *kCache = pointer(kCacheBuffer);
    uint8_t *vCache = pointer(vCacheBuffer);
    const uint8_t *kNew = pointer(kBuffer), *vNew = pointer(vBuffer);
    const BufferT &positions = *step.operands[p.positions];
    KILN_ASSIGN_OR_RETURN(auto starts,
                          cacheRowStarts(step, p, pointer(positions),
                                         positions.dtype == DType::I64));
    int64_t width = p.width, rows = p.sq, maxSeq = p.cacheLength;
    int64_t visible = 0; // rows any sequence attends over
    for (int64_t b = 0; b < a.batch; ++b) {
      int64_t start = starts[b];
      std::memcpy(kCache + (b * maxSeq + start) * width * elementBytes,
                  kNew + b * rows * width * elementBytes,
                  rows * width * elementBytes);
      std::memcpy(vCache + (b * maxSeq + start) * width * elementBytes,
                  vNew + b * rows * width * elementBytes,
                  rows * width * elementBytes);
      a.offsets.push_back(start);
      visible = std::max(visible, start + rows);
    }
    if (isHalf(kBuffer.dtype)) {
      // Only the rows attended over are widened: decode costs what is
      // filled, not the cache's capacity.
      const int64_t elements = a.batch * maxSeq * width;
      for (auto [cache, into] :
           {std::pair{kCache, &scratch.k}, std::pair{vCache, &scratch.v}}) {
        if (static_cast<int64_t>(into->size()) < elements)
          into->resize(elements);
        for (int64_t b = 0; b < a.batch; ++b)
          widen(kBuffer.dtype, cache + b * maxSeq * width * elementBytes,
                into->data() + b * maxSeq * width, visible * width, pool);
      }
      a.k = scratch.k.data();
      a.v = scratch.v.data();
    } else {
      a.k = reinterpret_cast<const float *>(kCache);
      a.v = reinterpret_cast<const float *>(vCache);
    }
  } else {
    // Keys and values: [B, Sk, width] (Sk is not Sq in cross-attention).
    const int64_t kvElements = a.batch * p.sk * p.width;
    a.k = asF32(kBuffer.dtype, pointer(kBuffer), kvElements, scratch.k, pool);
    a.v = asF32(vBuffer.dtype, pointer(vBuffer), kvElements, scratch.v, pool);
    a.offsets.assign(a.batch, a.sk - a.sq);
  }
  if (p.mask >= 0) {
    const BufferT &mask = *step.operands[p.mask];
    const uint8_t *m = pointer(mask);
    a.keyMask.resize(a.batch * a.sk);
    for (int64_t i = 0; i < a.batch * a.sk; ++i) {
      switch (mask.dtype) {
      case DType::I1:
      case DType::I8:
        a.keyMask[i] = m[i] != 0;
        break;
      case DType::I32:
        a.keyMask[i] = reinterpret_cast<const int32_t *>(m)[i];
        break;
      case DType::I64:
        a.keyMask[i] = reinterpret_cast<const int64_t *>(m)[i];
        break;
      case DType::F32:
        a.keyMask[i] = reinterpret_cast<const float *>(m)[i];
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("attention at ", step.location,
                         ": key_mask has an unsupported element type"));
      }
    }
  }
  if (p.bias >= 0) {
    const BufferT &bias = *step.operands[p.bias];
    KILN_ASSIGN_OR_RETURN(auto dims, binding.dimsOf(bias));
    a.bias =
        asF32(bias.dtype, pointer(bias), product(dims), scratch.bias, pool);
  }
  attention(a, pool, isa);
  if (isHalf(outBuffer.dtype))
    narrow(outBuffer.dtype, a.out, pointer(outBuffer), qElements, pool);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>>
CpuExecutor::Impl::run(const EntryT &entry,
                       const std::vector<Tensor> &arguments) {
  auto binding = CallBinding::bind(
      artifact, entry, arguments,
      [&](const std::string &name) -> const std::vector<int64_t> * {
        auto it = caches.find(name);
        return it == caches.end() ? nullptr : &it->second.shape;
      },
      arenaPlans);
  if (!binding.ok())
    return binding.status();
  KILN_RETURN_IF_ERROR(reserveArena(binding->arenaBytes()));
  std::vector<uint8_t *> argPointers;
  for (size_t i = 0; i < entry.arguments.size(); ++i) {
    int caller = binding->callerArgument(i);
    argPointers.push_back(
        caller < 0 ? reinterpret_cast<uint8_t *>(
                         caches[entry.arguments[i]->name].data.data())
                   : const_cast<uint8_t *>(arguments[caller].bytes.data()));
  }
  auto dimsOf = [&](const BufferT &b) { return binding->dimsOf(b); };

  auto pointer = [&](const BufferT &b) -> uint8_t * {
    switch (b.kind) {
    case BufferKind::Arena:
      return arena + binding->arenaOffset(b);
    case BufferKind::Argument:
      return argPointers[b.index];
    case BufferKind::Weight:
      return const_cast<uint8_t *>(weights->data(b.index));
    }
    return nullptr;
  };

  std::vector<void *> buffers;
  std::vector<int64_t> shapes;
  using Clock = std::chrono::steady_clock;
  Clock::time_point stepStart;
  auto account = [&](const StepT &step) {
    profile.add(
        stepName(m, step),
        std::chrono::duration<double>(Clock::now() - stepStart).count());
  };
  for (const auto &stepPtr : entry.steps) {
    const StepT &step = *stepPtr;
    if (!runsHere(step))
      continue;
    if (profiling)
      stepStart = Clock::now();
    switch (step.kind) {
    case StepKind::Kernel: {
      buffers.clear();
      shapes.clear();
      // Operands then results; a work range cuts the first result's dim 0
      // (every result of a kernel has one shape).
      std::vector<int64_t> dims;
      const size_t operands = step.operands.size();
      for (size_t i = 0; i < operands + step.results.size(); ++i) {
        const BufferT &b =
            i < operands ? *step.operands[i] : *step.results[i - operands];
        KILN_ASSIGN_OR_RETURN(auto d, dimsOf(b));
        buffers.push_back(pointer(b));
        shapes.insert(shapes.end(), d.begin(), d.end());
        if (i == operands)
          dims = std::move(d);
      }
      KernelFn fn = kernels[step.kernel];
      int64_t rows = dims.empty() ? 1 : dims[0];
      if (!m.kernels[step.kernel]->splittable) {
        fn(buffers.data(), shapes.data(), 0, 1);
      } else {
        overRows(rows, product(dims), [&](int64_t begin, int64_t end) {
          fn(buffers.data(), shapes.data(), begin, end);
        });
      }
      break;
    }
    case StepKind::Gemm: {
      KILN_ASSIGN_OR_RETURN(auto plan, planGemm(step, *binding));
      const GemmPlan &g = plan;
      // An operand as f32: a weight's f32 copy (HostWeights makes one for
      // bf16/f16 weights library steps read), an f32 buffer itself, or a
      // bf16/f16 one widened here. A bf16/f16 C is computed in f32 and
      // rounded once, after the epilogue.
      auto operand =
          [&](int i,
              std::vector<float> &into) -> absl::StatusOr<const float *> {
        if (i < 0)
          return nullptr;
        const BufferT &b = *step.operands[i];
        if (b.kind == BufferKind::Weight && weights->f32(b.index))
          return weights->f32(b.index);
        if (!isHalf(b.dtype))
          return reinterpret_cast<const float *>(pointer(b));
        KILN_ASSIGN_OR_RETURN(auto dims, dimsOf(b));
        return asF32(b.dtype, pointer(b), product(dims), into, pool);
      };
      const BufferT &result = *step.results[0];
      int64_t cElements = g.batch * g.m * g.n;
      float *c =
          f32Destination(result.dtype, pointer(result), cElements, scratch.c);
      const BufferT &aBuffer = *step.operands[0], &bBuffer = *step.operands[1];
      // A B stored int8/int4 (--quantize), compressed 2:4 or as sparse rows
      // (--prune): its stored rows are C's columns. Its format has g.n rows
      // and g.k columns: the step's dims are the weight's shape
      // (validateBuffer), read along the output axis (validateSteps), which
      // is what HostWeights sized the format by.
      const bool weightB = bBuffer.kind == BufferKind::Weight;
      const QuantizedMatrix *quantized =
          weightB ? weights->quantized(bBuffer.index) : nullptr;
      const Sparse24Matrix *sparse =
          weightB ? weights->sparse24(bBuffer.index) : nullptr;
      const SparseRowsMatrix *rows =
          weightB ? weights->sparseRows(bBuffer.index) : nullptr;
      KILN_ASSIGN_OR_RETURN(const float *bias, operand(g.bias, scratch.bias));
      KILN_ASSIGN_OR_RETURN(const float *residual,
                            operand(g.residual, scratch.residual));
      bool epilogueDone = false;
      if (quantized || sparse || rows) {
        KILN_ASSIGN_OR_RETURN(const float *a, operand(0, scratch.a));
        // The quantized kernels apply the epilogue to each range of
        // columns they finish (rows p.c / n ... of C are this product's).
        epilogueDone = quantized != nullptr && g.hasEpilogue();
        forEachProduct(g, [&](const Product &p) {
          const int64_t row = p.c / g.n;
          ColumnsBody epilogue;
          if (epilogueDone)
            epilogue = [&](int64_t begin, int64_t end) {
              applyGemmEpilogue(g, c, bias, residual, row, row + p.m, begin,
                                end);
            };
          if (quantized)
            quantizedGemm(*quantized, p.m, a + p.a, g.lda, c + p.c, g.n, pool,
                          blas, isa, scratch.b, epilogue);
          else if (sparse)
            sparse24Gemm(*sparse, p.m, a + p.a, g.lda, c + p.c, g.n, pool, blas,
                         isa, scratch.b);
          else
            sparseRowsGemm(*rows, p.m, a + p.a, g.lda, c + p.c, g.n, pool, blas,
                           isa, scratch.b);
          return true;
        });
      }
      bool done = quantized != nullptr || sparse != nullptr || rows != nullptr;
      // bf16 A and B go to the library's bf16 gemm as stored (f32
      // accumulation, f32 C); otherwise, or if it declines, both are read
      // as f32.
      if (!done && blas.hasBf16Gemm() && aBuffer.dtype == DType::BF16 &&
          bBuffer.dtype == DType::BF16) {
        auto *a = reinterpret_cast<const uint16_t *>(pointer(aBuffer));
        auto *b = reinterpret_cast<const uint16_t *>(pointer(bBuffer));
        done = forEachProduct(g, [&](const Product &p) {
          return blas.gemmBf16(p.transA, g.transB, p.m, g.n, g.k, a + p.a,
                               g.lda, b + p.b, g.ldb, c + p.c, g.n);
        });
      }
      // A packed f32 weight: one product, the epilogue in it.
      auto packedB = weightB && g.folded && !done
                         ? packed.find({bBuffer.index, g.transB})
                         : packed.end();
      const PackedShape shape = packedB != packed.end()
                                    ? packedShape(*packedB->second)
                                    : PackedShape{};
      if (packedB != packed.end() && shape.n == g.n && shape.k == g.k &&
          g.ldb == (g.transB ? g.k : g.n)) {
        KILN_ASSIGN_OR_RETURN(const float *a, operand(0, scratch.a));
        done = epilogueDone =
            blas.gemmPacked(*packedB->second, g.batch * g.m, a, g.lda, c,
                            PackedEpilogue{bias, residual, g.activation}, isa);
      }
      if (!done) {
        KILN_ASSIGN_OR_RETURN(const float *a, operand(0, scratch.a));
        KILN_ASSIGN_OR_RETURN(const float *b, operand(1, scratch.b));
        forEachProduct(g, [&](const Product &p) {
          blas.sgemm(p.transA, g.transB, p.m, g.n, g.k, a + p.a, g.lda, b + p.b,
                     g.ldb, c + p.c, g.n);
          return true;
        });
      }
      if (g.hasEpilogue() && !epilogueDone) {
        int64_t rows = g.batch * g.m;
        overRows(rows, rows * g.n, [&](int64_t begin, int64_t end) {
          applyGemmEpilogue(g, c, bias, residual, begin, end);
        });
      }
      if (isHalf(result.dtype))
        narrow(result.dtype, c, pointer(result), cElements, pool);
      break;
    }
    case StepKind::Norm: {
      KILN_ASSIGN_OR_RETURN(auto plan, planNorm(step, *binding));
      // Scale and bias are weights (with an f32 copy); a bf16/f16 input
      // is widened and the result rounded once.
      auto in = [&](size_t i) {
        const BufferT &b = *step.operands[i];
        return b.kind == BufferKind::Weight
                   ? weights->f32(b.index)
                   : reinterpret_cast<const float *>(pointer(b));
      };
      const int64_t elements = plan.rows * plan.width;
      const BufferT &input = *step.operands[0], &result = *step.results[0];
      const float *x =
          asF32(input.dtype, pointer(input), elements, scratch.a, pool);
      const float *bias = plan.bias ? in(2) : nullptr;
      float *out =
          f32Destination(result.dtype, pointer(result), elements, scratch.c);
      overRows(plan.rows, elements, [&](int64_t begin, int64_t end) {
        normalizeRows(plan, x, in(1), bias, out, begin, end);
      });
      if (isHalf(result.dtype))
        narrow(result.dtype, out, pointer(result), elements, pool);
      break;
    }
    case StepKind::Attention:
      KILN_RETURN_IF_ERROR(runAttention(step, *binding, pointer));
      break;
    case StepKind::Collective: {
      const std::string where =
          absl::StrCat("step ", &stepPtr - entry.steps.data(), " of ",
                       entry.name, " (", step.location, ")");
      KILN_ASSIGN_OR_RETURN(auto inDims, dimsOf(*step.operands[0]));
      KILN_ASSIGN_OR_RETURN(auto outDims, dimsOf(*step.results[0]));
      KILN_RETURN_IF_ERROR(runCollectiveStep(
          step, stage, communicator, stageLink, pointer(*step.operands[0]),
          pointer(*step.results[0]), inDims, outDims, where));
      break;
    }
    }
    if (profiling)
      account(step);
    if (stepHook) {
      std::vector<StepBuffer> results;
      for (const auto &r : step.results) {
        KILN_ASSIGN_OR_RETURN(auto dims, dimsOf(*r));
        results.push_back({pointer(*r), r->dtype, std::move(dims)});
      }
      stepHook(entry.name, &stepPtr - entry.steps.data(), results);
    }
  }

  std::vector<NamedTensor> outputs;
  if (stage != stages - 1)
    return outputs; // the last stage's
  for (const auto &r : entry.results) {
    if (isCache(r->role))
      continue;
    KILN_ASSIGN_OR_RETURN(auto dims, dimsOf(*r->buffer));
    Tensor t = Tensor::zeros(r->buffer->dtype, dims);
    std::memcpy(t.bytes.data(), pointer(*r->buffer), t.bytes.size());
    outputs.push_back({r->name, std::move(t)});
  }
  return outputs;
}

//===----------------------------------------------------------------------===//

CpuExecutor::CpuExecutor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CpuExecutor::~CpuExecutor() = default;

absl::StatusOr<std::unique_ptr<CpuExecutor>>
CpuExecutor::create(const Artifact &artifact, const CpuOptions &options) {
  KILN_RETURN_IF_ERROR(checkArtifact(artifact, "cpu", "the CPU"));
  auto impl = std::make_unique<Impl>(artifact, options.threads);
  impl->profiling = options.profile;
  impl->stepHook = options.stepHook;
  impl->communicator = options.communicator;
  impl->stages = std::max<int64_t>(1, impl->m.pipeline_parallel);
  impl->stage = options.stage;
  impl->stageLink = options.stageLink;
  if (impl->stage < 0 || impl->stage >= impl->stages)
    return absl::InvalidArgumentError(
        absl::StrCat(artifact.path(), ": has no pipeline stage ", options.stage,
                     " (it has ", impl->stages, ")"));
  impl->isa = hostSupports(options.isa) ? options.isa : hostIsa();
  KILN_RETURN_IF_ERROR(impl->loadKernels());
  // The bf16/f16 weights library steps read get an f32 copy (the BLAS and
  // the norm and attention code are f32; kernels read them as stored),
  // except a gemm B the bf16 gemm reads as stored (a gemm it declines
  // widens it then).
  std::vector<bool> widen(impl->m.weights.size(), false);
  // A pipeline stage holds the weights and kv caches its steps read.
  StageNeeds needs = stageNeeds(artifact, impl->stage);
  impl->stageCaches = std::move(needs.caches);
  for (const auto &entry : impl->m.entries)
    for (const auto &step : entry->steps) {
      if (step->kind == StepKind::Kernel || !impl->runsHere(*step))
        continue;
      for (size_t o = 0; o < step->operands.size(); ++o) {
        const BufferT &b = *step->operands[o];
        bool bf16Gemm =
            step->kind == StepKind::Gemm && o == 1 && b.dtype == DType::BF16 &&
            step->operands[0]->dtype == DType::BF16 && impl->blas.hasBf16Gemm();
        if (b.kind == BufferKind::Weight &&
            static_cast<size_t>(b.index) < widen.size() && !bf16Gemm)
          widen[b.index] = true;
      }
    }
  KILN_ASSIGN_OR_RETURN(auto weights,
                        HostWeights::load(artifact, options.weightsDir, "CPU",
                                          widen, options.rank, needs.weights));
  impl->weights = std::move(weights);
  impl->packWeights();
  int64_t arenaBytes = 0;
  for (const auto &e : impl->m.entries)
    arenaBytes = std::max(arenaBytes, e->arena_bytes);
  KILN_RETURN_IF_ERROR(impl->reserveArena(arenaBytes));
  return std::unique_ptr<CpuExecutor>(new CpuExecutor(std::move(impl)));
}

absl::Status CpuExecutor::resetCaches(int64_t batch, int64_t length) {
  Impl &s = *impl_;
  KILN_RETURN_IF_ERROR(checkCacheShape(s.artifact, batch, length));
  KILN_ASSIGN_OR_RETURN(auto caches, cacheArguments(s.artifact));
  for (const CacheArgument &c : caches) {
    CacheSlot &slot = s.caches[c.name];
    int64_t bytes = checkedBytes({batch, length, c.width}, dtypeBytes(c.dtype));
    if (bytes < 0)
      return absl::InvalidArgumentError(
          absl::StrCat("impossible kv cache shape for ", c.name));
    // Another pipeline stage's cache: its shape binds the entry's symbols,
    // its bytes live on that stage.
    if (s.stages > 1 && !s.stageCaches.count(c.name))
      bytes = 0;
    try {
      slot.data.assign(bytes, 0);
    } catch (const std::exception &) { // bad_alloc, length_error
      s.caches.clear();
      return absl::ResourceExhaustedError(absl::StrCat(
          s.artifact.path(), ": cannot allocate the ", bytes, "-byte kv cache ",
          c.name, " (batch ", batch, ", ", length, " positions)"));
    }
    slot.shape = {batch, length, c.width};
    slot.dtype = c.dtype;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>>
CpuExecutor::run(const std::string &entry,
                 const std::vector<Tensor> &arguments) {
  KILN_ASSIGN_OR_RETURN(auto found, findEntry(impl_->artifact, entry));
  return impl_->run(*found, arguments);
}

std::vector<StepProfile> CpuExecutor::profile() const {
  return impl_->profile.byTime();
}

int CpuExecutor::threads() const { return impl_->pool.threads(); }
const std::string &CpuExecutor::blasProvider() const {
  return impl_->blas.provider();
}
const std::string &CpuExecutor::kernelIsa() const { return impl_->kernelIsa; }
int64_t CpuExecutor::arenaBytes() const { return impl_->arenaBytes; }
int64_t CpuExecutor::cacheBytes() const {
  int64_t bytes = 0;
  for (const auto &[name, slot] : impl_->caches)
    bytes += slot.data.size();
  return bytes;
}

} // namespace kiln::rt
