//===- Pipeline.cpp - pipeline stages and the values passed between them --===//
//
// See KilnPipeline in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"
#include "support/Stages.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <algorithm>
#include <string>
#include <vector>

namespace kiln {
#define GEN_PASS_DEF_KILNPIPELINE
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

/// The layer an op's location names (its first name), or "".
std::string layerOfLoc(Location loc) {
  std::string layer;
  loc->walk([&](Location inner) {
    if (auto name = dyn_cast<NameLoc>(inner)) {
      layer = layerOf(name.getName().str());
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return layer;
}

} // namespace

void forEachPlacedWeight(
    ModuleOp module,
    llvm::function_ref<void(ParamOp, const std::string &, bool)> fn) {
  llvm::StringSet<> seen;
  for (auto entry : module.getOps<func::FuncOp>()) {
    bool inLayers = false; // each entry: before, in or after its layers
    entry.walk([&](ParamOp param) {
      std::string layer = layerOf(param.getName().str());
      inLayers |= !layer.empty();
      const char *where = !layer.empty() ? "layer"
                          : inLayers     ? "after"
                                         : "before";
      if (seen.insert(storedWeightKey(param) + "@" + where).second)
        fn(param, layer, inLayers);
    });
  }
}

namespace {

/// The layers of the module in program order, each with its weight bytes
/// (the cost model: a decode step reads each weight once, and a layer's
/// prefill FLOPs are proportional to its weights), the embeddings counted
/// with the first layer and the final norm and head with the last. A
/// weight read in several places counts in each (a tied embedding table:
/// the first stage's lookup and the last stage's LM head both hold it).
struct Layers {
  std::vector<std::string> names;
  std::vector<double> costs;
};

Layers layersOf(ModuleOp module) {
  Layers layers;
  llvm::StringMap<size_t> index;
  double before = 0, after = 0;
  forEachPlacedWeight(
      module, [&](ParamOp param, const std::string &layer, bool afterLayers) {
        auto type = cast<RankedTensorType>(param.getType());
        const double bytes = static_cast<double>(type.getNumElements()) *
                             type.getElementTypeBitWidth() / 8;
        if (layer.empty()) {
          (afterLayers ? after : before) += bytes;
          return;
        }
        auto [it, added] = index.try_emplace(layer, layers.names.size());
        if (added) {
          layers.names.push_back(layer);
          layers.costs.push_back(0);
        }
        layers.costs[it->second] += bytes;
      });
  if (!layers.costs.empty()) {
    layers.costs.front() += before;
    layers.costs.back() += after;
  }
  return layers;
}

/// Places one entry's ops on stages and passes the values that cross.
class Pipeliner {
public:
  Pipeliner(func::FuncOp fn, int64_t stages,
            const llvm::StringMap<int64_t> &stageOfLayer)
      : fn_(fn), stages_(stages), stageOfLayer_(stageOfLayer) {}

  LogicalResult run() {
    for (Operation &op :
         llvm::make_early_inc_range(fn_.getBody().front().getOperations())) {
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        // Outputs are the last stage's; the updated caches stay where
        // their layer runs.
        for (OpOperand &use : ret->getOpOperands()) {
          if (fn_.getResultAttr(use.getOperandNumber(), "kiln.role"))
            continue;
          int64_t from = stageOf(use.get());
          if (from >= 0 && from < stages_ - 1)
            use.set(pass(use.get(), from, stages_ - 1));
        }
        continue;
      }
      if (op.getNumOperands() == 0)
        continue; // params, constants, iota: no step of their own stage
      int64_t latest = -1;
      for (Value v : op.getOperands())
        latest = std::max(latest, stageOf(v));
      int64_t stage = latest;
      auto layer = stageOfLayer_.find(layerOfLoc(op.getLoc()));
      if (layer != stageOfLayer_.end()) {
        if (latest > layer->second)
          return op.emitError("kiln-pipeline: an op of stage ")
                 << layer->second << " (" << layer->first()
                 << ") reads a value of the later stage " << latest;
        stage = layer->second;
      }
      // An op of arguments and weights only stays free: it runs on each
      // stage that reads it (the step list's rule), nothing is passed.
      if (stage < 0)
        continue;
      stageOf_[&op] = stage;
      for (OpOperand &use : op.getOpOperands()) {
        int64_t from = stageOf(use.get());
        if (from >= 0 && from < stage)
          use.set(pass(use.get(), from, stage));
      }
    }
    return success();
  }

private:
  /// The stage whose ranks compute `v`, or -1 when every stage can
  /// (arguments, weights and what is computed from them alone).
  int64_t stageOf(Value v) const {
    Operation *def = v.getDefiningOp();
    auto it = def ? stageOf_.find(def) : stageOf_.end();
    return it == stageOf_.end() ? -1 : it->second;
  }

  /// `v` as stage `to` receives it from stage `from` (one send_recv per
  /// value and receiving stage, right after the value is computed).
  Value pass(Value v, int64_t from, int64_t to) {
    auto [it, added] = passed_.try_emplace({v, to}, Value());
    if (!added)
      return it->second;
    OpBuilder b(fn_.getContext());
    b.setInsertionPointAfterValue(v);
    auto send = SendRecvOp::create(b, v.getLoc(), v, from, to);
    stageOf_[send] = to;
    it->second = send.getResult();
    return it->second;
  }

  func::FuncOp fn_;
  int64_t stages_;
  const llvm::StringMap<int64_t> &stageOfLayer_;
  llvm::DenseMap<Operation *, int64_t> stageOf_;
  llvm::DenseMap<std::pair<Value, int64_t>, Value> passed_;
};

struct KilnPipelinePass : public impl::KilnPipelineBase<KilnPipelinePass> {
  using KilnPipelineBase::KilnPipelineBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (pp < 1 || pp > 64) {
      emitError(module.getLoc(), "kiln-pipeline: pp must be in [1, 64], got ")
          << static_cast<int64_t>(pp);
      return signalPassFailure();
    }
    if (pp == 1)
      return;
    if (module->hasAttr("kiln.pipeline_parallel")) {
      emitError(module.getLoc(),
                "kiln-pipeline: the module has pipeline stages already");
      return signalPassFailure();
    }
    Layers layers = layersOf(module);
    if (static_cast<size_t>(pp) > layers.names.size()) {
      emitError(module.getLoc(), "kiln-pipeline: ")
          << static_cast<int64_t>(pp)
          << " pipeline stages are more than the model's "
          << layers.names.size() << " layers";
      return signalPassFailure();
    }
    std::vector<size_t> starts = splitStages(layers.costs, pp);
    llvm::StringMap<int64_t> stageOfLayer;
    for (size_t s = 0; s < starts.size(); ++s) {
      const size_t end =
          s + 1 < starts.size() ? starts[s + 1] : layers.names.size();
      for (size_t l = starts[s]; l < end; ++l)
        stageOfLayer[layers.names[l]] = static_cast<int64_t>(s);
    }
    for (auto fn : module.getOps<func::FuncOp>())
      if (!fn.isExternal() && failed(Pipeliner(fn, pp, stageOfLayer).run()))
        return signalPassFailure();
    Builder b(&getContext());
    module->setAttr("kiln.pipeline_parallel", b.getI64IntegerAttr(pp));
    // The split, for whoever reads the IR: each stage's first layer.
    SmallVector<Attribute> first;
    for (size_t start : starts)
      first.push_back(b.getStringAttr(layers.names[start]));
    module->setAttr("kiln.pipeline_stages", b.getArrayAttr(first));
  }
};

} // namespace
} // namespace kiln
