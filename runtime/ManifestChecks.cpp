//===- ManifestChecks.cpp - an artifact's checks at load ------------------===//

#include "runtime/ManifestChecks.h"

#include "artifact/Artifact.h"
#include "runtime/DimExpr.h"
#include "runtime/Tensor.h"
#include "support/Status.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::rt {

using namespace artifact;

absl::Status damagedArtifact(const Artifact &artifact,
                             const std::string &what) {
  return absl::InvalidArgumentError(absl::StrCat(artifact.path(), ": ", what));
}

namespace {

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

absl::Status validateBuffer(const Artifact &artifact, const EntryT &entry,
                            const BufferT &buffer, const std::string &where) {
  const ManifestT &m = artifact.manifest();
  auto error = [&](const std::string &what) {
    return damagedArtifact(artifact, what);
  };
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
  if (buffer.dtype == DType::I4 && buffer.kind != BufferKind::Weight)
    return error(absl::StrCat("damaged: ", where,
                              " holds int4 values outside a weight"));
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

/// `lowActivations`: library steps may read and write bf16/f16 buffers
/// (the CPU executor widens them); otherwise they must be f32.
absl::Status validateSteps(const Artifact &artifact, bool lowActivations);

absl::Status checkArtifact(const Artifact &artifact, const std::string &target,
                           const std::string &device) {
  if (artifact.manifest().target != target)
    return absl::InvalidArgumentError(absl::StrCat(
        artifact.path(), ": compiled for target '", artifact.manifest().target,
        "', not ", device, " (compile it for the ", target, " target)"));
  return validateSteps(artifact, /*lowActivations=*/target == "cpu");
}

absl::StatusOr<const EntryT *> findEntry(const Artifact &artifact,
                                         const std::string &name) {
  for (const auto &e : artifact.manifest().entries)
    if (e->name == name)
      return e.get();
  return absl::InvalidArgumentError(
      absl::StrCat(artifact.path(), ": has no entry point '", name, "'"));
}

absl::StatusOr<std::vector<CacheArgument>>
cacheArguments(const Artifact &artifact) {
  std::vector<CacheArgument> caches;
  for (const auto &entry : artifact.manifest().entries)
    for (const auto &arg : entry->arguments) {
      if (!isCache(arg->role))
        continue;
      if (arg->dims.size() != 3 || arg->dims[2]->terms.size() != 1 ||
          arg->dims[2]->terms[0].op() != ExprOp::Const)
        return damagedArtifact(artifact, "damaged: cache " + arg->name +
                                             " is not [batch, length, width]");
      if (arg->dtype != DType::F32 && !isHalf(arg->dtype))
        return damagedArtifact(artifact, "damaged: cache " + arg->name +
                                             " is not f32, bf16 or f16");
      caches.push_back({arg->name, arg->dims[2]->terms[0].value(), arg->dtype});
    }
  return caches;
}

absl::Status checkCacheShape(const Artifact &artifact, int64_t batch,
                             int64_t length) {
  const ManifestT &m = artifact.manifest();
  if (batch < 1 || length < 1)
    return absl::InvalidArgumentError(absl::StrCat(
        "kv cache: batch ", batch, " of ", length, " positions is empty"));
  if (m.model && m.model->position_limit > 0 &&
      length > m.model->position_limit)
    return absl::OutOfRangeError(absl::StrCat(
        "kv cache: ", length, " positions exceed the model's limit of ",
        m.model->position_limit));
  return absl::OkStatus();
}

absl::Status validateSteps(const Artifact &artifact, bool lowActivations) {
  const ManifestT &m = artifact.manifest();
  // Tensor parallelism: one weight list per rank past 0, each naming slots
  // of the first with the same shapes.
  const int64_t tp = std::max<int64_t>(1, m.tensor_parallel);
  if (tp > 4096 || m.data_parallel < 0 || m.data_parallel > 4096 ||
      static_cast<int64_t>(m.rank_weights.size()) != tp - 1)
    return damagedArtifact(artifact, "damaged: its tensor-parallel ranks do "
                                     "not match their weight lists");
  // Pipeline stages: every step on stages the pipeline has.
  const int64_t stages = std::max<int64_t>(1, m.pipeline_parallel);
  if (stages > 64)
    return damagedArtifact(artifact, "damaged: more than 64 pipeline stages");
  const uint64_t allStages =
      stages == 64 ? ~uint64_t{0} : (uint64_t{1} << stages) - 1;
  for (const auto &entry : m.entries)
    for (const auto &step : entry->steps)
      if (step && (step->stages & ~allStages) != 0)
        return damagedArtifact(artifact,
                               "damaged: a step runs on a pipeline stage the "
                               "artifact does not have");
  for (const auto &rank : m.rank_weights) {
    if (!rank || rank->slots.size() != rank->weights.size())
      return damagedArtifact(artifact, "damaged: a rank's weight list");
    for (size_t i = 0; i < rank->slots.size(); ++i) {
      const uint32_t slot = rank->slots[i];
      if (slot >= m.weights.size() || !rank->weights[i] ||
          rank->weights[i]->shape != m.weights[slot]->shape ||
          rank->weights[i]->dtype != m.weights[slot]->dtype)
        return damagedArtifact(artifact,
                               "damaged: a rank's weight does not match "
                               "the slot it replaces");
    }
  }
  auto error = [&](const std::string &what) {
    return damagedArtifact(artifact, what);
  };
  for (const auto &entry : m.entries) {
    for (const auto &s : entry->symbols)
      if (s->argument >= entry->arguments.size() ||
          s->dim >= entry->arguments[s->argument]->dims.size() || s->max < 1)
        return error(absl::StrCat("damaged: symbol ", s->name, " of ",
                                  entry->name, " is malformed"));
    for (const auto &a : entry->arguments) {
      for (const auto &d : a->dims)
        if (!validDim(*d, entry->symbols.size()))
          return error(absl::StrCat("damaged: argument ", a->name,
                                    " has a malformed dim"));
      if (a->role < Role::MIN || a->role > Role::MAX ||
          (isCache(a->role) && a->dtype != artifact::DType::F32 &&
           !(lowActivations && isHalf(a->dtype))))
        return error(absl::StrCat("damaged: argument ", a->name,
                                  " has an impossible role"));
    }
    for (const auto &r : entry->results)
      if (r->role < Role::MIN || r->role > Role::MAX)
        return error(absl::StrCat("damaged: result ", r->name,
                                  " has an impossible role"));
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
        results = step.results.size();
        if (step.results.empty() ||
            k.buffers.size() != operands + step.results.size())
          return error("damaged: " + where + " does not match kernel " +
                       k.name);
        for (size_t b = 0; b < k.buffers.size(); ++b) {
          const BufferT &buffer =
              b < operands ? *step.operands[b] : *step.results[b - operands];
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
      case StepKind::Collective: {
        operands = 1;
        if (step.collective == CollectiveKind::SendRecv) {
          // From the step's one stage to a later stage of the pipeline.
          const int64_t from = step.stages ? __builtin_ctzll(step.stages) : -1;
          if (from < 0 || (step.stages & (step.stages - 1)) != 0 ||
              step.peer_stage <= from || step.peer_stage >= stages)
            return error("damaged: " + where +
                         " passes a value between stages the pipeline does "
                         "not have");
          break;
        }
        const int64_t group = std::max<int64_t>(1, m.tensor_parallel);
        if (step.collective > CollectiveKind::MAX || step.ranks != group ||
            group < 2)
          return error("damaged: " + where +
                       " has a collective that does "
                       "not match the artifact's tensor-parallel group");
        if (!step.operands.empty() && !step.results.empty() &&
            (step.operands[0]->dtype != DType::F32 ||
             step.results[0]->dtype != DType::F32))
          return error(absl::StrCat(where, " (", step.location,
                                    ") is a collective on ",
                                    dtypeName(step.operands[0]->dtype),
                                    " values; collectives move f32"));
        break;
      }
      default:
        return error("damaged: " + where + " has an unknown kind");
      }
      if (step.operands.size() != operands || step.results.size() != results)
        return error("damaged: " + where + " has the wrong buffer count");
      for (const auto &b : step.operands)
        KILN_RETURN_IF_ERROR(validateBuffer(artifact, *entry, *b, where));
      for (const auto &b : step.results)
        KILN_RETURN_IF_ERROR(validateBuffer(artifact, *entry, *b, where));
      // A compressed 2:4 or sparse-rows weight (--prune) is only a CPU
      // gemm's B, read along its output channels like a quantized one.
      for (size_t o = 0; o < step.operands.size(); ++o) {
        const BufferT &b = *step.operands[o];
        if (b.kind != BufferKind::Weight ||
            m.weights[b.index]->sparse == SparseFormat::Dense)
          continue;
        const WeightT &w = *m.weights[b.index];
        if ((w.sparse != SparseFormat::TwoFour &&
             w.sparse != SparseFormat::Rows) ||
            w.dtype != DType::F32 || step.kind != StepKind::Gemm || o != 1 ||
            step.transpose_lhs || w.sparse_axis != (step.transpose_rhs ? 0 : 1))
          return error(absl::StrCat("damaged: ", where,
                                    " reads compressed weight '", w.name,
                                    "' other than as a gemm's B along its "
                                    "output channels"));
        if (!lowActivations)
          return error(absl::StrCat(
              where, " (", step.location,
              ") reads a sparse (pruned) weight; this executor runs gemms on "
              "dense weights (sparse weights run on the CPU)"));
      }
      // A kernel writes all its results to the arena; an attention's cache
      // results are its cache arguments.
      const size_t written =
          step.kind == StepKind::Kernel ? step.results.size() : 1;
      for (size_t r = 0; r < written; ++r)
        if (step.results[r]->kind != BufferKind::Arena)
          return error("damaged: " + where + " writes outside the arena");
      if (step.kind != StepKind::Kernel) {
        // An attention's flags name its operands; other steps' are unused.
        const bool attention = step.kind == StepKind::Attention;
        for (size_t o = 0; o < step.operands.size(); ++o) {
          const auto &b = step.operands[o];
          bool index =
              attention && step.has_cache && o + 1 == step.operands.size();
          bool mask = attention && step.has_key_mask && o == 3;
          bool half = isHalf(b->dtype);
          // A gemm's B may be a half-precision weight (--gemm-dtype), and
          // on the CPU any operand may be bf16/f16 (--precision).
          bool halfWeight = step.kind == StepKind::Gemm && o == 1 &&
                            b->kind == BufferKind::Weight && half;
          // ... or an int8/int4 weight (--quantize), which both executors
          // dequantize as they multiply; its stored rows are the output
          // channels, so they are B's columns (quant_axis 1, [K, N]) or
          // B's rows read transposed (quant_axis 0, [N, K]).
          bool quantized = b->dtype == DType::I8 || b->dtype == DType::I4;
          if (quantized && b->kind == BufferKind::Weight) {
            if (step.kind != StepKind::Gemm || o != 1)
              return error(absl::StrCat("damaged: ", where,
                                        " reads a quantized weight other "
                                        "than as a gemm's B"));
            const WeightT &w = *m.weights[b->index];
            if (w.quant_axis != (step.transpose_rhs ? 0 : 1) ||
                step.transpose_lhs)
              return error(absl::StrCat("damaged: ", where,
                                        " reads quantized weight ", w.name,
                                        " across its output channels"));
            continue;
          }
          if (!index && !mask && !halfWeight && b->dtype != DType::F32 &&
              !(lowActivations && half))
            return error(
                absl::StrCat(where, " (", step.location, ") computes in ",
                             dtypeName(b->dtype), "; this executor runs f32 ",
                             step.kind == StepKind::Gemm   ? "gemms"
                             : step.kind == StepKind::Norm ? "norms"
                                                           : "attention"));
        }
        for (const auto &b : step.results)
          if (b->dtype != DType::F32 && !(lowActivations && isHalf(b->dtype)))
            return error(absl::StrCat(where, " (", step.location, ") writes ",
                                      dtypeName(b->dtype),
                                      "; this executor writes f32"));
      }
      if (step.kind == StepKind::Attention && step.has_cache)
        for (size_t c : {step.operands.size() - 3, step.operands.size() - 2}) {
          const BufferT &b = *step.operands[c];
          if (b.kind != BufferKind::Argument ||
              !isCache(entry->arguments[b.index]->role))
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

bool runsOnStage(const StepT &step, int64_t stage, int64_t stages) {
  if (stages <= 1 || step.stages == 0 || (step.stages >> stage & 1))
    return true;
  return step.kind == StepKind::Collective &&
         step.collective == CollectiveKind::SendRecv &&
         step.peer_stage == stage;
}

StageNeeds stageNeeds(const Artifact &artifact, int64_t stage) {
  const ManifestT &m = artifact.manifest();
  const int64_t stages = std::max<int64_t>(1, m.pipeline_parallel);
  StageNeeds needs;
  needs.weights.assign(m.weights.size(), stages == 1);
  for (const auto &entry : m.entries)
    for (const auto &step : entry->steps) {
      if (!runsOnStage(*step, stage, stages))
        continue;
      for (const auto *buffers : {&step->operands, &step->results})
        for (const auto &b : *buffers) {
          if (b->kind == BufferKind::Weight && b->index >= 0 &&
              static_cast<size_t>(b->index) < needs.weights.size())
            needs.weights[b->index] = true;
          if (b->kind == BufferKind::Argument && b->index >= 0 &&
              static_cast<size_t>(b->index) < entry->arguments.size() &&
              isCache(entry->arguments[b->index]->role))
            needs.caches.insert(entry->arguments[b->index]->name);
        }
    }
  return needs;
}

} // namespace kiln::rt
