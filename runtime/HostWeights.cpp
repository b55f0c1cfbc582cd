//===- HostWeights.cpp - the weights as an executor holds them ------------===//

#include "runtime/HostWeights.h"

#include "artifact/Artifact.h"
#include "runtime/DimExpr.h"
#include "runtime/HugePages.h"
#include "runtime/ManifestChecks.h"
#include "runtime/Tensor.h"
#include "support/Half.h"
#include "support/Prune.h"
#include "support/Quantize.h"
#include "support/SafeTensors.h"
#include "support/Shard.h"
#include "support/Status.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace kiln::rt {

using namespace artifact;

HostWeights::~HostWeights() = default;

/// Sparse rows from their three blobs, every offset and index checked
/// (a kernel gathers at them).
static absl::Status loadSparseRows(const Artifact &artifact, const WeightT &w,
                                   SparseRowsMatrix &out) {
  const ManifestT &m = artifact.manifest();
  auto error = [&](const std::string &what) {
    return damagedArtifact(artifact, absl::StrCat("damaged: sparse weight '",
                                                  w.name, "': ", what));
  };
  for (int blob : {w.blob, w.indices_blob, w.offsets_blob})
    if (m.blobs[blob]->kind != BlobKind::Weight)
      return error("a blob is not a weight blob");
  out.rows = w.shape[w.sparse_axis];
  out.cols = w.shape[1 - w.sparse_axis];
  const uint64_t entries = artifact.blobSize(w.blob) / sizeof(float);
  if (artifact.blobSize(w.offsets_blob) !=
          static_cast<uint64_t>(out.rows + 1) * sizeof(uint32_t) ||
      artifact.blobSize(w.blob) % sizeof(float) != 0 ||
      artifact.blobSize(w.indices_blob) != entries * sizeof(uint16_t))
    return error("its blobs do not match its shape");
  out.offsets =
      reinterpret_cast<const uint32_t *>(artifact.blobData(w.offsets_blob));
  out.indices =
      reinterpret_cast<const uint16_t *>(artifact.blobData(w.indices_blob));
  out.values = reinterpret_cast<const float *>(artifact.blobData(w.blob));
  if (out.offsets[0] != 0 || out.offsets[out.rows] != entries)
    return error("its row offsets do not span its entries");
  for (int64_t r = 0; r < out.rows; ++r)
    if (out.offsets[r + 1] < out.offsets[r] || out.offsets[r] % 16 != 0)
      return error("its row offsets are not ascending multiples of 16");
  for (uint64_t e = 0; e < entries; ++e)
    if (out.indices[e] >= out.cols)
      return error("an index is past its input features");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<HostWeights>>
HostWeights::load(const Artifact &artifact, const std::string &weightsDir,
                  const std::string &executor, const std::vector<bool> &widen,
                  int64_t rank, const std::vector<bool> &needed) {
  // The host copies (widened, narrowed, decoded, read from --weights) are
  // the load's big allocations: one that does not fit is an error naming
  // the weights, not an uncaught bad_alloc.
  try {
    return loadCopies(artifact, weightsDir, executor, widen, rank, needed);
  } catch (const std::bad_alloc &) {
  } catch (const std::length_error &) {
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      artifact.path(), ": out of memory for the host copies of the weights (",
      artifact.manifest().weights.size(), " weights, ",
      artifact.manifest().weight_bytes, " bytes as stored, more where the ",
      executor, " executor widens them to f32)"));
}

namespace {

/// How an external weight is pruned at load (Weight.keep_* and prune_*),
/// checked against its shape.
struct ExternalPruning {
  bool kept = false, pruned = false;
  std::vector<int64_t> keepIndices;
  PruneSpec spec;
};

/// `w`'s pruning, `shape` being one source's shape after the shard's
/// inverse (the kept tensor's).
absl::StatusOr<ExternalPruning>
externalPruning(const WeightT &w, const std::vector<int64_t> &shape) {
  ExternalPruning p;
  auto damaged = [&](const std::string &what) {
    return absl::DataLossError(
        absl::StrCat("damaged: weight '", w.name, "' ", what));
  };
  // Stored compressed: the mask must be what the compression assumes.
  const bool twoFour = w.sparse == SparseFormat::TwoFour;
  if ((twoFour && (w.prune_n != 2 || w.prune_m != 4 ||
                   w.prune_axis != 1 - w.sparse_axis)) ||
      (w.sparse == SparseFormat::Rows && w.prune_m == 0 &&
       w.prune_fraction == 0 && w.prune_threshold == 0))
    return damaged("is stored compressed without its pruning");
  if (w.keep_axis >= 0) {
    const auto axis = static_cast<size_t>(w.keep_axis);
    if (axis >= shape.size() || !w.parts.empty() ||
        static_cast<int64_t>(w.keep_indices.size()) != shape[axis] ||
        w.keep_from < shape[axis])
      return damaged("has kept slices that do not make its shape");
    for (size_t k = 0; k < w.keep_indices.size(); ++k)
      if (w.keep_indices[k] < 0 || w.keep_indices[k] >= w.keep_from ||
          (k > 0 && w.keep_indices[k] <= w.keep_indices[k - 1]))
        return damaged("has kept slices out of order or out of range");
    p.kept = true;
    p.keepIndices = w.keep_indices;
  }
  p.spec.n = w.prune_n;
  p.spec.m = w.prune_m;
  p.spec.axis = w.prune_axis;
  p.spec.fraction = w.prune_fraction;
  p.spec.threshold = w.prune_threshold;
  p.spec.scale = w.prune_scale;
  p.pruned = p.spec.m > 0 || p.spec.fraction > 0 || p.spec.threshold > 0;
  if (!p.pruned)
    return p.spec.scale.empty() && p.spec.n == 0
               ? absl::StatusOr<ExternalPruning>(std::move(p))
               : damaged("has a pruning without a rule");
  const bool nm = p.spec.m > 0;
  if (shape.size() != 2 || (p.spec.axis != 0 && p.spec.axis != 1) ||
      (nm && (p.spec.n <= 0 || p.spec.n >= p.spec.m || p.spec.m > 16 ||
              shape[p.spec.axis] % p.spec.m != 0)) ||
      !(p.spec.fraction >= 0 && p.spec.fraction < 1) ||
      !(p.spec.threshold >= 0) || std::isinf(p.spec.threshold) ||
      (!p.spec.scale.empty() &&
       static_cast<int64_t>(p.spec.scale.size()) != shape[p.spec.axis]))
    return damaged("has an impossible pruning");
  for (float s : p.spec.scale)
    if (!(s >= 0) || std::isinf(s))
      return damaged("has an impossible pruning");
  return p;
}

} // namespace

absl::StatusOr<std::unique_ptr<HostWeights>>
HostWeights::loadCopies(const Artifact &artifact, const std::string &weightsDir,
                        const std::string &executor,
                        const std::vector<bool> &widen, int64_t rank,
                        const std::vector<bool> &needed) {
  const ManifestT &m = artifact.manifest();
  // Tensor-parallel rank r > 0 reads its own parts of the sharded slots.
  std::vector<const WeightT *> slots;
  for (const auto &w : m.weights)
    slots.push_back(w.get());
  if (rank < 0 || rank >= std::max<int64_t>(1, m.tensor_parallel))
    return absl::InvalidArgumentError(
        absl::StrCat(artifact.path(), ": has no tensor-parallel rank ", rank));
  if (rank > 0) {
    const RankWeightsT &own = *m.rank_weights[rank - 1];
    for (size_t i = 0; i < own.slots.size(); ++i)
      slots[own.slots[i]] = own.weights[i].get();
  }
  std::unique_ptr<HostWeights> hw(new HostWeights());
  hw->slots_ = slots;
  hw->data_.assign(m.weights.size(), nullptr);
  hw->mapped_.assign(m.weights.size(), false);
  hw->bytes_.assign(m.weights.size(), 0);
  hw->f32_.assign(m.weights.size(), nullptr);
  hw->owned_.resize(m.weights.size());
  hw->ownedHalf_.resize(m.weights.size());
  auto error = [&](const std::string &what) {
    return damagedArtifact(artifact, what);
  };
  hw->quantized_.resize(m.weights.size());
  hw->sparse24_.resize(m.weights.size());
  hw->sparseRows_.resize(m.weights.size());
  hw->ownedQuantized_.resize(m.weights.size());
  hw->ownedSparse24_.resize(m.weights.size());
  hw->ownedRows_.resize(m.weights.size());
  hw->smooth_.assign(m.weights.size(), nullptr);
  hw->invSmooth_.resize(m.weights.size());
  for (size_t i = 0; i < m.weights.size(); ++i) {
    if (i < needed.size() && !needed[i])
      continue; // another pipeline stage's
    const WeightT &w = *slots[i];
    bool half = w.dtype == DType::BF16 || w.dtype == DType::F16;
    bool quantized = w.dtype == DType::I8 || w.dtype == DType::I4;
    if (w.dtype != DType::F32 && !half && !quantized)
      return error(absl::StrCat(
          "weight '", w.name, "' is ", dtypeName(w.dtype), "; the ", executor,
          " executor takes f32, bf16, f16, int8 and int4 weights"));
    int64_t bytes = checkedBytes(w.shape, half ? 2 : 4);
    if (bytes < 0)
      return error(absl::StrCat("damaged: weight '", w.name,
                                "' has an impossible shape"));
    QuantizedMatrix &q = hw->quantized_[i];
    if (quantized) {
      if (w.shape.size() != 2 || (w.quant_axis != 0 && w.quant_axis != 1))
        return error(absl::StrCat("damaged: quantized weight '", w.name,
                                  "' is not a matrix with an output axis"));
      auto format =
          makeQuantFormat(w.dtype == DType::I8 ? 8 : 4, w.shape[w.quant_axis],
                          w.shape[1 - w.quant_axis], w.quant_group);
      if (!format.ok() || format->group != w.quant_group)
        return error(absl::StrCat("damaged: quantized weight '", w.name,
                                  "' has an impossible group"));
      q.format = *format;
      bytes = format->valueBytes();
      if (w.quant_act_bits != 0 &&
          (w.quant_act_bits != 8 || w.dtype != DType::I8))
        return error(absl::StrCat("damaged: quantized weight '", w.name,
                                  "' has ", w.quant_act_bits,
                                  "-bit activations (W8A8 is int8 only)"));
      if (w.quant_act_bits && format->groups() != 1)
        return error(absl::StrCat("damaged: W8A8 weight '", w.name,
                                  "' has more than one scale per channel"));
      q.actBits = w.quant_act_bits;
      if (w.smooth_blob >= 0) {
        const int64_t smoothBytes =
            format->cols * static_cast<int64_t>(sizeof(float));
        if (!q.actBits ||
            static_cast<size_t>(w.smooth_blob) >= m.blobs.size() ||
            m.blobs[w.smooth_blob]->kind != BlobKind::Weight ||
            artifact.blobSize(w.smooth_blob) !=
                static_cast<uint64_t>(smoothBytes))
          return error(absl::StrCat("damaged: the smoothing factors of "
                                    "weight '",
                                    w.name, "' do not match their blob"));
        const auto *smooth =
            reinterpret_cast<const float *>(artifact.blobData(w.smooth_blob));
        std::vector<float> &inverse = hw->invSmooth_[i];
        for (int64_t j = 0; j < format->cols; ++j) {
          if (!(smooth[j] > 0) || !std::isfinite(smooth[j]))
            return error(absl::StrCat("damaged: weight '", w.name,
                                      "' has a smoothing factor of ",
                                      smooth[j]));
          inverse.push_back(1.0f / smooth[j]);
        }
        hw->smooth_[i] = smooth;
        q.invSmooth = inverse.data();
      }
    }
    Sparse24Matrix &sparse = hw->sparse24_[i];
    // A compressed weight is embedded, or made from the checkpoint below.
    const bool embedded = !m.external_weights;
    if (w.sparse == SparseFormat::Rows) {
      if (w.dtype != DType::F32 || w.shape.size() != 2 ||
          (w.sparse_axis != 0 && w.sparse_axis != 1) ||
          w.shape[1 - w.sparse_axis] > 65536 ||
          (embedded && (w.blob < 0 || w.offsets_blob < 0 ||
                        static_cast<size_t>(w.offsets_blob) >= m.blobs.size() ||
                        w.indices_blob < 0 ||
                        static_cast<size_t>(w.indices_blob) >= m.blobs.size() ||
                        static_cast<size_t>(w.blob) >= m.blobs.size())))
        return error(absl::StrCat(
            "damaged: sparse weight '", w.name, "' is not ",
            embedded ? "an embedded f32 matrix with its offsets and indices"
                     : "an f32 matrix"));
      if (embedded) {
        KILN_RETURN_IF_ERROR(loadSparseRows(artifact, w, hw->sparseRows_[i]));
        hw->data_[i] =
            reinterpret_cast<const uint8_t *>(hw->sparseRows_[i].values);
        hw->bytes_[i] = static_cast<int64_t>(artifact.blobSize(w.blob));
        continue;
      }
    }
    if (w.sparse != SparseFormat::Dense && w.sparse != SparseFormat::Rows) {
      if (w.sparse != SparseFormat::TwoFour || w.dtype != DType::F32 ||
          w.shape.size() != 2 || (w.sparse_axis != 0 && w.sparse_axis != 1) ||
          w.shape[1 - w.sparse_axis] % 4 != 0 || (embedded && w.blob < 0))
        return error(absl::StrCat(
            "damaged: compressed weight '", w.name, "' is not ",
            embedded ? "an embedded 2:4 f32 matrix" : "a 2:4 f32 matrix"));
      sparse.format = {w.shape[w.sparse_axis], w.shape[1 - w.sparse_axis]};
      bytes = sparse.format.valueCount() * static_cast<int64_t>(sizeof(float));
    }
    hw->bytes_[i] = bytes;
    const bool widened = half && i < widen.size() && widen[i];
    // The f32 copy of a half weight the executor asked to widen.
    auto widenCopy = [&](const uint16_t *h) {
      std::vector<float> &out = hw->owned_[i];
      out.resize(bytes / 2);
      for (size_t e = 0; e < out.size(); ++e)
        out[e] = w.dtype == DType::BF16 ? bf16ToFloat(h[e]) : halfToFloat(h[e]);
      hw->f32_[i] = out.data();
    };
    if (w.blob >= 0) {
      if (static_cast<size_t>(w.blob) >= m.blobs.size() ||
          m.blobs[w.blob]->kind != BlobKind::Weight ||
          artifact.blobSize(w.blob) != static_cast<uint64_t>(bytes))
        return error(absl::StrCat("damaged: weight '", w.name,
                                  "' does not match its blob"));
      hw->data_[i] = artifact.blobData(w.blob);
      if (quantized) {
        const int64_t scaleBytes =
            q.format.scaleCount() * static_cast<int64_t>(sizeof(float));
        if (w.scales_blob < 0 ||
            static_cast<size_t>(w.scales_blob) >= m.blobs.size() ||
            m.blobs[w.scales_blob]->kind != BlobKind::Weight ||
            artifact.blobSize(w.scales_blob) !=
                static_cast<uint64_t>(scaleBytes))
          return error(absl::StrCat("damaged: the scales of weight '", w.name,
                                    "' do not match their blob"));
        q.values = hw->data_[i];
        hw->mapped_[i] = true;
        q.scales =
            reinterpret_cast<const float *>(artifact.blobData(w.scales_blob));
        continue;
      }
      if (w.sparse == SparseFormat::TwoFour) {
        const int64_t indexBytes =
            sparse.format.indexCount() * static_cast<int64_t>(sizeof(uint32_t));
        if (w.indices_blob < 0 ||
            static_cast<size_t>(w.indices_blob) >= m.blobs.size() ||
            m.blobs[w.indices_blob]->kind != BlobKind::Weight ||
            artifact.blobSize(w.indices_blob) !=
                static_cast<uint64_t>(indexBytes))
          return error(absl::StrCat("damaged: the indices of weight '", w.name,
                                    "' do not match their blob"));
        sparse.values = reinterpret_cast<const float *>(hw->data_[i]);
        hw->mapped_[i] = true;
        sparse.indices = reinterpret_cast<const uint32_t *>(
            artifact.blobData(w.indices_blob));
        continue;
      }
      if (widened)
        widenCopy(reinterpret_cast<const uint16_t *>(hw->data_[i]));
      else if (!half)
        hw->f32_[i] = reinterpret_cast<const float *>(hw->data_[i]);
      hw->mapped_[i] = !half;
      continue;
    }
    if (weightsDir.empty())
      return fieldError("weights",
                        absl::StrCat("needed: the weights of ", artifact.path(),
                                     " are external (give the Hugging Face "
                                     "folder it was compiled from)"));
    if (!hw->store_) {
      KILN_ASSIGN_OR_RETURN(auto opened, WeightStore::openFolder(weightsDir));
      hw->store_ = std::move(opened);
    }
    // The checkpoint tensors it is made of: its source, or the parts a
    // merged projection concatenates along dim 0.
    struct Source {
      std::string name, dtype;
      uint64_t hash;
      std::vector<int64_t> shape;
    };
    std::vector<Source> sources;
    if (!w.parts.empty()) {
      // Each part a positive share of dim 0, together all of it (checked
      // without overflow on damaged counts).
      int64_t rows = 0;
      bool fits = !w.shape.empty();
      for (const auto &part : w.parts) {
        fits = fits && part->rows > 0 && part->rows <= w.shape[0] - rows;
        if (fits)
          rows += part->rows;
      }
      if (!fits || rows != w.shape[0])
        return error(absl::StrCat("damaged: the parts of weight '", w.name,
                                  "' do not make its shape"));
    }
    if (w.parts.empty()) {
      sources.push_back({w.source, w.source_dtype, w.source_hash, w.shape});
    } else {
      for (const auto &part : w.parts) {
        std::vector<int64_t> shape = w.shape;
        shape[0] = part->rows;
        sources.push_back(
            {part->source, part->source_dtype, part->source_hash, shape});
      }
    }
    // A sharded weight (kilnc --tp) is this rank's part of each source:
    // the source is whole along the shard axis.
    const bool sharded = w.shard_parts > 0;
    if (sharded) {
      const auto axis = static_cast<size_t>(w.shard_axis);
      if (w.shard_axis < 0 || axis >= w.shape.size() || w.shard_parts > 4096 ||
          w.shard_sections < 1 || w.shard_sections > 4096 ||
          w.shard_replicas < 1 || w.shard_replicas > 4096 ||
          w.shape[axis] % w.shard_sections != 0 || w.shard_pad < 0 ||
          w.shard_pad >= w.shard_parts ||
          (w.shard_pad > 0 && w.shard_sections != 1) ||
          w.shape[axis] * w.shard_parts <= w.shard_pad)
        return error(absl::StrCat("damaged: weight '", w.name,
                                  "' has an impossible shard"));
      // A padded shard's source is shard_pad slices shorter.
      for (Source &source : sources)
        source.shape[axis] = source.shape[axis] * w.shard_parts - w.shard_pad;
    }
    // A pruned one (kilnc --prune): its kept slices, then its mask.
    auto checked = externalPruning(w, sources.front().shape);
    if (!checked.ok())
      return error(std::string(checked.status().message()));
    const ExternalPruning &pruning = *checked;
    if (pruning.kept)
      for (Source &source : sources)
        source.shape[w.keep_axis] = w.keep_from;
    // The values this rank reads of one source: kept, pruned, then cut.
    auto valuesOf = [&](const TensorView *t, const Source &source) {
      std::vector<float> values = t->toFloat();
      std::vector<int64_t> shape = source.shape;
      if (pruning.kept) {
        values =
            keepSlices(values.data(), shape, w.keep_axis, pruning.keepIndices);
        shape[w.keep_axis] = static_cast<int64_t>(pruning.keepIndices.size());
      }
      if (pruning.pruned)
        applyPrune(pruning.spec, values.data(), shape[0], shape[1]);
      if (!sharded)
        return values;
      const auto axis = static_cast<size_t>(w.shard_axis);
      return keepSlices(values.data(), shape, w.shard_axis,
                        shardIndices(rank, shape[axis], w.shard_sections,
                                     w.shard_parts, w.shard_replicas,
                                     w.shard_pad));
    };
    std::vector<const TensorView *> views;
    for (const Source &source : sources) {
      auto view = hw->store_->get(source.name);
      if (!view.ok())
        return fieldError("weights",
                          absl::StrCat(weightsDir, ": ",
                                       view.status().message(),
                                       " (the artifact needs it)"),
                          absl::StatusCode::kNotFound);
      const TensorView &t = **view;
      auto mismatch = [&](const std::string &what) {
        return fieldError(
            "weights", absl::StrCat(weightsDir, ": tensor '", source.name, "' ",
                                    what, "; these are not the weights ",
                                    artifact.path(), " was compiled with"));
      };
      if (t.shape != source.shape)
        return mismatch(absl::StrCat("has shape ", formatDims(t.shape),
                                     ", the artifact expects ",
                                     formatDims(source.shape)));
      if (source.dtype != kiln::dtypeName(t.dtype))
        return mismatch(absl::StrCat("is ", kiln::dtypeName(t.dtype),
                                     ", the artifact expects ", source.dtype));
      if (checksum(t.data, t.bytes) != source.hash)
        return mismatch("has different contents (hash mismatch)");
      views.push_back(&t);
    }
    if (quantized) {
      // Quantized here as kilnc quantizes embedded weights.
      std::vector<float> values;
      for (size_t v = 0; v < views.size(); ++v) {
        std::vector<float> part = valuesOf(views[v], sources[v]);
        values.insert(values.end(), part.begin(), part.end());
      }
      if (hw->smooth_[i])
        smoothWeight(q.format, values.data(), w.quant_axis, hw->smooth_[i]);
      QuantizedWeight &owned = hw->ownedQuantized_[i];
      owned = quantizeWeight(q.format, values.data(), w.quant_axis);
      q.values = owned.values.data();
      q.scales = owned.scales.data();
      hw->data_[i] = q.values;
      continue;
    }
    if (half) {
      std::vector<uint16_t> &narrow = hw->ownedHalf_[i];
      for (size_t v = 0; v < views.size(); ++v)
        for (float x : valuesOf(views[v], sources[v]))
          narrow.push_back(w.dtype == DType::BF16 ? floatToBf16(x)
                                                  : floatToHalf(x));
      hw->data_[i] = reinterpret_cast<const uint8_t *>(narrow.data());
      if (widened)
        widenCopy(narrow.data());
      continue;
    }
    if (views.size() == 1 && views[0]->dtype == kiln::DType::F32 && !sharded &&
        !pruning.kept && !pruning.pruned &&
        reinterpret_cast<uintptr_t>(views[0]->data) % alignof(float) == 0) {
      hw->data_[i] = views[0]->data;
      hw->mapped_[i] = true;
    } else {
      for (size_t v = 0; v < views.size(); ++v) {
        std::vector<float> values = valuesOf(views[v], sources[v]);
        hw->owned_[i].insert(hw->owned_[i].end(), values.begin(), values.end());
      }
      hw->data_[i] = reinterpret_cast<const uint8_t *>(hw->owned_[i].data());
    }
    if (w.sparse == SparseFormat::TwoFour) {
      // Compressed here as kilnc compresses embedded ones.
      Sparse24Weight &owned = hw->ownedSparse24_[i];
      owned = compress24(sparse.format, hw->owned_[i].data(), w.sparse_axis);
      std::vector<float>().swap(hw->owned_[i]);
      sparse.values = owned.values.data();
      sparse.indices = owned.indices.data();
      hw->data_[i] = reinterpret_cast<const uint8_t *>(sparse.values);
      continue;
    }
    if (w.sparse == SparseFormat::Rows) {
      SparseRowsWeight &owned = hw->ownedRows_[i];
      owned = compressRows(w.shape[w.sparse_axis], w.shape[1 - w.sparse_axis],
                           hw->owned_[i].data(), w.sparse_axis);
      std::vector<float>().swap(hw->owned_[i]);
      hw->sparseRows_[i] = {owned.rows, owned.cols, owned.offsets.data(),
                            owned.indices.data(), owned.values.data()};
      hw->data_[i] = reinterpret_cast<const uint8_t *>(owned.values.data());
      hw->bytes_[i] = static_cast<int64_t>(owned.values.size() * sizeof(float));
      continue;
    }
    hw->f32_[i] = reinterpret_cast<const float *>(hw->data_[i]);
  }
  return hw;
}

namespace {

/// Gives back the whole pages inside [data, data + bytes) of a read-only
/// file mapping: the first and last may hold a neighbour's bytes, which
/// stay mapped.
void dropPages(const void *data, int64_t bytes) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(data);
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + bytes) / page * page;
  // Advice only: a mapping that refuses it keeps its pages.
  if (last > first)
    madvise(reinterpret_cast<void *>(first), last - first, MADV_DONTNEED);
}

} // namespace

void HostWeights::dropMappedPages(size_t slot) const {
  if (slot < data_.size() && mapped_[slot] && data_[slot])
    dropPages(data_[slot], bytes_[slot]);
}

void HostWeights::moveToHugePages(std::vector<size_t> slots) {
  // Each slot once (several steps read a weight): a second move would copy
  // the copy, and give back pages that are not the file's.
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  // Each moved array: where it is read from, its bytes, and where its
  // pointer is kept.
  struct Move {
    const void **pointer;
    int64_t bytes;
  };
  std::vector<Move> moves;
  std::vector<size_t> moved;
  for (size_t slot : slots) {
    if (slot >= data_.size() || !mapped_[slot])
      continue;
    if (QuantizedMatrix &q = quantized_[slot]; q.values) {
      moves.push_back(
          {reinterpret_cast<const void **>(&q.values), bytes_[slot]});
    } else if (Sparse24Matrix &w = sparse24_[slot]; w.values) {
      moves.push_back(
          {reinterpret_cast<const void **>(&w.values), bytes_[slot]});
      moves.push_back(
          {reinterpret_cast<const void **>(&w.indices),
           w.format.indexCount() * static_cast<int64_t>(sizeof(uint32_t))});
    } else {
      continue;
    }
    moved.push_back(slot);
  }
  // One buffer for all of them, so that small weights share huge pages;
  // each array 64-byte aligned in it.
  auto aligned = [](int64_t bytes) { return (bytes + 63) / 64 * 64; };
  int64_t total = 0;
  for (const Move &m : moves)
    total += aligned(m.bytes);
  WeightBuffer buffer = allocateWeightBuffer(static_cast<size_t>(total));
  if (!buffer)
    return; // read in place, as before
  auto *at = static_cast<uint8_t *>(buffer.get());
  for (const Move &m : moves) {
    std::memcpy(at, *m.pointer, m.bytes);
    dropPages(*m.pointer, m.bytes);
    *m.pointer = at;
    at += aligned(m.bytes);
  }
  for (size_t slot : moved) {
    data_[slot] =
        quantized_[slot].values
            ? quantized_[slot].values
            : reinterpret_cast<const uint8_t *>(sparse24_[slot].values);
    mapped_[slot] = false;
  }
  hugeCopies_.push_back(std::move(buffer));
}

} // namespace kiln::rt
