//===- StepPlan.cpp - what every executor does with a step list -----------===//

#include "runtime/StepPlan.h"

#include "artifact/Artifact.h"
#include "runtime/Executor.h"
#include "runtime/Tensor.h"
#include "support/Half.h"
#include "support/SafeTensors.h"
#include "support/Status.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kiln::rt {

using namespace artifact;

namespace {

constexpr size_t kMaxExprDepth = 16;

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
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
absl::Status damaged(const Artifact &artifact, const std::string &what) {
  return absl::InvalidArgumentError(absl::StrCat(artifact.path(), ": ", what));
}

} // namespace

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

/// Bytes of a buffer of `dims`, or -1 for a negative dim or an overflow.
int64_t checkedBytes(const std::vector<int64_t> &dims, size_t elementBytes) {
  int64_t bytes = static_cast<int64_t>(elementBytes);
  for (int64_t d : dims)
    if (d < 0 || __builtin_mul_overflow(bytes, d, &bytes))
      return -1;
  return bytes;
}

namespace {

absl::Status validateBuffer(const Artifact &artifact, const EntryT &entry,
                            const BufferT &buffer, const std::string &where) {
  const ManifestT &m = artifact.manifest();
  auto error = [&](const std::string &what) { return damaged(artifact, what); };
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
      return error(
          absl::StrCat("damaged: ", where, " disagrees with weight ", w.name));
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
      return error(absl::StrCat("damaged: ", where, " lies outside the arena"));
    // kilnc places every arena buffer at a multiple of 64 bytes; generated
    // kernels may assume their buffers are aligned.
    if (buffer.index % 64 != 0)
      return error(
          absl::StrCat("damaged: ", where, " is not aligned in the arena"));
    return absl::OkStatus();
  }
  case BufferKind::Argument:
    if (buffer.index < 0 ||
        static_cast<size_t>(buffer.index) >= entry.arguments.size())
      return error(
          absl::StrCat("damaged: ", where, " names a missing argument"));
    return absl::OkStatus();
  case BufferKind::Weight:
    if (buffer.index < 0 ||
        static_cast<size_t>(buffer.index) >= m.weights.size())
      return error(absl::StrCat("damaged: ", where, " names a missing weight"));
    return absl::OkStatus();
  }
  return error(absl::StrCat("damaged: ", where, " has an unknown kind"));
}

} // namespace

absl::Status validateSteps(const Artifact &artifact);

absl::Status checkArtifact(const Artifact &artifact, const std::string &target,
                           const std::string &device) {
  if (artifact.manifest().target != target)
    return absl::InvalidArgumentError(absl::StrCat(
        artifact.path(), ": compiled for target '", artifact.manifest().target,
        "', not ", device, " (compile it with kilnc --target ", target, ")"));
  return validateSteps(artifact);
}

absl::StatusOr<const EntryT *> findEntry(const Artifact &artifact,
                                         const std::string &name) {
  for (const auto &e : artifact.manifest().entries)
    if (e->name == name)
      return e.get();
  return absl::InvalidArgumentError(
      absl::StrCat(artifact.path(), ": has no entry point '", name, "'"));
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>>
cacheArguments(const Artifact &artifact) {
  std::vector<std::pair<std::string, int64_t>> caches;
  for (const auto &entry : artifact.manifest().entries)
    for (const auto &arg : entry->arguments) {
      if (!isCacheName(arg->name))
        continue;
      if (arg->dims.size() != 3 || arg->dims[2]->terms.size() != 1 ||
          arg->dims[2]->terms[0].op() != ExprOp::Const)
        return damaged(artifact, "damaged: cache " + arg->name +
                                     " is not [batch, length, width]");
      caches.push_back({arg->name, arg->dims[2]->terms[0].value()});
    }
  return caches;
}

absl::Status validateSteps(const Artifact &artifact) {
  const ManifestT &m = artifact.manifest();
  auto error = [&](const std::string &what) { return damaged(artifact, what); };
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
        if (step.kernel >= m.kernels.size())
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
          bool same =
              buffer.dtype == kb.dtype && buffer.dims.size() == kb.shape.size();
          for (size_t d = 0; same && d < kb.shape.size(); ++d)
            same = kb.shape[d] < 0 || isConst(*buffer.dims[d], kb.shape[d]);
          if (!same)
            return error("damaged: " + where + " does not match kernel " +
                         k.name);
        }
        break;
      }
      case StepKind::Gemm:
        operands = 2 + step.has_bias + step.has_residual;
        if (step.activation > Activation::MAX ||
            (step.has_residual && step.activation != Activation::None))
          return error("damaged: " + where + " has an unknown epilogue");
        break;
      case StepKind::Norm:
        operands = 2 + step.has_bias;
        if (step.norm > NormKind::MAX ||
            (step.norm == NormKind::Rms && step.has_bias) ||
            !(step.epsilon >= 0))
          return error("damaged: " + where + " has a bad norm");
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
        KILN_RETURN_IF_ERROR(validateBuffer(artifact, *entry, *b, where));
      for (const auto &b : step.results)
        KILN_RETURN_IF_ERROR(validateBuffer(artifact, *entry, *b, where));
      if (step.results[0]->kind != BufferKind::Arena)
        return error("damaged: " + where + " writes outside the arena");
      if (step.kind != StepKind::Kernel) {
        // An attention's flags name its operands; other steps' are unused.
        const bool attention = step.kind == StepKind::Attention;
        for (size_t o = 0; o < step.operands.size(); ++o) {
          const auto &b = step.operands[o];
          bool index =
              attention && step.has_cache && o + 1 == step.operands.size();
          bool mask = attention && step.has_key_mask && o == 3;
          // A gemm's B may be a half-precision weight (--gemm-dtype).
          bool halfWeight = step.kind == StepKind::Gemm && o == 1 &&
                            b->kind == BufferKind::Weight &&
                            (b->dtype == DType::BF16 || b->dtype == DType::F16);
          if (!index && !mask && !halfWeight && b->dtype != DType::F32)
            return error(absl::StrCat(
                where, " (", step.location, ") computes in ",
                dtypeName(b->dtype), "; the CPU executor runs f32 ",
                step.kind == StepKind::Gemm   ? "gemms"
                : step.kind == StepKind::Norm ? "norms"
                                              : "attention"));
        }
      }
      if (step.kind == StepKind::Attention && step.has_cache)
        for (size_t c : {step.operands.size() - 3, step.operands.size() - 2}) {
          const BufferT &b = *step.operands[c];
          if (b.kind != BufferKind::Argument ||
              !isCacheName(entry->arguments[b.index]->name))
            return error("damaged: " + where +
                         " has a cache that is not a "
                         "cache argument");
        }
    }
    for (const auto &r : entry->results)
      KILN_RETURN_IF_ERROR(
          validateBuffer(artifact, *entry, *r->buffer, "result " + r->name));
  }
  return absl::OkStatus();
}

//===----------------------------------------------------------------------===//
// Weights
//===----------------------------------------------------------------------===//

HostWeights::~HostWeights() = default;

absl::StatusOr<std::unique_ptr<HostWeights>>
HostWeights::load(const Artifact &artifact, const std::string &weightsDir,
                  const std::string &executor, bool widen) {
  const ManifestT &m = artifact.manifest();
  std::unique_ptr<HostWeights> hw(new HostWeights());
  hw->data_.assign(m.weights.size(), nullptr);
  hw->bytes_.assign(m.weights.size(), 0);
  hw->owned_.resize(m.weights.size());
  hw->ownedHalf_.resize(m.weights.size());
  auto error = [&](const std::string &what) { return damaged(artifact, what); };
  for (size_t i = 0; i < m.weights.size(); ++i) {
    const WeightT &w = *m.weights[i];
    bool half = w.dtype == DType::BF16 || w.dtype == DType::F16;
    if (w.dtype != DType::F32 && !half)
      return error(absl::StrCat("weight '", w.name, "' is ", dtypeName(w.dtype),
                                "; the ", executor,
                                " executor takes f32, bf16 and f16 weights"));
    int64_t bytes = checkedBytes(w.shape, half ? 2 : 4);
    if (bytes < 0)
      return error(absl::StrCat("damaged: weight '", w.name,
                                "' has an impossible shape"));
    hw->bytes_[i] = bytes;
    auto widened = [&](const uint16_t *h) {
      std::vector<float> &out = hw->owned_[i];
      out.resize(bytes / 2);
      for (size_t e = 0; e < out.size(); ++e)
        out[e] = w.dtype == DType::BF16 ? bf16ToFloat(h[e]) : halfToFloat(h[e]);
      hw->data_[i] = reinterpret_cast<const uint8_t *>(out.data());
      hw->bytes_[i] = bytes * 2;
    };
    if (w.blob >= 0) {
      if (static_cast<size_t>(w.blob) >= m.blobs.size() ||
          m.blobs[w.blob]->kind != BlobKind::Weight ||
          artifact.blobSize(w.blob) != static_cast<uint64_t>(bytes))
        return error(absl::StrCat("damaged: weight '", w.name,
                                  "' does not match its blob"));
      hw->data_[i] = artifact.blobData(w.blob);
      if (half && widen)
        widened(reinterpret_cast<const uint16_t *>(hw->data_[i]));
      continue;
    }
    if (weightsDir.empty())
      return error("its weights are external: pass --weights MODEL_DIR (the "
                   "Hugging Face folder it was compiled from)");
    if (!hw->store_) {
      auto opened = WeightStore::openFolder(weightsDir);
      if (!opened.ok())
        return opened.status();
      hw->store_ = std::move(*opened);
    }
    auto view = hw->store_->get(w.source);
    if (!view.ok())
      return absl::NotFoundError(absl::StrCat("--weights ", weightsDir, ": ",
                                              view.status().message(),
                                              " (the artifact needs it)"));
    const TensorView &t = **view;
    auto mismatch = [&](const std::string &what) {
      return absl::InvalidArgumentError(
          absl::StrCat("--weights ", weightsDir, ": tensor '", w.source, "' ",
                       what, "; these are not the weights ", artifact.path(),
                       " was compiled with"));
    };
    if (t.shape != w.shape)
      return mismatch(absl::StrCat("has shape ", formatDims(t.shape),
                                   ", the artifact expects ",
                                   formatDims(w.shape)));
    if (w.source_dtype != kiln::dtypeName(t.dtype))
      return mismatch(absl::StrCat("is ", kiln::dtypeName(t.dtype),
                                   ", the artifact expects ", w.source_dtype));
    if (checksum(t.data, t.bytes) != w.source_hash)
      return mismatch("has different contents (hash mismatch)");
    if (half) {
      std::vector<uint16_t> &narrow = hw->ownedHalf_[i];
      for (float x : t.toFloat())
        narrow.push_back(w.dtype == DType::BF16 ? floatToBf16(x)
                                                : floatToHalf(x));
      hw->data_[i] = reinterpret_cast<const uint8_t *>(narrow.data());
      if (widen)
        widened(narrow.data());
      continue;
    }
    if (t.dtype == kiln::DType::F32 &&
        reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0) {
      hw->data_[i] = t.data;
    } else {
      hw->owned_[i] = t.toFloat();
      hw->data_[i] = reinterpret_cast<const uint8_t *>(hw->owned_[i].data());
    }
  }
  return hw;
}

//===----------------------------------------------------------------------===//
// Binding a call
//===----------------------------------------------------------------------===//

absl::StatusOr<CallBinding>
CallBinding::bind(const Artifact &artifact, const EntryT &entry,
                  const std::vector<Tensor> &arguments,
                  const CacheShape &cacheShape) {
  CallBinding b;
  b.artifact_ = &artifact;
  b.entry_ = &entry;
  std::vector<std::vector<int64_t>> shapes(entry.arguments.size());
  size_t next = 0;
  for (size_t i = 0; i < entry.arguments.size(); ++i) {
    const ArgumentT &arg = *entry.arguments[i];
    if (isCacheName(arg.name)) {
      const std::vector<int64_t> *shape = cacheShape(arg.name);
      if (!shape)
        return absl::FailedPreconditionError(
            absl::StrCat(entry.name, ": the caches were not set up"));
      shapes[i] = *shape;
      b.caller_.push_back(-1);
      continue;
    }
    if (next >= arguments.size())
      return absl::InvalidArgumentError(
          absl::StrCat(entry.name, ": argument ", arg.name, " is missing"));
    const Tensor &t = arguments[next];
    if (t.dtype != arg.dtype || t.shape.size() != arg.dims.size())
      return absl::InvalidArgumentError(
          absl::StrCat(entry.name, ": argument ", arg.name, " must be ",
                       dtypeName(arg.dtype), " of rank ", arg.dims.size(),
                       ", got ", dtypeName(t.dtype), " ", formatDims(t.shape)));
    shapes[i] = t.shape;
    b.caller_.push_back(static_cast<int>(next++));
  }
  if (next != arguments.size())
    return absl::InvalidArgumentError(
        absl::StrCat(entry.name, ": too many arguments"));

  for (const auto &s : entry.symbols) {
    int64_t value = shapes[s->argument][s->dim];
    if (value > s->max)
      return absl::OutOfRangeError(absl::StrCat(
          entry.name, ": ", s->dim == 0 ? "batch " : "length ", value, " (dim ",
          s->dim, " of ", entry.arguments[s->argument]->name, ") exceeds the ",
          s->max,
          " this artifact was compiled for; "
          "recompile with a larger kilnc ",
          s->dim == 0 ? "--max-batch" : "--max-seq"));
    b.symbols_.push_back(value);
  }
  for (size_t i = 0; i < entry.arguments.size(); ++i) {
    std::vector<int64_t> expected =
        evalDims(entry.arguments[i]->dims, b.symbols_);
    if (expected != shapes[i])
      return absl::InvalidArgumentError(absl::StrCat(
          entry.name, ": argument ", entry.arguments[i]->name, " is ",
          formatDims(shapes[i]), ", expected ", formatDims(expected)));
    b.argBytes_.push_back(
        checkedBytes(shapes[i], dtypeBytes(entry.arguments[i]->dtype)));
  }
  return b;
}

absl::StatusOr<std::vector<int64_t>>
CallBinding::dimsOf(const BufferT &b) const {
  // Only a crafted manifest has dims that do not fit the storage.
  std::vector<int64_t> dims = evalDims(b.dims, symbols_);
  int64_t bytes = checkedBytes(dims, dtypeBytes(b.dtype));
  int64_t capacity = b.kind == BufferKind::Arena ? entry_->arena_bytes - b.index
                     : b.kind == BufferKind::Argument ? argBytes_[b.index]
                                                      : INT64_MAX;
  if (bytes < 0 || bytes > capacity)
    return damaged(*artifact_,
                   absl::StrCat("damaged: a buffer of ", entry_->name, " is ",
                                formatDims(dims), ", larger than its storage"));
  return dims;
}

//===----------------------------------------------------------------------===//
// Library steps
//===----------------------------------------------------------------------===//

absl::StatusOr<GemmPlan> planGemm(const StepT &step,
                                  const CallBinding &binding) {
  auto lhs = binding.dimsOf(*step.operands[0]);
  auto rhs = binding.dimsOf(*step.operands[1]);
  auto out = binding.dimsOf(*step.results[0]);
  if (!lhs.ok() || !rhs.ok() || !out.ok())
    return !lhs.ok() ? lhs.status() : !rhs.ok() ? rhs.status() : out.status();
  const std::vector<int64_t> &l = *lhs, &r = *rhs;
  size_t rank = l.size();
  GemmPlan g;
  g.transA = step.transpose_lhs;
  g.transB = step.transpose_rhs;
  if (rank < 2 || r.size() < 2 || (r.size() != 2 && r.size() != rank))
    return absl::InternalError(
        absl::StrCat("gemm at ", step.location, ": ranks do not fit"));
  g.m = g.transA ? l[rank - 1] : l[rank - 2];
  g.k = g.transA ? l[rank - 2] : l[rank - 1];
  g.n = g.transB ? r[r.size() - 2] : r[r.size() - 1];
  int64_t k2 = g.transB ? r[r.size() - 1] : r[r.size() - 2];
  g.batch = product(l, rank - 2);
  g.shared = r.size() == 2;
  if (k2 != g.k || (!g.shared && product(r, rank - 2) != g.batch) ||
      product(*out) != g.batch * g.m * g.n)
    return absl::InvalidArgumentError(
        absl::StrCat("gemm at ", step.location, ": ", formatDims(l), " x ",
                     formatDims(r), " do not agree"));
  g.lda = l[rank - 1];
  g.ldb = r[r.size() - 1];
  g.folded = g.shared && !g.transA;
  g.activation = step.activation;
  g.bType = step.operands[1]->dtype;
  int next = 2;
  if (step.has_bias) {
    g.bias = next++;
    auto bias = binding.dimsOf(*step.operands[g.bias]);
    if (!bias.ok())
      return bias.status();
    if (*bias != std::vector<int64_t>{g.n})
      return absl::InvalidArgumentError(
          absl::StrCat("gemm at ", step.location, ": bias ", formatDims(*bias),
                       " is not [", g.n, "]"));
  }
  if (step.has_residual) {
    g.residual = next++;
    auto residual = binding.dimsOf(*step.operands[g.residual]);
    if (!residual.ok())
      return residual.status();
    if (*residual != *out)
      return absl::InvalidArgumentError(absl::StrCat(
          "gemm at ", step.location, ": residual ", formatDims(*residual),
          " is not the result's ", formatDims(*out)));
  }
  return g;
}

ColumnMajorGemm columnMajor(const GemmPlan &g) {
  ColumnMajorGemm c;
  int64_t m = g.folded ? g.batch * g.m : g.m;
  // X = op(B)^T [n, k]: B row-major [k, n] is column-major [n, k] as is;
  // B row-major [n, k] (transposed) is column-major [k, n], transposed.
  c.transX = g.transB;
  c.xRows = g.transB ? g.k : g.n;
  c.xCols = g.transB ? g.n : g.k;
  c.ldx = g.ldb;
  // Y = op(A)^T [k, m], likewise.
  c.transY = g.transA;
  c.yRows = g.transA ? m : g.k;
  c.yCols = g.transA ? g.k : m;
  c.ldy = g.lda;
  c.dRows = g.n;
  c.dCols = m;
  c.ldd = g.n;
  if (g.folded)
    return c;
  if (g.shared) {
    // One B for every batch but a transposed A: one product per batch.
    c.launches = g.batch;
    c.launchStrideY = g.m * g.k;
    c.launchStrideD = g.m * g.n;
    return c;
  }
  c.batch = g.batch;
  c.strideX = g.k * g.n;
  c.strideY = g.m * g.k;
  c.strideD = g.m * g.n;
  return c;
}

absl::StatusOr<NormPlan> planNorm(const StepT &step,
                                  const CallBinding &binding) {
  auto in = binding.dimsOf(*step.operands[0]);
  auto scale = binding.dimsOf(*step.operands[1]);
  auto out = binding.dimsOf(*step.results[0]);
  if (!in.ok() || !scale.ok() || !out.ok())
    return !in.ok() ? in.status() : !scale.ok() ? scale.status() : out.status();
  NormPlan p;
  p.rms = step.norm == NormKind::Rms;
  p.bias = step.has_bias;
  p.epsilon = static_cast<float>(step.epsilon);
  p.width = in->empty() ? 0 : in->back();
  p.rows = p.width > 0 ? product(*in) / p.width : 0;
  bool ok =
      !in->empty() && *out == *in && *scale == std::vector<int64_t>{p.width};
  if (ok && p.bias) {
    auto bias = binding.dimsOf(*step.operands[2]);
    if (!bias.ok())
      return bias.status();
    ok = *bias == *scale;
  }
  if (!ok)
    return absl::InvalidArgumentError(absl::StrCat(
        "norm at ", step.location, ": input ", formatDims(*in), ", scale ",
        formatDims(*scale), " and result ", formatDims(*out), " do not agree"));
  return p;
}

absl::StatusOr<std::vector<int64_t>> cacheRowStarts(const StepT &step,
                                                    const AttentionPlan &p,
                                                    const void *positions,
                                                    bool wide) {
  std::vector<int64_t> starts(p.batch);
  for (int64_t b = 0; b < p.batch; ++b) {
    int64_t start = wide ? static_cast<const int64_t *>(positions)[b]
                         : static_cast<const int32_t *>(positions)[b];
    if (start < 0 || start + p.sq > p.cacheLength)
      return absl::InvalidArgumentError(absl::StrCat(
          "attention at ", step.location, ": kv cache overflow: sequence ", b,
          " writes rows [", start, ", ", start + p.sq, ") of a cache of ",
          p.cacheLength));
    starts[b] = start;
  }
  return starts;
}

absl::StatusOr<AttentionPlan> planAttention(const StepT &step,
                                            const CallBinding &binding) {
  std::vector<std::vector<int64_t>> dims;
  for (const auto &b : step.operands) {
    auto d = binding.dimsOf(*b);
    if (!d.ok())
      return d.status();
    dims.push_back(std::move(*d));
  }
  auto out = binding.dimsOf(*step.results[0]);
  if (!out.ok())
    return out.status();
  auto fail = [&](const std::string &what) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention at ", step.location, ": ", what));
  };
  const std::vector<int64_t> &q = dims[0], &k = dims[1], &v = dims[2];
  if (*out != q)
    return fail("the result is not the query's shape");
  if (q.size() != 3 || k.size() != 3 || v != k || k[0] != q[0] ||
      q[2] % step.num_heads != 0)
    return fail(absl::StrCat("query ", formatDims(q), ", key ", formatDims(k),
                             " and value ", formatDims(v), " do not agree"));
  AttentionPlan a;
  a.batch = q[0];
  a.sq = q[1];
  a.heads = step.num_heads;
  a.kvHeads = step.num_kv_heads;
  a.headDim = q[2] / a.heads;
  a.width = k[2];
  if (a.width != a.kvHeads * a.headDim)
    return fail(absl::StrCat("key width ", k[2], " is not ", a.kvHeads,
                             " heads of ", a.headDim));
  a.scale = static_cast<float>(step.scale);
  a.causal =
      step.mask == MaskKind::Causal || step.mask == MaskKind::CausalPadding;
  a.sk = k[1];
  int next = 3;
  if (step.has_key_mask)
    a.mask = next++;
  if (step.has_bias)
    a.bias = next++;
  if (step.has_cache) {
    a.kCache = next;
    a.vCache = next + 1;
    a.positions = next + 2;
    const std::vector<int64_t> &kc = dims[next], &vc = dims[next + 1],
                               &pos = dims[next + 2];
    if (kc.size() != 3 || vc != kc || kc[0] != a.batch || kc[2] != a.width ||
        pos != std::vector<int64_t>{a.batch} || a.sq > kc[1])
      return fail(absl::StrCat("caches ", formatDims(kc), ", new rows ",
                               formatDims(k), " and positions ",
                               formatDims(pos), " do not agree"));
    a.cacheLength = kc[1];
    a.sk = kc[1];
  }
  if (a.mask >= 0 && dims[a.mask] != std::vector<int64_t>{a.batch, a.sk})
    return fail(absl::StrCat(
        "key_mask ", formatDims(dims[a.mask]),
        " is not [batch, key_len] = ", formatDims({a.batch, a.sk})));
  if (a.bias >= 0) {
    const std::vector<int64_t> &bd = dims[a.bias];
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
  }
  return a;
}

} // namespace kiln::rt
