//===- MergeProjections.cpp - sibling projections into one gemm -----------===//
//
// See KilnMergeProjections in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/MapVector.h"

namespace kiln {
#define GEN_PASS_DEF_KILNMERGEPROJECTIONS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

/// A projection that can join others: [out, in] weight from the checkpoint
/// (a param not already merged), no residual or activation, bias a param
/// or none.
bool mergeable(LinearOp op) {
  auto weight = op.getWeight().getDefiningOp<ParamOp>();
  if (!weight || weight.getParts() || weight.getKeepAttr() ||
      weight.getQuantAttr() || op.getLayout() != WeightLayout::OutIn ||
      op.getResidual() || op.getActivation() != Activation::None)
    return false;
  if (Value bias = op.getBias()) {
    auto param = bias.getDefiningOp<ParamOp>();
    if (!param || param.getParts() || param.getKeepAttr())
      return false;
  }
  return true;
}

/// A param concatenating `params` along dim 0, named after them.
Value mergedParam(OpBuilder &b, Location loc, ArrayRef<ParamOp> params) {
  SmallVector<Attribute> parts;
  std::string name;
  int64_t rows = 0;
  for (ParamOp p : params) {
    parts.push_back(p.getNameAttr());
    name += (name.empty() ? "" : "+") + p.getName().str();
    rows += cast<RankedTensorType>(p.getType()).getDimSize(0);
  }
  ParamOp front = params.front();
  auto type = cast<RankedTensorType>(front.getType());
  SmallVector<int64_t> shape(type.getShape());
  shape[0] = rows;
  return ParamOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()),
      b.getStringAttr(name), b.getArrayAttr(parts), KeepAttr(),
      front.getPruneAttr(), QuantAttr(), front.getShardAttr());
}

struct KilnMergeProjectionsPass
    : public impl::KilnMergeProjectionsBase<KilnMergeProjectionsPass> {
  void runOnOperation() override {
    getOperation()->walk([&](func::FuncOp fn) {
      if (fn.isExternal())
        return;
      // Projections of one input, weights of one dtype and width, all
      // with a bias or all without, in block order.
      llvm::MapVector<Value, SmallVector<LinearOp>> groups;
      for (Operation &op : fn.getBody().front())
        if (auto linear = dyn_cast<LinearOp>(op); linear && mergeable(linear))
          groups[linear.getInput()].push_back(linear);
      for (auto &[input, all] : groups) {
        // Keyed by the weight's input width and element type, and whether
        // there is a bias.
        llvm::MapVector<std::tuple<Type, Attribute, int>, SmallVector<LinearOp>>
            kinds;
        for (LinearOp op : all) {
          auto w = cast<RankedTensorType>(op.getWeight().getType());
          Type key =
              RankedTensorType::get({w.getDimSize(1)}, w.getElementType());
          // Pruned or sharded weights join only weights pruned and
          // sharded alike: the merged weight prunes and shards each part as
          // its attributes say (KilnOps.td).
          auto orUnit = [&](Attribute a) -> Attribute {
            return a ? a : UnitAttr::get(op.getContext());
          };
          auto weight = op.getWeight().getDefiningOp<ParamOp>();
          auto bias =
              op.getBias() ? op.getBias().getDefiningOp<ParamOp>() : ParamOp();
          Attribute alike = ArrayAttr::get(
              op.getContext(),
              {orUnit(weight.getPruneAttr()), orUnit(weight.getShardAttr()),
               orUnit(bias ? bias.getShardAttr() : Attribute())});
          kinds[{key, alike, op.getBias() ? 1 : 0}].push_back(op);
        }
        for (auto &[key, group] : kinds)
          if (group.size() >= 2)
            merge(group);
      }
    });
  }

  /// One gemm over the weights concatenated along their output dim, then a
  /// slice per original projection (fusion makes the slices part of their
  /// readers' kernels).
  void merge(ArrayRef<LinearOp> group) {
    LinearOp first = group.front();
    OpBuilder b(first);
    SmallVector<Location> locations;
    SmallVector<ParamOp> weights, biases;
    for (LinearOp op : group) {
      locations.push_back(op.getLoc());
      weights.push_back(op.getWeight().getDefiningOp<ParamOp>());
      if (op.getBias())
        biases.push_back(op.getBias().getDefiningOp<ParamOp>());
    }
    Location loc = b.getFusedLoc(locations);
    Value weight = mergedParam(b, loc, weights);
    Value bias = biases.empty() ? nullptr : mergedParam(b, loc, biases);
    auto merged = LinearOp::create(b, loc, first.getInput(), weight, bias,
                                   /*residual=*/nullptr, WeightLayout::OutIn,
                                   Activation::None);
    int64_t last = cast<RankedTensorType>(merged.getType()).getRank() - 1;
    int64_t offset = 0;
    for (LinearOp op : group) {
      int64_t width =
          cast<RankedTensorType>(op.getWeight().getType()).getDimSize(0);
      b.setInsertionPointAfter(merged);
      auto slice = SliceOp::create(b, op.getLoc(), merged.getResult(), last,
                                   offset, offset + width, 1);
      op.getResult().replaceAllUsesWith(slice.getResult());
      offset += width;
    }
    for (LinearOp op : group)
      op.erase();
  }
};

} // namespace
} // namespace kiln
