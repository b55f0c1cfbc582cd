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
  if (!param || param.getParts() || param.getQuantAttr() ||
      !param->hasOneUse())
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
      if (!prunableLinear(linear))
        return;
      auto param = linear.getWeight().getDefiningOp<ParamOp>();
      if (param.getPruneAttr() || excluded.contains(param.getName()))
        return;
      const int64_t inAxis = 1 - outAxis(linear);
      PruneAttr prune = attr;
      if (semi) {
        if (param.getType().getDimSize(inAxis) % m != 0) {
          linear.emitRemark()
              << "weight '" << param.getName() << "' stays dense: "
              << m.getValue() << " does not divide its "
              << param.getType().getDimSize(inAxis) << " input features";
          return;
        }
        prune = PruneAttr::get(&getContext(), n, m, inAxis, 0.0, 0.0);
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

  /// The best-scoring neurons, ascending: all but floor(ffn * d), rounded up
  /// to a multiple of 4.
  SmallVector<int64_t> keptNeurons(ArrayRef<float> scores) const {
    const auto total = static_cast<int64_t>(scores.size());
    int64_t kept = total - static_cast<int64_t>(std::floor(ffn * total));
    kept = std::min(total, std::max<int64_t>(4, (kept + 3) / 4 * 4));
    SmallVector<int64_t> order(total);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return scores[a] > scores[b];
    });
    order.resize(kept);
    llvm::sort(order);
    return order;
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
        QuantAttr());
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
  }
};

} // namespace
} // namespace kiln
