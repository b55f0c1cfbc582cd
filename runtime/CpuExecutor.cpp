//===- CpuExecutor.cpp - running an artifact's step lists on the CPU ------===//

#include "runtime/CpuExecutor.h"

#include "frontend/SafeTensors.h"
#include "runtime/Attention.h"
#include "runtime/Blas.h"
#include "runtime/ThreadPool.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <functional>
#include <map>
#include <sys/mman.h>
#include <unistd.h>

namespace kiln::rt {

using namespace artifact;

namespace {

using KernelFn = void (*)(void **, const int64_t *, int64_t, int64_t);

/// A kernel whose result has fewer elements runs on one thread: waking the
/// pool costs more than the work.
constexpr int64_t kSplitElements = 1 << 15;
constexpr size_t kMaxExprDepth = 16;

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/// Evaluates a (validated) expression. Sums and products wrap instead of
/// overflowing: a crafted expression gives a nonsense dim, which the
/// capacity check of every buffer then refuses.
int64_t evalDim(const DimT &dim, const std::vector<int64_t> &symbols) {
  int64_t stack[kMaxExprDepth];
  size_t top = 0;
  for (const Term &t : dim.terms) {
    switch (t.op()) {
    case ExprOp::Const:
      stack[top++] = t.value();
      continue;
    case ExprOp::Symbol:
      stack[top++] = symbols[t.value()];
      continue;
    default:
      break;
    }
    int64_t rhs = stack[--top], lhs = stack[--top];
    switch (t.op()) {
    case ExprOp::Add:
      stack[top++] = static_cast<int64_t>(static_cast<uint64_t>(lhs) +
                                          static_cast<uint64_t>(rhs));
      break;
    case ExprOp::Mul:
      stack[top++] = static_cast<int64_t>(static_cast<uint64_t>(lhs) *
                                          static_cast<uint64_t>(rhs));
      break;
    case ExprOp::FloorDiv:
      stack[top++] = floorDiv(lhs, rhs);
      break;
    case ExprOp::CeilDiv:
      stack[top++] = lhs == INT64_MIN ? lhs : -floorDiv(-lhs, rhs);
      break;
    case ExprOp::Mod:
      stack[top++] = lhs - floorDiv(lhs, rhs) * rhs;
      break;
    default:
      break;
    }
  }
  return stack[0];
}

/// Checks an expression is well formed (stack depth, symbol indices,
/// divisions by positive constants only).
bool validDim(const DimT &dim, size_t symbols) {
  size_t depth = 0;
  for (size_t i = 0; i < dim.terms.size(); ++i) {
    const Term &t = dim.terms[i];
    switch (t.op()) {
    case ExprOp::Const:
      ++depth;
      break;
    case ExprOp::Symbol:
      if (t.value() < 0 || static_cast<size_t>(t.value()) >= symbols)
        return false;
      ++depth;
      break;
    case ExprOp::Add:
    case ExprOp::Mul:
      if (depth < 2)
        return false;
      --depth;
      break;
    case ExprOp::FloorDiv:
    case ExprOp::CeilDiv:
    case ExprOp::Mod:
      if (depth < 2 || dim.terms[i - 1].op() != ExprOp::Const ||
          dim.terms[i - 1].value() <= 0)
        return false;
      --depth;
      break;
    default:
      return false;
    }
    if (depth > kMaxExprDepth)
      return false;
  }
  return depth == 1;
}

std::vector<int64_t> evalDims(const std::vector<std::unique_ptr<DimT>> &dims,
                              const std::vector<int64_t> &symbols) {
  std::vector<int64_t> out;
  out.reserve(dims.size());
  for (const auto &d : dims)
    out.push_back(evalDim(*d, symbols));
  return out;
}

/// The product of the first `count` dims (all by default).
int64_t product(const std::vector<int64_t> &dims, size_t count) {
  int64_t n = 1;
  for (auto it = dims.begin(); it != dims.begin() + count; ++it)
    n *= *it;
  return n;
}
int64_t product(const std::vector<int64_t> &dims) {
  return product(dims, dims.size());
}

std::string formatDims(const std::vector<int64_t> &dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

/// Whether `dim` is the constant `value`.
bool isConst(const DimT &dim, int64_t value) {
  return dim.terms.size() == 1 && dim.terms[0].op() == ExprOp::Const &&
         dim.terms[0].value() == value;
}

bool sameDims(const std::vector<std::unique_ptr<DimT>> &a,
              const std::vector<std::unique_ptr<DimT>> &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i]->terms.size() != b[i]->terms.size())
      return false;
    for (size_t t = 0; t < a[i]->terms.size(); ++t)
      if (a[i]->terms[t].op() != b[i]->terms[t].op() ||
          a[i]->terms[t].value() != b[i]->terms[t].value())
        return false;
  }
  return true;
}

/// Bytes of a buffer of `dims`, or -1 for a negative dim or an overflow.
int64_t checkedBytes(const std::vector<int64_t> &dims, size_t elementBytes) {
  int64_t bytes = static_cast<int64_t>(elementBytes);
  for (int64_t d : dims)
    if (d < 0 || __builtin_mul_overflow(bytes, d, &bytes))
      return -1;
  return bytes;
}

struct CacheSlot {
  int64_t width = 0;
  std::vector<float> data;
};

} // namespace

struct CpuExecutor::Impl {
  const Artifact &artifact;
  const ManifestT &m;
  ThreadPool pool;
  Blas blas;
  void *library = nullptr;
  std::vector<KernelFn> kernels;
  std::vector<const uint8_t *> weights;
  std::vector<std::vector<float>> ownedWeights;
  std::unique_ptr<WeightStore> store;
  uint8_t *arena = nullptr;
  int64_t arenaBytes = 0;
  std::map<std::string, CacheSlot> caches;
  int64_t cacheBatch = 0, cacheLength = 0;
  bool profiling = false;
  std::map<std::string, StepProfile> profile;

  Impl(const Artifact &a, int threads)
      : artifact(a), m(a.manifest()), pool(threads), blas(pool) {}
  ~Impl() {
    std::free(arena);
    if (library)
      dlclose(library);
  }

  absl::Status error(const std::string &what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(artifact.path(), ": ", what));
  }

  absl::Status loadKernels();
  absl::Status loadWeights(const std::string &weightsDir);
  absl::Status validate();
  absl::Status validateBuffer(const EntryT &entry, const BufferT &buffer,
                              const std::string &where);
  absl::StatusOr<std::vector<NamedTensor>>
  run(const EntryT &entry, const std::vector<Tensor> &arguments);
  using DimsOf =
      std::function<absl::StatusOr<std::vector<int64_t>>(const BufferT &)>;
  absl::Status runAttention(const StepT &step, const DimsOf &dimsOf,
                            const std::function<uint8_t *(const BufferT &)>
                                &pointer);
};

absl::Status CpuExecutor::Impl::loadKernels() {
  int blobIndex = -1;
  for (size_t i = 0; i < m.blobs.size(); ++i)
    if (m.blobs[i]->kind == BlobKind::CpuKernels)
      blobIndex = i;
  if (m.kernels.empty())
    return absl::OkStatus();
  if (blobIndex < 0)
    return error("damaged: kernels are listed but no CPU kernel library "
                 "is embedded");
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
  std::string path = absl::StrCat("/proc/self/fd/", fd);
  library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ::close(fd);
  if (!library)
    return error(absl::StrCat("cannot load the CPU kernel library: ",
                              dlerror()));
  for (const auto &k : m.kernels) {
    auto fn = reinterpret_cast<KernelFn>(dlsym(library, k->symbol.c_str()));
    if (!fn)
      return error(absl::StrCat("the kernel library has no function ",
                                k->symbol, " (kernel ", k->name, ")"));
    kernels.push_back(fn);
  }
  return absl::OkStatus();
}

absl::Status CpuExecutor::Impl::loadWeights(const std::string &weightsDir) {
  weights.assign(m.weights.size(), nullptr);
  ownedWeights.resize(m.weights.size());
  for (size_t i = 0; i < m.weights.size(); ++i) {
    const WeightT &w = *m.weights[i];
    if (w.dtype != DType::F32)
      return error(absl::StrCat("weight '", w.name, "' is ",
                                dtypeName(w.dtype),
                                "; the CPU executor takes f32 weights"));
    int64_t bytes = checkedBytes(w.shape, 4);
    if (bytes < 0)
      return error(absl::StrCat("damaged: weight '", w.name,
                                "' has an impossible shape"));
    if (w.blob >= 0) {
      if (static_cast<size_t>(w.blob) >= m.blobs.size() ||
          m.blobs[w.blob]->kind != BlobKind::Weight ||
          artifact.blobSize(w.blob) != static_cast<uint64_t>(bytes))
        return error(absl::StrCat("damaged: weight '", w.name,
                                  "' does not match its blob"));
      weights[i] = artifact.blobData(w.blob);
      continue;
    }
    if (weightsDir.empty())
      return error("its weights are external: pass --weights MODEL_DIR (the "
                   "Hugging Face folder it was compiled from)");
    if (!store) {
      auto opened = WeightStore::openFolder(weightsDir);
      if (!opened.ok())
        return opened.status();
      store = std::move(*opened);
    }
    auto view = store->get(w.source);
    if (!view.ok())
      return absl::NotFoundError(absl::StrCat(
          "--weights ", weightsDir, ": ", view.status().message(),
          " (the artifact needs it)"));
    const TensorView &t = **view;
    auto mismatch = [&](const std::string &what) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--weights ", weightsDir, ": tensor '", w.source, "' ", what,
          "; these are not the weights ", artifact.path(),
          " was compiled with"));
    };
    if (t.shape != w.shape)
      return mismatch(absl::StrCat("has shape ", formatDims(t.shape),
                                   ", the artifact expects ",
                                   formatDims(w.shape)));
    if (w.source_dtype != kiln::dtypeName(t.dtype))
      return mismatch(absl::StrCat("is ", kiln::dtypeName(t.dtype),
                                   ", the artifact expects ",
                                   w.source_dtype));
    if (checksum(t.data, t.bytes) != w.source_hash)
      return mismatch("has different contents (hash mismatch)");
    if (t.dtype == kiln::DType::F32 &&
        reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0) {
      weights[i] = t.data;
    } else {
      ownedWeights[i] = t.toFloat();
      weights[i] = reinterpret_cast<const uint8_t *>(ownedWeights[i].data());
    }
  }
  return absl::OkStatus();
}

absl::Status CpuExecutor::Impl::validateBuffer(const EntryT &entry,
                                               const BufferT &buffer,
                                               const std::string &where) {
  // Every buffer's dims must fit its storage: then no step that respects
  // the dims it is given reads or writes outside it.
  for (const auto &d : buffer.dims)
    if (!validDim(*d, entry.symbols.size()))
      return error(absl::StrCat("damaged: ", where, " has a malformed dim"));
  if (buffer.kind == BufferKind::Argument && buffer.index >= 0 &&
      static_cast<size_t>(buffer.index) < entry.arguments.size()) {
    const ArgumentT &arg = *entry.arguments[buffer.index];
    if (buffer.dtype != arg.dtype || !sameDims(buffer.dims, arg.dims))
      return error(absl::StrCat("damaged: ", where, " disagrees with argument ",
                                arg.name));
  }
  if (buffer.kind == BufferKind::Weight && buffer.index >= 0 &&
      static_cast<size_t>(buffer.index) < m.weights.size()) {
    const WeightT &w = *m.weights[buffer.index];
    bool same = buffer.dtype == w.dtype && buffer.dims.size() == w.shape.size();
    for (size_t i = 0; same && i < w.shape.size(); ++i)
      same = isConst(*buffer.dims[i], w.shape[i]);
    if (!same)
      return error(absl::StrCat("damaged: ", where, " disagrees with weight ",
                                w.name));
  }
  switch (buffer.kind) {
  case BufferKind::Arena: {
    std::vector<int64_t> maxima;
    for (const auto &s : entry.symbols)
      maxima.push_back(s->max);
    int64_t bytes =
        checkedBytes(evalDims(buffer.dims, maxima), dtypeBytes(buffer.dtype));
    if (buffer.index < 0 || bytes < 0 || buffer.index > entry.arena_bytes ||
        bytes > entry.arena_bytes - buffer.index)
      return error(absl::StrCat("damaged: ", where,
                                " lies outside the arena"));
    return absl::OkStatus();
  }
  case BufferKind::Argument:
    if (buffer.index < 0 ||
        static_cast<size_t>(buffer.index) >= entry.arguments.size())
      return error(absl::StrCat("damaged: ", where,
                                " names a missing argument"));
    return absl::OkStatus();
  case BufferKind::Weight:
    if (buffer.index < 0 ||
        static_cast<size_t>(buffer.index) >= m.weights.size())
      return error(absl::StrCat("damaged: ", where,
                                " names a missing weight"));
    return absl::OkStatus();
  }
  return error(absl::StrCat("damaged: ", where, " has an unknown kind"));
}

absl::Status CpuExecutor::Impl::validate() {
  for (const auto &entry : m.entries) {
    for (const auto &s : entry->symbols)
      if (s->argument >= entry->arguments.size() ||
          s->dim >= entry->arguments[s->argument]->dims.size() || s->max < 1)
        return error(absl::StrCat("damaged: symbol ", s->name, " of ",
                                  entry->name, " is malformed"));
    for (const auto &a : entry->arguments)
      for (const auto &d : a->dims)
        if (!validDim(*d, entry->symbols.size()))
          return error(absl::StrCat("damaged: argument ", a->name,
                                    " has a malformed dim"));
    for (size_t i = 0; i < entry->steps.size(); ++i) {
      const StepT &step = *entry->steps[i];
      std::string where = absl::StrCat("step ", i, " of ", entry->name);
      size_t operands = 0, results = 1;
      switch (step.kind) {
      case StepKind::Kernel: {
        if (step.kernel >= kernels.size())
          return error("damaged: " + where + " names a missing kernel");
        // The buffers must be those the kernel was compiled for.
        const KernelT &k = *m.kernels[step.kernel];
        operands = step.operands.size();
        if (k.buffers.size() != operands + 1 || step.results.size() != 1)
          return error("damaged: " + where + " does not match kernel " +
                       k.name);
        for (size_t b = 0; b < k.buffers.size(); ++b) {
          const BufferT &buffer =
              b < operands ? *step.operands[b] : *step.results[0];
          const KernelBufferT &kb = *k.buffers[b];
          bool same = buffer.dtype == kb.dtype &&
                      buffer.dims.size() == kb.shape.size();
          for (size_t d = 0; same && d < kb.shape.size(); ++d)
            same = kb.shape[d] < 0 || isConst(*buffer.dims[d], kb.shape[d]);
          if (!same)
            return error("damaged: " + where + " does not match kernel " +
                         k.name);
        }
        break;
      }
      case StepKind::Gemm:
        operands = 2;
        break;
      case StepKind::Attention:
        operands = 3 + step.has_key_mask + step.has_bias + 3 * step.has_cache;
        results = step.has_cache ? 3 : 1;
        if (step.num_heads < 1 || step.num_kv_heads < 1 ||
            step.num_heads % step.num_kv_heads != 0)
          return error("damaged: " + where + " has bad head counts");
        break;
      default:
        return error("damaged: " + where + " has an unknown kind");
      }
      if (step.operands.size() != operands || step.results.size() != results)
        return error("damaged: " + where + " has the wrong buffer count");
      for (const auto &b : step.operands)
        if (absl::Status s = validateBuffer(*entry, *b, where); !s.ok())
          return s;
      for (const auto &b : step.results)
        if (absl::Status s = validateBuffer(*entry, *b, where); !s.ok())
          return s;
      if (step.results[0]->kind != BufferKind::Arena)
        return error("damaged: " + where + " writes outside the arena");
      if (step.kind != StepKind::Kernel) {
        for (const auto &b : step.operands) {
          bool index = step.has_cache && &b == &step.operands.back();
          bool mask = step.has_key_mask && &b == &step.operands[3];
          if (!index && !mask && b->dtype != DType::F32)
            return error(absl::StrCat(
                where, " (", step.location, ") computes in ",
                dtypeName(b->dtype), "; the CPU executor runs f32 ",
                step.kind == StepKind::Gemm ? "gemms" : "attention"));
        }
      }
      if (step.has_cache)
        for (size_t c : {step.operands.size() - 3, step.operands.size() - 2}) {
          const BufferT &b = *step.operands[c];
          if (b.kind != BufferKind::Argument ||
              !isCacheName(entry->arguments[b.index]->name))
            return error("damaged: " + where + " has a cache that is not a "
                         "cache argument");
        }
    }
    for (const auto &r : entry->results)
      if (absl::Status s = validateBuffer(*entry, *r->buffer,
                                          "result " + r->name);
          !s.ok())
        return s;
  }
  return absl::OkStatus();
}

absl::Status CpuExecutor::Impl::runAttention(
    const StepT &step, const DimsOf &dimsOf,
    const std::function<uint8_t *(const BufferT &)> &pointer) {
  std::vector<std::vector<int64_t>> all;
  for (const auto &b : step.operands) {
    auto d = dimsOf(*b);
    if (!d.ok())
      return d.status();
    all.push_back(std::move(*d));
  }
  auto out = dimsOf(*step.results[0]);
  if (!out.ok())
    return out.status();
  auto dims = [&](size_t i) { return all[i]; };
  std::vector<int64_t> q = dims(0), k = dims(1), v = dims(2);
  auto fail = [&](const std::string &what) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention at ", step.location, ": ", what));
  };
  if (*out != q)
    return fail("the result is not the query's shape");
  if (q.size() != 3 || k.size() != 3 || v != k || k[0] != q[0] ||
      q[2] % step.num_heads != 0)
    return fail(absl::StrCat("query ", formatDims(q), ", key ", formatDims(k),
                             " and value ", formatDims(v), " do not agree"));
  AttentionArgs a;
  a.batch = q[0];
  a.sq = q[1];
  a.heads = step.num_heads;
  a.kvHeads = step.num_kv_heads;
  a.headDim = q[2] / a.heads;
  if (k[2] != a.kvHeads * a.headDim)
    return fail(absl::StrCat("key width ", k[2], " is not ", a.kvHeads,
                             " heads of ", a.headDim));
  a.q = reinterpret_cast<const float *>(pointer(*step.operands[0]));
  a.k = reinterpret_cast<const float *>(pointer(*step.operands[1]));
  a.v = reinterpret_cast<const float *>(pointer(*step.operands[2]));
  a.out = reinterpret_cast<float *>(pointer(*step.results[0]));
  a.scale = static_cast<float>(step.scale);
  a.causal =
      step.mask == MaskKind::Causal || step.mask == MaskKind::CausalPadding;
  a.sk = k[1];
  size_t next = 3;
  const BufferT *maskBuffer =
      step.has_key_mask ? step.operands[next++].get() : nullptr;
  const BufferT *biasBuffer =
      step.has_bias ? step.operands[next++].get() : nullptr;

  if (step.has_cache) {
    std::vector<int64_t> kc = dims(next), vc = dims(next + 1),
                         pos = dims(next + 2);
    if (kc.size() != 3 || vc != kc || kc[0] != a.batch || kc[2] != k[2] ||
        pos != std::vector<int64_t>{a.batch})
      return fail(absl::StrCat("caches ", formatDims(kc), ", new rows ",
                               formatDims(k), " and positions ",
                               formatDims(pos), " do not agree"));
    auto *kCache = reinterpret_cast<float *>(pointer(*step.operands[next]));
    auto *vCache = reinterpret_cast<float *>(pointer(*step.operands[next + 1]));
    const uint8_t *p = pointer(*step.operands[next + 2]);
    bool wide = step.operands[next + 2]->dtype == DType::I64;
    int64_t width = k[2], rows = a.sq, maxSeq = kc[1];
    for (int64_t b = 0; b < a.batch; ++b) {
      int64_t start = wide ? reinterpret_cast<const int64_t *>(p)[b]
                           : reinterpret_cast<const int32_t *>(p)[b];
      if (start < 0 || start + rows > maxSeq)
        return fail(absl::StrCat("kv cache overflow: sequence ", b,
                                 " writes rows [", start, ", ", start + rows,
                                 ") of a cache of ", maxSeq));
      std::memcpy(kCache + (b * maxSeq + start) * width,
                  a.k + b * rows * width, rows * width * 4);
      std::memcpy(vCache + (b * maxSeq + start) * width,
                  a.v + b * rows * width, rows * width * 4);
      a.offsets.push_back(start);
    }
    a.k = kCache;
    a.v = vCache;
    a.sk = maxSeq;
  } else {
    a.offsets.assign(a.batch, a.sk - a.sq);
  }

  if (maskBuffer) {
    std::vector<int64_t> md = dims(3);
    if (md != std::vector<int64_t>{a.batch, a.sk})
      return fail(absl::StrCat("key_mask ", formatDims(md),
                               " is not [batch, key_len] = ",
                               formatDims({a.batch, a.sk})));
    const uint8_t *p = pointer(*maskBuffer);
    a.keyMask.resize(a.batch * a.sk);
    for (int64_t i = 0; i < a.batch * a.sk; ++i) {
      switch (maskBuffer->dtype) {
      case DType::I1:
      case DType::I8:
        a.keyMask[i] = p[i] != 0;
        break;
      case DType::I32:
        a.keyMask[i] = reinterpret_cast<const int32_t *>(p)[i];
        break;
      case DType::I64:
        a.keyMask[i] = reinterpret_cast<const int64_t *>(p)[i];
        break;
      case DType::F32:
        a.keyMask[i] = reinterpret_cast<const float *>(p)[i];
        break;
      default:
        return fail("key_mask has an unsupported element type");
      }
    }
  }
  if (biasBuffer) {
    std::vector<int64_t> bd = dims(step.has_key_mask ? 4 : 3);
    std::vector<int64_t> full = {a.batch, a.heads, a.sq, a.sk};
    if (bd.size() != 4)
      return fail("bias is not rank 4");
    int64_t stride = 1;
    for (int i = 3; i >= 0; --i) {
      if (bd[i] != 1 && bd[i] != full[i])
        return fail(absl::StrCat("bias ", formatDims(bd),
                                 " does not broadcast to ", formatDims(full)));
      a.biasStrides[i] = bd[i] == 1 ? 0 : stride;
      stride *= bd[i];
    }
    a.bias = reinterpret_cast<const float *>(pointer(*biasBuffer));
  }
  attention(a, pool);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>>
CpuExecutor::Impl::run(const EntryT &entry,
                       const std::vector<Tensor> &arguments) {
  // Bind the arguments: the caller's, then the caches.
  std::vector<uint8_t *> argPointers(entry.arguments.size());
  std::vector<std::vector<int64_t>> argShapes(entry.arguments.size());
  size_t next = 0;
  for (size_t i = 0; i < entry.arguments.size(); ++i) {
    const ArgumentT &arg = *entry.arguments[i];
    if (isCacheName(arg.name)) {
      auto it = caches.find(arg.name);
      if (it == caches.end())
        return absl::FailedPreconditionError(
            absl::StrCat(entry.name, ": the caches were not set up"));
      argPointers[i] = reinterpret_cast<uint8_t *>(it->second.data.data());
      argShapes[i] = {cacheBatch, cacheLength, it->second.width};
      continue;
    }
    if (next >= arguments.size())
      return absl::InvalidArgumentError(
          absl::StrCat(entry.name, ": argument ", arg.name, " is missing"));
    const Tensor &t = arguments[next++];
    if (t.dtype != arg.dtype || t.shape.size() != arg.dims.size())
      return absl::InvalidArgumentError(absl::StrCat(
          entry.name, ": argument ", arg.name, " must be ",
          dtypeName(arg.dtype), " of rank ", arg.dims.size(), ", got ",
          dtypeName(t.dtype), " ", formatDims(t.shape)));
    argPointers[i] = const_cast<uint8_t *>(t.bytes.data());
    argShapes[i] = t.shape;
  }
  if (next != arguments.size())
    return absl::InvalidArgumentError(
        absl::StrCat(entry.name, ": too many arguments"));

  std::vector<int64_t> symbols;
  for (const auto &s : entry.symbols) {
    int64_t value = argShapes[s->argument][s->dim];
    if (value > s->max)
      return absl::OutOfRangeError(absl::StrCat(
          entry.name, ": ", s->dim == 0 ? "batch " : "length ", value,
          " (dim ", s->dim, " of ", entry.arguments[s->argument]->name,
          ") exceeds the ", s->max, " this artifact was compiled for; "
          "recompile with a larger kilnc ",
          s->dim == 0 ? "--max-batch" : "--max-seq"));
    symbols.push_back(value);
  }
  for (size_t i = 0; i < entry.arguments.size(); ++i) {
    std::vector<int64_t> expected = evalDims(entry.arguments[i]->dims, symbols);
    if (expected != argShapes[i])
      return absl::InvalidArgumentError(absl::StrCat(
          entry.name, ": argument ", entry.arguments[i]->name, " is ",
          formatDims(argShapes[i]), ", expected ", formatDims(expected)));
  }

  // Every buffer's dims are evaluated through here, which refuses dims
  // that do not fit the buffer's storage (only a crafted manifest has them).
  std::vector<int64_t> argBytes;
  for (size_t i = 0; i < entry.arguments.size(); ++i)
    argBytes.push_back(checkedBytes(argShapes[i],
                                    dtypeBytes(entry.arguments[i]->dtype)));
  auto dimsOf = [&](const BufferT &b) -> absl::StatusOr<std::vector<int64_t>> {
    std::vector<int64_t> dims = evalDims(b.dims, symbols);
    int64_t bytes = checkedBytes(dims, dtypeBytes(b.dtype));
    int64_t capacity = b.kind == BufferKind::Arena ? entry.arena_bytes - b.index
                       : b.kind == BufferKind::Argument ? argBytes[b.index]
                                                        : INT64_MAX;
    if (bytes < 0 || bytes > capacity)
      return error(absl::StrCat("damaged: a buffer of ", entry.name, " is ",
                                formatDims(dims), ", larger than its storage"));
    return dims;
  };

  auto pointer = [&](const BufferT &b) -> uint8_t * {
    switch (b.kind) {
    case BufferKind::Arena:
      return arena + b.index;
    case BufferKind::Argument:
      return argPointers[b.index];
    case BufferKind::Weight:
      return const_cast<uint8_t *>(weights[b.index]);
    }
    return nullptr;
  };

  std::vector<void *> buffers;
  std::vector<int64_t> shapes;
  using Clock = std::chrono::steady_clock;
  Clock::time_point stepStart;
  auto account = [&](const StepT &step) {
    const std::string &name =
        step.kind == StepKind::Kernel ? m.kernels[step.kernel]->name
        : step.kind == StepKind::Gemm ? std::string("gemm")
                                      : std::string("attention");
    StepProfile &p = profile[name];
    p.name = name;
    ++p.calls;
    p.seconds +=
        std::chrono::duration<double>(Clock::now() - stepStart).count();
  };
  for (const auto &stepPtr : entry.steps) {
    const StepT &step = *stepPtr;
    if (profiling)
      stepStart = Clock::now();
    switch (step.kind) {
    case StepKind::Kernel: {
      buffers.clear();
      shapes.clear();
      std::vector<int64_t> dims;
      for (size_t i = 0; i <= step.operands.size(); ++i) {
        const BufferT &b =
            i < step.operands.size() ? *step.operands[i] : *step.results[0];
        auto d = dimsOf(b);
        if (!d.ok())
          return d.status();
        buffers.push_back(pointer(b));
        shapes.insert(shapes.end(), d->begin(), d->end());
        dims = std::move(*d);
      }
      KernelFn fn = kernels[step.kernel];
      int64_t rows = dims.empty() ? 1 : dims[0];
      if (!m.kernels[step.kernel]->splittable) {
        fn(buffers.data(), shapes.data(), 0, 1);
      } else if (rows > 1 && product(dims) >= kSplitElements) {
        pool.parallelFor(rows, [&](int64_t begin, int64_t end) {
          fn(buffers.data(), shapes.data(), begin, end);
        });
      } else {
        fn(buffers.data(), shapes.data(), 0, rows);
      }
      break;
    }
    case StepKind::Gemm: {
      auto lhs = dimsOf(*step.operands[0]), rhs = dimsOf(*step.operands[1]);
      auto out = dimsOf(*step.results[0]);
      if (!lhs.ok() || !rhs.ok() || !out.ok())
        return !lhs.ok() ? lhs.status()
                         : !rhs.ok() ? rhs.status() : out.status();
      std::vector<int64_t> l = *lhs, r = *rhs;
      size_t rank = l.size();
      bool ta = step.transpose_lhs, tb = step.transpose_rhs;
      if (rank < 2 || r.size() < 2 ||
          (r.size() != 2 && r.size() != rank))
        return absl::InternalError(absl::StrCat(
            "gemm at ", step.location, ": ranks do not fit"));
      int64_t mDim = ta ? l[rank - 1] : l[rank - 2];
      int64_t kDim = ta ? l[rank - 2] : l[rank - 1];
      int64_t nDim = tb ? r[r.size() - 2] : r[r.size() - 1];
      int64_t k2 = tb ? r[r.size() - 1] : r[r.size() - 2];
      int64_t batch = product(l, rank - 2);
      bool shared = r.size() == 2;
      if (k2 != kDim || (!shared && product(r, rank - 2) != batch) ||
          product(*out) != batch * mDim * nDim)
        return absl::InvalidArgumentError(absl::StrCat(
            "gemm at ", step.location, ": ", formatDims(l), " x ",
            formatDims(r), " do not agree"));
      const float *a = reinterpret_cast<const float *>(pointer(*step.operands[0]));
      const float *b = reinterpret_cast<const float *>(pointer(*step.operands[1]));
      float *c = reinterpret_cast<float *>(pointer(*step.results[0]));
      int64_t lda = l[rank - 1], ldb = r[r.size() - 1];
      if (shared && !ta) {
        blas.sgemm(false, tb, batch * mDim, nDim, kDim, a, lda, b, ldb, c,
                   nDim);
        break;
      }
      for (int64_t i = 0; i < batch; ++i)
        blas.sgemm(ta, tb, mDim, nDim, kDim, a + i * mDim * kDim, lda,
                   shared ? b : b + i * kDim * nDim, ldb,
                   c + i * mDim * nDim, nDim);
      break;
    }
    case StepKind::Attention:
      if (absl::Status s = runAttention(step, dimsOf, pointer); !s.ok())
        return s;
      break;
    }
    if (profiling)
      account(step);
  }

  std::vector<NamedTensor> outputs;
  for (const auto &r : entry.results) {
    if (isCacheName(r->name))
      continue;
    auto dims = dimsOf(*r->buffer);
    if (!dims.ok())
      return dims.status();
    Tensor t = Tensor::zeros(r->buffer->dtype, *dims);
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
  if (artifact.manifest().target != "cpu")
    return absl::InvalidArgumentError(absl::StrCat(
        artifact.path(), ": compiled for target '",
        artifact.manifest().target,
        "', not the CPU (compile it with kilnc --target cpu)"));
  auto impl = std::make_unique<Impl>(artifact, options.threads);
  impl->profiling = options.profile;
  if (absl::Status s = impl->loadKernels(); !s.ok())
    return s;
  if (absl::Status s = impl->loadWeights(options.weightsDir); !s.ok())
    return s;
  if (absl::Status s = impl->validate(); !s.ok())
    return s;
  for (const auto &e : impl->m.entries)
    impl->arenaBytes = std::max(impl->arenaBytes, e->arena_bytes);
  if (impl->arenaBytes > 0) {
    void *arena = nullptr;
    if (posix_memalign(&arena, kBlobAlignment, impl->arenaBytes) != 0)
      return absl::ResourceExhaustedError(absl::StrCat(
          artifact.path(), ": cannot allocate the ", impl->arenaBytes,
          "-byte arena"));
    impl->arena = static_cast<uint8_t *>(arena);
  }
  return std::unique_ptr<CpuExecutor>(new CpuExecutor(std::move(impl)));
}

absl::Status CpuExecutor::resetCaches(int64_t batch, int64_t length) {
  Impl &s = *impl_;
  s.cacheBatch = batch;
  s.cacheLength = length;
  for (const auto &entry : s.m.entries)
    for (const auto &arg : entry->arguments) {
      if (!isCacheName(arg->name))
        continue;
      if (arg->dims.size() != 3 || arg->dims[2]->terms.size() != 1 ||
          arg->dims[2]->terms[0].op() != ExprOp::Const)
        return s.error("damaged: cache " + arg->name +
                       " is not [batch, length, width]");
      CacheSlot &slot = s.caches[arg->name];
      slot.width = arg->dims[2]->terms[0].value();
      slot.data.assign(batch * length * slot.width, 0.0f);
    }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>>
CpuExecutor::run(const std::string &entry,
                 const std::vector<Tensor> &arguments) {
  for (const auto &e : impl_->m.entries)
    if (e->name == entry)
      return impl_->run(*e, arguments);
  return impl_->error("has no entry point '" + entry + "'");
}

std::vector<StepProfile> CpuExecutor::profile() const {
  std::vector<StepProfile> out;
  for (const auto &[name, p] : impl_->profile)
    out.push_back(p);
  std::sort(out.begin(), out.end(),
            [](const StepProfile &a, const StepProfile &b) {
              return a.seconds > b.seconds;
            });
  return out;
}

int CpuExecutor::threads() const { return impl_->pool.threads(); }
const std::string &CpuExecutor::blasProvider() const {
  return impl_->blas.provider();
}
int64_t CpuExecutor::arenaBytes() const { return impl_->arenaBytes; }
int64_t CpuExecutor::cacheBytes() const {
  int64_t bytes = 0;
  for (const auto &[name, slot] : impl_->caches)
    bytes += slot.data.size() * 4;
  return bytes;
}

} // namespace kiln::rt
