//===- Prune.cpp - kiln-prune-weights and kiln-prune-structured -----------===//
//
// See KilnPruneWeights and KilnPruneStructured in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "passes/Transforms/Prune.h"

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace kiln {
#define GEN_PASS_DEF_KILNPRUNESTRUCTURED
#define GEN_PASS_DEF_KILNPRUNEWEIGHTS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {

namespace {

/// A checkpoint tensor read only by `linear`, as its weight or bias.
ParamOp ownParam(Value v) {
  auto param = v.getDefiningOp<ParamOp>();
  if (!param || param.getParts() || param.getQuantAttr() || !param->hasOneUse())
    return {};
  return param;
}

/// Whether a checkpoint name has a dot-separated all-digit component.
bool inBlock(StringRef name) {
  SmallVector<StringRef> parts;
  name.split(parts, '.');
  for (size_t i = 1; i + 1 < parts.size(); ++i)
    if (!parts[i].empty() && llvm::all_of(parts[i], llvm::isDigit))
      return true;
  return false;
}

/// The output-channel dim of `linear`'s weight.
int64_t outAxis(LinearOp linear) {
  return linear.getLayout() == WeightLayout::InOut ? 1 : 0;
}

} // namespace

std::optional<FfnBlock> matchFfn(LinearOp down) {
  FfnBlock block;
  block.down = down;
  if (!ownParam(down.getWeight()))
    return std::nullopt;
  Value input = down.getInput();
  if (!input.hasOneUse())
    return std::nullopt;
  if (auto mul = input.getDefiningOp<MulOp>()) {
    block.mul = mul;
    for (Value operand : mul->getOperands()) {
      auto producer = operand.getDefiningOp<LinearOp>();
      if (!producer || !operand.hasOneUse())
        return std::nullopt;
      block.producers.push_back(producer);
    }
    // One of the two is the gate: it carries the activation.
    if (llvm::count_if(block.producers, [](LinearOp op) {
          return op.getActivation() != Activation::None;
        }) != 1)
      return std::nullopt;
  } else if (auto up = input.getDefiningOp<LinearOp>()) {
    if (up.getActivation() == Activation::None)
      return std::nullopt;
    block.producers.push_back(up);
  } else {
    return std::nullopt;
  }
  auto type = cast<RankedTensorType>(input.getType());
  block.neurons = type.getDimSize(type.getRank() - 1);
  for (LinearOp producer : block.producers) {
    if (!ownParam(producer.getWeight()) || producer.getResidual() ||
        (producer.getBias() && !ownParam(producer.getBias())) ||
        producer.getInput() != block.producers.front().getInput())
      return std::nullopt;
  }
  if (ShapedType::isDynamic(block.neurons))
    return std::nullopt;
  return block;
}

std::optional<AttentionBlock> matchAttentionBlock(AttentionOp attention) {
  AttentionBlock block;
  block.attention = attention;
  if (Value bias = attention.getBias()) {
    // T5's relative-position bias: the pass gives the block its own copy
    // of the kept heads' table columns. A bias of any other origin cannot
    // be narrowed by head here.
    auto relative = bias.getDefiningOp<RelativePositionBiasOp>();
    if (!relative)
      return std::nullopt;
    auto table = relative.getTable().getDefiningOp<ParamOp>();
    auto type = cast<RankedTensorType>(bias.getType());
    if (!table || table.getParts() || table.getKeepAttr() ||
        table.getQuantAttr() || table.getShardAttr() ||
        type.getDimSize(1) != attention.getNumHeads())
      return std::nullopt;
    block.positionBias = relative;
  }
  Value result = attention.getResult();
  if (!result.hasOneUse())
    return std::nullopt;
  auto output = dyn_cast<LinearOp>(*result.getUsers().begin());
  if (!output || output.getInput() != result || !ownParam(output.getWeight()))
    return std::nullopt;
  block.output = output;
  auto queryType = cast<RankedTensorType>(attention.getQuery().getType());
  const int64_t width = queryType.getDimSize(queryType.getRank() - 1);
  if (ShapedType::isDynamic(width) || width % attention.getNumHeads() != 0)
    return std::nullopt;
  block.headDim = width / attention.getNumHeads();
  Value operands[3] = {attention.getQuery(), attention.getKey(),
                       attention.getValue()};
  LinearOp merged;
  for (int i = 0; i < 3; ++i) {
    AttentionBlock::Input &input = block.inputs[i];
    Value v = operands[i];
    if (!v.hasOneUse())
      return std::nullopt;
    if (auto rotary = v.getDefiningOp<RotaryOp>()) {
      input.rotary = rotary;
      v = rotary.getInput();
      if (!v.hasOneUse())
        return std::nullopt;
    }
    if (auto slice = v.getDefiningOp<SliceOp>()) {
      auto type = cast<RankedTensorType>(slice.getInput().getType());
      if (slice.getDim() != type.getRank() - 1 || slice.getStep() != 1)
        return std::nullopt;
      input.slice = slice;
      input.offset = slice.getStart();
      v = slice.getInput();
    } else if (!v.hasOneUse()) {
      return std::nullopt;
    }
    auto projection = v.getDefiningOp<LinearOp>();
    if (!projection || !ownParam(projection.getWeight()) ||
        projection.getResidual() ||
        projection.getActivation() != Activation::None ||
        (projection.getBias() && !ownParam(projection.getBias())))
      return std::nullopt;
    input.projection = projection;
    if (input.slice) {
      // One merged projection for all three, read only by their slices.
      if (merged && merged != projection)
        return std::nullopt;
      merged = projection;
    }
  }
  if (merged) {
    for (const AttentionBlock::Input &input : block.inputs)
      if (!input.slice)
        return std::nullopt;
    if (std::distance(merged->getUsers().begin(), merged->getUsers().end()) !=
        3)
      return std::nullopt;
  }
  return block;
}

bool prunableLinear(LinearOp linear) {
  auto param = linear.getWeight().getDefiningOp<ParamOp>();
  if (!param || param.getQuantAttr() ||
      !isa<FloatType>(param.getType().getElementType()) ||
      param.getType().getRank() != 2)
    return false;
  // A weight something else reads too (a tied embedding table).
  for (Operation *user : param->getUsers()) {
    auto other = dyn_cast<LinearOp>(user);
    if (!other || other.getWeight() != param.getResult() ||
        other.getInput() == param.getResult())
      return false;
  }
  // A transformer block's weight: its checkpoint name has a layer index
  // (h.3., layers.3., layer.3., block.3.). The LM head, classifier heads,
  // BERT's pooler and MLM transform are outside the blocks.
  return inBlock(param.getName());
}

namespace {

struct KilnPruneWeightsPass
    : public impl::KilnPruneWeightsBase<KilnPruneWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    const bool semi = m > 0;
    if (semi && (n <= 0 || n >= m)) {
      getOperation()->emitError()
          << "kiln-prune-weights: n:m needs 0 < n < m, got " << n.getValue()
          << ":" << m.getValue();
      return signalPassFailure();
    }
    if (!(fraction >= 0 && fraction < 1) || !(threshold >= 0) ||
        std::isinf(threshold)) {
      getOperation()->emitError()
          << "kiln-prune-weights: fraction must be in [0, 1) and threshold "
             "finite and >= 0";
      return signalPassFailure();
    }
    if (!semi && fraction == 0 && threshold == 0)
      return; // nothing asked
    llvm::StringSet<> excluded;
    for (const std::string &name : exclude)
      excluded.insert(name);
    auto attr = PruneAttr::get(
        &getContext(), semi ? n.getValue() : 0, semi ? m.getValue() : 0,
        /*axis=*/0, semi || threshold > 0 ? 0.0 : fraction.getValue(),
        semi ? 0.0 : threshold.getValue());
    getOperation().walk([&](LinearOp linear) {
      // The calibration's input norms serve this pass only.
      auto norms = linear->getAttrOfType<DenseF64ArrayAttr>(kInputNorms);
      linear->removeAttr(kInputNorms);
      if (!prunableLinear(linear))
        return;
      auto param = linear.getWeight().getDefiningOp<ParamOp>();
      if (param.getPruneAttr() || excluded.contains(param.getName()))
        return;
      const int64_t inAxis = 1 - outAxis(linear);
      const int64_t features = param.getType().getDimSize(inAxis);
      // Activation-aware: Wanda's |w| * ||x_j||.
      DenseF32ArrayAttr scale;
      if (norms && static_cast<int64_t>(norms.size()) == features) {
        SmallVector<float> factors(norms.asArrayRef().begin(),
                                   norms.asArrayRef().end());
        scale = DenseF32ArrayAttr::get(&getContext(), factors);
      }
      PruneAttr prune = attr;
      if (semi) {
        if (features % m != 0) {
          linear.emitRemark()
              << "weight '" << param.getName()
              << "' stays dense: " << m.getValue() << " does not divide its "
              << features << " input features";
          return;
        }
        prune = PruneAttr::get(&getContext(), n, m, inAxis, 0.0, 0.0, scale);
      } else if (scale) {
        prune = PruneAttr::get(&getContext(), 0, 0, inAxis,
                               attr.getFraction().convertToDouble(),
                               attr.getThreshold().convertToDouble(), scale);
      }
      param.setPruneAttr(prune);
    });
  }
};

struct KilnPruneStructuredPass
    : public impl::KilnPruneStructuredBase<KilnPruneStructuredPass> {
  using Base::Base;

  void runOnOperation() override {
    if (!(ffn >= 0 && ffn < 1)) {
      getOperation()->emitError()
          << "kiln-prune-structured: ffn must be in [0, 1), got "
          << ffn.getValue();
      return signalPassFailure();
    }
    if (!(heads >= 0 && heads < 1)) {
      getOperation()->emitError()
          << "kiln-prune-structured: heads must be in [0, 1), got "
          << heads.getValue();
      return signalPassFailure();
    }
    SmallVector<AttentionOp> attentions;
    getOperation().walk([&](AttentionOp op) { attentions.push_back(op); });
    for (AttentionOp attention : attentions) {
      auto scores = attention->getAttrOfType<DenseF32ArrayAttr>(kHeadScores);
      attention->removeAttr(kHeadScores);
      if (heads == 0)
        continue;
      std::optional<AttentionBlock> block = matchAttentionBlock(attention);
      if (!block) {
        attention.emitRemark()
            << "attention heads left whole: not a block of plain projections "
               "(a bias other than T5's relative-position bias, or other "
               "readers of the projections)";
        continue;
      }
      if (!scores) {
        attention.emitRemark() << "attention heads left whole: no "
                                  "kiln.head_scores";
        continue;
      }
      if (static_cast<int64_t>(scores.size()) != attention.getNumKvHeads()) {
        attention.emitError()
            << "kiln.head_scores has " << scores.size() << " scores for "
            << attention.getNumKvHeads() << " key/value heads";
        return signalPassFailure();
      }
      shrinkHeads(*block, keptGroups(scores.asArrayRef()));
    }
    SmallVector<LinearOp> downs;
    getOperation().walk([&](LinearOp linear) {
      if (linear->hasAttr(kNeuronScores) || ffn > 0)
        downs.push_back(linear);
    });
    for (LinearOp down : downs) {
      auto scores = down->getAttrOfType<DenseF32ArrayAttr>(kNeuronScores);
      down->removeAttr(kNeuronScores);
      if (ffn == 0)
        continue;
      std::optional<FfnBlock> block = matchFfn(down);
      if (!block)
        continue;
      if (!scores) {
        down.emitRemark() << "FFN block left whole: its output projection "
                             "has no kiln.neuron_scores";
        continue;
      }
      if (static_cast<int64_t>(scores.size()) != block->neurons) {
        down.emitError() << "kiln.neuron_scores has " << scores.size()
                         << " scores for " << block->neurons << " neurons";
        return signalPassFailure();
      }
      shrink(*block, keptNeurons(scores.asArrayRef()));
    }
  }

  /// The `kept` best-scoring indices, ascending (the lower index first on
  /// a tie).
  static SmallVector<int64_t> best(ArrayRef<float> scores, int64_t kept) {
    SmallVector<int64_t> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return scores[a] > scores[b];
    });
    order.resize(kept);
    llvm::sort(order);
    return order;
  }

  /// The best-scoring neurons: all but floor(ffn * d), rounded up to a
  /// multiple of 4.
  SmallVector<int64_t> keptNeurons(ArrayRef<float> scores) const {
    const auto total = static_cast<int64_t>(scores.size());
    int64_t kept = total - static_cast<int64_t>(std::floor(ffn * total));
    return best(scores,
                std::min(total, std::max<int64_t>(4, (kept + 3) / 4 * 4)));
  }

  /// The best-scoring key/value head groups: all but floor(heads *
  /// groups), at least one.
  SmallVector<int64_t> keptGroups(ArrayRef<float> scores) const {
    const auto total = static_cast<int64_t>(scores.size());
    return best(scores,
                std::max<int64_t>(1, total - static_cast<int64_t>(
                                                 std::floor(heads * total))));
  }

  /// Keeps head groups `groups` of `block`: the projections' output
  /// columns, the output projection's input rows, the caches' columns.
  void shrinkHeads(AttentionBlock &block, ArrayRef<int64_t> groups) {
    AttentionOp attention = block.attention;
    const int64_t d = block.headDim;
    const int64_t perGroup =
        attention.getNumHeads() / attention.getNumKvHeads();
    const auto keptKv = static_cast<int64_t>(groups.size());
    if (keptKv == attention.getNumKvHeads())
      return;
    // The columns each operand keeps: query heads g * perGroup + i, key and
    // value head g, each d wide.
    SmallVector<int64_t> columns[3];
    for (int64_t g : groups)
      for (int64_t i = 0; i < perGroup; ++i)
        for (int64_t c = 0; c < d; ++c)
          columns[0].push_back((g * perGroup + i) * d + c);
    for (int64_t g : groups)
      for (int64_t c = 0; c < d; ++c)
        columns[1].push_back(g * d + c);
    columns[2] = columns[1];
    // The projections: each its own, or one merged one whose slices move.
    LinearOp merged =
        block.inputs[0].slice ? block.inputs[0].projection : LinearOp();
    if (merged) {
      SmallVector<int> order = {0, 1, 2};
      llvm::sort(order, [&](int a, int b) {
        return block.inputs[a].offset < block.inputs[b].offset;
      });
      SmallVector<int64_t> kept;
      int64_t start = 0;
      for (int i : order) {
        for (int64_t c : columns[i])
          kept.push_back(block.inputs[i].offset + c);
        SliceOp slice = block.inputs[i].slice;
        const auto width = static_cast<int64_t>(columns[i].size());
        OpBuilder b(slice);
        slice.setStart(start);
        slice.setEnd(start + width);
        narrow(slice.getResult(), width);
        start += width;
      }
      keepOutputs(merged, kept);
    } else {
      for (int i = 0; i < 3; ++i)
        keepOutputs(block.inputs[i].projection, columns[i]);
    }
    const int64_t keptHeads = keptKv * perGroup;
    for (int i = 0; i < 2; ++i)
      if (RotaryOp rotary = block.inputs[i].rotary) {
        rotary.setNumHeads(i == 0 ? keptHeads : keptKv);
        narrow(rotary.getResult(), static_cast<int64_t>(columns[i].size()));
      }
    if (block.positionBias)
      narrowPositionBias(block, groups, perGroup);
    attention.setNumHeads(keptHeads);
    attention.setNumKvHeads(keptKv);
    narrow(attention.getResult(), static_cast<int64_t>(columns[0].size()));
    // The caches hold the kept key/value heads only: the entry's arguments
    // and results change type with them.
    for (Value cache : {attention.getKCache(), attention.getVCache()}) {
      if (!cache)
        continue;
      narrow(cache, static_cast<int64_t>(columns[1].size()));
    }
    for (Value updated : attention.getUpdatedCaches())
      narrow(updated, static_cast<int64_t>(columns[1].size()));
    keep(block.output.getWeight().getDefiningOp<ParamOp>(),
         1 - outAxis(block.output), columns[0]);
    keepInputNorms(block.output, columns[0]);
    if (attention.getKCache())
      updateSignature(attention->getParentOfType<func::FuncOp>());
  }

  /// Gives `block`'s attention its own relative-position bias over the
  /// query heads of `groups`: the shared bias op read from the kept
  /// columns of its table. The shared op goes once no layer reads it.
  void narrowPositionBias(AttentionBlock &block, ArrayRef<int64_t> groups,
                          int64_t perGroup) {
    RelativePositionBiasOp shared = block.positionBias;
    auto table = shared.getTable().getDefiningOp<ParamOp>();
    SmallVector<int64_t> heads;
    for (int64_t g : groups)
      for (int64_t i = 0; i < perGroup; ++i)
        heads.push_back(g * perGroup + i);
    auto type = cast<RankedTensorType>(table.getType());
    // Before the shared op, whose operands are defined before it.
    OpBuilder b(shared);
    auto kept = ParamOp::create(
        b, table.getLoc(),
        RankedTensorType::get(
            {type.getDimSize(0), static_cast<int64_t>(heads.size())},
            type.getElementType()),
        table.getNameAttr(), ArrayAttr(),
        KeepAttr::get(&getContext(), /*axis=*/1, heads), PruneAttr(),
        QuantAttr(), ShardAttr());
    auto own = RelativePositionBiasOp::create(
        b, shared.getLoc(), kept, shared.getQueryPositions(),
        shared.getKeyPositions(), shared.getBidirectional(),
        shared.getNumBuckets(), shared.getMaxDistance());
    block.attention.getBiasMutable().assign(own.getResult());
    if (shared->use_empty()) {
      shared.erase();
      if (table->use_empty())
        table.erase();
    }
  }

  /// `linear`'s output columns `columns`: its weight's and bias's slices.
  void keepOutputs(LinearOp linear, ArrayRef<int64_t> columns) {
    keep(linear.getWeight().getDefiningOp<ParamOp>(), outAxis(linear), columns);
    if (Value bias = linear.getBias())
      keep(bias.getDefiningOp<ParamOp>(), 0, columns);
    narrow(linear.getResult(), static_cast<int64_t>(columns.size()));
  }

  /// The function type after its arguments' and returned values' types
  /// changed.
  static void updateSignature(func::FuncOp fn) {
    SmallVector<Type> results;
    fn.walk([&](func::ReturnOp ret) {
      results.assign(ret.getOperandTypes().begin(),
                     ret.getOperandTypes().end());
    });
    fn.setType(FunctionType::get(
        fn.getContext(), fn.getBody().front().getArgumentTypes(), results));
  }

  /// `param` (read only by one linear) as the slices `indices` along `axis`.
  void keep(ParamOp param, int64_t axis, ArrayRef<int64_t> indices) {
    auto type = cast<RankedTensorType>(param.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[axis] = static_cast<int64_t>(indices.size());
    OpBuilder b(param);
    auto kept = ParamOp::create(
        b, param.getLoc(), RankedTensorType::get(shape, type.getElementType()),
        param.getNameAttr(), ArrayAttr(),
        KeepAttr::get(&getContext(), axis, indices), param.getPruneAttr(),
        QuantAttr(), param.getShardAttr());
    param.getResult().replaceAllUsesWith(kept.getResult());
    param.erase();
  }

  /// Narrows `value`'s last dim to `size`.
  static void narrow(Value value, int64_t size) {
    auto type = cast<RankedTensorType>(value.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape.back() = size;
    value.setType(RankedTensorType::get(shape, type.getElementType()));
  }

  void shrink(FfnBlock block, ArrayRef<int64_t> indices) {
    const auto size = static_cast<int64_t>(indices.size());
    if (size == block.neurons)
      return;
    for (LinearOp producer : block.producers) {
      keep(producer.getWeight().getDefiningOp<ParamOp>(), outAxis(producer),
           indices);
      if (Value bias = producer.getBias())
        keep(bias.getDefiningOp<ParamOp>(), 0, indices);
      narrow(producer.getResult(), size);
    }
    if (block.mul)
      narrow(block.mul.getResult(), size);
    keep(block.down.getWeight().getDefiningOp<ParamOp>(),
         1 - outAxis(block.down), indices);
    keepInputNorms(block.down, indices);
  }

  /// A calibration's input norms on `linear` (kept for activation-aware
  /// weight pruning after this pass) narrowed to the input features
  /// `indices` its weight keeps.
  static void keepInputNorms(LinearOp linear, ArrayRef<int64_t> indices) {
    auto norms = linear->getAttrOfType<DenseF64ArrayAttr>(kInputNorms);
    if (!norms)
      return;
    SmallVector<double> kept;
    for (int64_t i : indices)
      kept.push_back(norms[i]);
    linear->setAttr(kInputNorms,
                    DenseF64ArrayAttr::get(linear.getContext(), kept));
  }
};

} // namespace
} // namespace kiln
