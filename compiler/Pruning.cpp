//===- Pruning.cpp - kilnc --prune: what to prune, and the analyses -------===//

#include "compiler/Pruning.h"

#include "dialects/kiln/KilnOps.h"
#include "passes/Pipelines.h"
#include "passes/Transforms/Prune.h"
#include "support/Prune.h"
#include "support/SafeTensors.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "mlir/IR/BuiltinAttributes.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <set>

namespace kiln {

absl::StatusOr<PruneRequest> parsePruneRequest(const std::string &text) {
  PruneRequest request;
  if (text.empty() || text == "none")
    return request;
  auto invalid = [&](const std::string &why) {
    return absl::InvalidArgumentError("--prune '" + text + "': " + why);
  };
  auto fraction = [&](absl::string_view value, double &out) -> absl::Status {
    if (!absl::SimpleAtod(value, &out) || !(out > 0 && out < 1))
      return invalid("'" + std::string(value) +
                     "' is not a fraction in (0, 1)");
    return absl::OkStatus();
  };
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(item, absl::MaxSplits(':', 1));
    int64_t n = 0, m = 0;
    if (kv.first == "unstructured") {
      if (auto s = fraction(kv.second, request.fraction); !s.ok())
        return s;
    } else if (kv.first == "heads") {
      if (auto s = fraction(kv.second, request.heads); !s.ok())
        return s;
    } else if (kv.first == "ffn") {
      if (auto s = fraction(kv.second, request.ffn); !s.ok())
        return s;
    } else if (absl::SimpleAtoi(kv.first, &n) &&
               absl::SimpleAtoi(kv.second, &m)) {
      if (!(n > 0 && n < m && m <= 16))
        return invalid("n:m needs 0 < n < m <= 16");
      request.n = n;
      request.m = m;
    } else {
      return invalid("'" + std::string(item) +
                     "' is none of unstructured:F, 2:4 (n:m), heads:F, "
                     "ffn:F");
    }
  }
  if (request.fraction > 0 && request.m > 0)
    return invalid("unstructured and n:m pruning cannot be combined");
  return request;
}

void setPruneOptions(const PruneRequest &request, double threshold,
                     KilnStepListOptions &options) {
  options.pruneFfn = request.ffn;
  options.pruneHeads = request.heads;
  options.pruneN = request.n;
  options.pruneM = request.m;
  options.pruneThreshold = threshold;
  options.pruneFraction = threshold > 0 ? 0.0 : request.fraction;
}

namespace {

/// A weight as the checkpoint holds it (the analyses run before pruning).
absl::StatusOr<std::vector<float>> readWeight(ParamOp param,
                                              const WeightStore &weights) {
  auto view = weights.get(param.getName().str());
  if (!view.ok())
    return view.status();
  return (*view)->toFloat();
}

/// Squared L2 norms of `linear`'s weight slices: one per output channel
/// (`output`) or per input feature.
absl::StatusOr<std::vector<double>>
weightSliceNorms2(LinearOp linear, bool output, const WeightStore &weights) {
  auto param = linear.getWeight().getDefiningOp<ParamOp>();
  auto w = readWeight(param, weights);
  if (!w.ok())
    return w.status();
  auto shape = param.getType().getShape();
  if (static_cast<int64_t>(w->size()) != shape[0] * shape[1])
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", param.getName().str(), "' does not have the IR's shape"));
  const int64_t out = linear.getLayout() == WeightLayout::InOut ? 1 : 0;
  const int64_t axis = output ? out : 1 - out;
  std::vector<double> norms(shape[axis], 0.0);
  for (int64_t i = 0; i < shape[0]; ++i)
    for (int64_t j = 0; j < shape[1]; ++j) {
      double x = (*w)[i * shape[1] + j];
      norms[axis == 0 ? i : j] += x * x;
    }
  return norms;
}

} // namespace

absl::StatusOr<ScoreCounts> recordNeuronScores(mlir::ModuleOp module,
                                               const WeightStore &weights) {
  absl::Status status = absl::OkStatus();
  ScoreCounts counts;
  int64_t &scored = counts.scored;
  module.walk([&](LinearOp down) {
    if (!status.ok())
      return;
    std::optional<FfnBlock> block = matchFfn(down);
    if (!block)
      return;
    std::vector<double> score(block->neurons, 1.0);
    // Activation-aware (a calibration run's norms on the down projection):
    // neuron j's output is its activation times the down weight's input
    // slice j, so its score is ||a_j|| * ||W_down[:, j]|| (Wanda's
    // |w| * ||x||, summed over the slice), and the producers' weights are
    // already in a_j.
    auto inputNorms = down->getAttrOfType<mlir::DenseF64ArrayAttr>(kInputNorms);
    if (inputNorms &&
        static_cast<int64_t>(inputNorms.size()) == block->neurons) {
      auto norms = weightSliceNorms2(down, /*output=*/false, weights);
      if (!norms.ok()) {
        status = norms.status();
        return;
      }
      std::vector<float> scores;
      for (int64_t j = 0; j < block->neurons; ++j)
        scores.push_back(
            static_cast<float>(inputNorms[j] * std::sqrt((*norms)[j])));
      down->setAttr(kNeuronScores,
                    mlir::DenseF32ArrayAttr::get(down.getContext(), scores));
      ++scored;
      ++counts.activationAware;
      return;
    }
    auto multiply = [&](LinearOp linear, bool output) -> absl::Status {
      auto norms = weightSliceNorms2(linear, output, weights);
      if (!norms.ok())
        return norms.status();
      for (int64_t j = 0; j < block->neurons; ++j)
        score[j] *= std::sqrt((*norms)[j]);
      return absl::OkStatus();
    };
    for (LinearOp producer : block->producers)
      if (status = multiply(producer, /*output=*/true); !status.ok())
        return;
    if (status = multiply(down, /*output=*/false); !status.ok())
      return;
    std::vector<float> scores(score.begin(), score.end());
    down->setAttr(kNeuronScores,
                  mlir::DenseF32ArrayAttr::get(down.getContext(), scores));
    ++scored;
  });
  if (!status.ok())
    return status;
  return counts;
}

absl::StatusOr<ScoreCounts> recordHeadScores(mlir::ModuleOp module,
                                             const WeightStore &weights) {
  absl::Status status = absl::OkStatus();
  ScoreCounts counts;
  int64_t &scored = counts.scored, &total = counts.total;
  module.walk([&](AttentionOp attention) {
    ++total;
    if (!status.ok())
      return;
    std::optional<AttentionBlock> block = matchAttentionBlock(attention);
    if (!block)
      return;
    const int64_t groups = attention.getNumKvHeads();
    const int64_t perGroup = attention.getNumHeads() / groups;
    const int64_t d = block->headDim;
    // Each group's slices of a weight's squared norms (along its output
    // or input dim), summed; a merged projection's norms are read once.
    std::vector<double> score(groups, 1.0);
    // Activation-aware (a calibration run's norms on the output
    // projection, whose input is the heads' outputs side by side): group
    // g's score is the L2 norm over its features f of ||x_f|| *
    // ||W_o[:, f]||, what the group adds to the projection's output.
    auto inputNorms =
        block->output->getAttrOfType<mlir::DenseF64ArrayAttr>(kInputNorms);
    if (inputNorms &&
        static_cast<int64_t>(inputNorms.size()) == groups * perGroup * d) {
      auto norms = weightSliceNorms2(block->output, /*output=*/false, weights);
      if (!norms.ok()) {
        status = norms.status();
        return;
      }
      std::vector<float> scores;
      for (int64_t g = 0; g < groups; ++g) {
        double sum = 0;
        for (int64_t f = g * perGroup * d; f < (g + 1) * perGroup * d; ++f)
          sum += inputNorms[f] * inputNorms[f] * (*norms)[f];
        scores.push_back(static_cast<float>(std::sqrt(sum)));
      }
      attention->setAttr(kHeadScores, mlir::DenseF32ArrayAttr::get(
                                          attention.getContext(), scores));
      ++scored;
      ++counts.activationAware;
      return;
    }
    std::optional<std::vector<double>> merged;
    auto multiply = [&](LinearOp linear, bool output, int64_t offset,
                        int64_t headsPerGroup) -> absl::Status {
      std::optional<std::vector<double>> own;
      std::optional<std::vector<double>> &norms =
          block->inputs[0].slice && output ? merged : own;
      if (!norms) {
        auto read = weightSliceNorms2(linear, output, weights);
        if (!read.ok())
          return read.status();
        norms = std::move(*read);
      }
      for (int64_t g = 0; g < groups; ++g) {
        double sum = 0;
        for (int64_t c = 0; c < headsPerGroup * d; ++c)
          sum += (*norms)[offset + g * headsPerGroup * d + c];
        score[g] *= std::sqrt(sum);
      }
      return absl::OkStatus();
    };
    for (int i = 0; i < 3 && status.ok(); ++i)
      status = multiply(block->inputs[i].projection, /*output=*/true,
                        block->inputs[i].offset, i == 0 ? perGroup : 1);
    if (status.ok())
      status = multiply(block->output, /*output=*/false, 0, perGroup);
    if (!status.ok())
      return;
    std::vector<float> scores(score.begin(), score.end());
    attention->setAttr(kHeadScores, mlir::DenseF32ArrayAttr::get(
                                        attention.getContext(), scores));
    ++scored;
  });
  if (!status.ok())
    return status;
  return counts;
}

absl::StatusOr<double>
globalPruneThreshold(mlir::ModuleOp module, const WeightStore &weights,
                     double fraction, const std::vector<std::string> &exclude) {
  std::set<std::string> seen(exclude.begin(), exclude.end());
  std::vector<double> magnitudes;
  absl::Status status = absl::OkStatus();
  module.walk([&](LinearOp linear) {
    if (!status.ok() || !prunableLinear(linear))
      return;
    auto param = linear.getWeight().getDefiningOp<ParamOp>();
    if (!seen.insert(storedWeightKey(param)).second)
      return;
    auto w = readWeight(param, weights);
    if (!w.ok()) {
      status = w.status();
      return;
    }
    // Activation-aware: the scores kiln-prune-weights will rank, |w| *
    // ||x_j|| with j the element's input feature.
    auto norms = linear->getAttrOfType<mlir::DenseF64ArrayAttr>(kInputNorms);
    PruneSpec spec;
    spec.axis = linear.getLayout() == WeightLayout::InOut ? 0 : 1;
    // As kiln-prune-weights makes them #kiln.prune's f32 factors.
    if (norms && static_cast<int64_t>(norms.size()) ==
                     param.getType().getDimSize(spec.axis))
      spec.scale.assign(norms.asArrayRef().begin(), norms.asArrayRef().end());
    const int64_t cols = param.getType().getDimSize(1);
    for (int64_t i = 0; i < static_cast<int64_t>(w->size()); ++i)
      magnitudes.push_back(pruneScore(spec, w->data(), i, cols));
  });
  if (!status.ok())
    return status;
  const auto count = static_cast<int64_t>(
      std::floor(fraction * static_cast<double>(magnitudes.size())));
  if (count <= 0)
    return 0.0;
  std::nth_element(magnitudes.begin(), magnitudes.begin() + (count - 1),
                   magnitudes.end());
  // Strictly above the count-th smallest, so it is pruned too.
  return std::nextafter(static_cast<double>(magnitudes[count - 1]),
                        std::numeric_limits<double>::infinity());
}

} // namespace kiln
