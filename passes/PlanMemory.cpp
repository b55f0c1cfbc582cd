//===- PlanMemory.cpp - arena offsets for a step list ---------------------===//
//
// Sizes each step result at the maximum shapes, then packs the results into
// one arena by live range, greedily by size (largest first, lowest fitting
// 64-byte-aligned offset). Maximum shapes come from propagating static types
// through the steps: each step's op (a kernel's op, a gemm, an attention) is
// cloned onto operands of the maximum static types and its result types
// are inferred by the op's own InferTypeOpInterface; the ops without it
// (reshape, cast, iota, constant) have their rules here.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "llvm/ADT/TypeSwitch.h"

namespace kiln {
#define GEN_PASS_DEF_KILNPLANMEMORY
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

constexpr int64_t kAlignment = 64;

int64_t bytesOf(RankedTensorType type) {
  int64_t bits = std::max<int64_t>(type.getElementTypeBitWidth(), 8);
  return type.getNumElements() * (bits / 8);
}

int64_t alignUp(int64_t v) { return (v + kAlignment - 1) / kAlignment * kAlignment; }

/// Result types of `op` when its operands have `operandTypes` (static).
FailureOr<SmallVector<Type>> staticResultTypes(Operation *op,
                                               TypeRange operandTypes) {
  // Clone into a detached function whose arguments have the static types.
  OpBuilder builder(op->getContext());
  OwningOpRef<func::FuncOp> scratch = func::FuncOp::create(
      builder, op->getLoc(), "scratch",
      builder.getFunctionType(operandTypes, {}));
  Block *block = scratch->addEntryBlock();
  IRMapping mapping;
  mapping.map(op->getOperands(), block->getArguments());
  builder.setInsertionPointToStart(block);
  Operation *clone = builder.clone(*op, mapping);
  SmallVector<Type> types;
  LogicalResult result =
      llvm::TypeSwitch<Operation *, LogicalResult>(clone)
          .Case([&](ReshapeOp) {
            // The original op: its types still say which dims are dynamic.
            auto reshape = cast<ReshapeOp>(op);
            types.push_back(RankedTensorType::get(
                reshapeResultDims(reshape, cast<RankedTensorType>(
                                               operandTypes[0])
                                               .getShape()),
                getElementTypeOrSelf(reshape.getType())));
            return success();
          })
          .Case([&](CastOp o) {
            types.push_back(cast<RankedTensorType>(operandTypes[0])
                                .clone(getElementTypeOrSelf(o.getType())));
            return success();
          })
          .Case([&](IotaOp o) {
            int64_t n = cast<RankedTensorType>(operandTypes[0])
                            .getDimSize(o.getDim());
            types.push_back(RankedTensorType::get(
                {n}, getElementTypeOrSelf(o.getType())));
            return success();
          })
          .Case<ConstantOp, ParamOp>([&](Operation *o) {
            types.push_back(o->getResult(0).getType());
            return success();
          })
          .Case([&](InferTypeOpInterface o) {
            return o.inferReturnTypes(
                o->getContext(), o->getLoc(), o->getOperands(),
                o->getRawDictionaryAttrs(), o->getPropertiesStorage(),
                o->getRegions(), types);
          })
          .Default([](Operation *) { return failure(); });
  clone->erase();
  if (failed(result))
    return failure();
  for (Type t : types)
    if (!cast<RankedTensorType>(t).hasStaticShape())
      return failure();
  return types;
}

struct Buffer {
  Value value;
  int64_t bytes, first, last, offset = -1;
};

struct KilnPlanMemoryPass
    : public impl::KilnPlanMemoryBase<KilnPlanMemoryPass> {
  using KilnPlanMemoryBase::KilnPlanMemoryBase;

  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isExternal() && failed(plan(fn)))
        return signalPassFailure();
  }

  LogicalResult plan(func::FuncOp fn) {
    Builder b(&getContext());
    llvm::DenseMap<Value, Type> staticType;
    int64_t cacheBytes = 0, weightBytes = 0;
    for (BlockArgument arg : fn.getArguments()) {
      auto type = cast<RankedTensorType>(arg.getType());
      SmallVector<int64_t> shape(type.getShape());
      for (auto [d, size] : llvm::enumerate(shape))
        if (ShapedType::isDynamic(size))
          size = d == 0 ? maxBatch : maxSeq;
      auto maxType = type.clone(shape);
      staticType[arg] = maxType;
      auto name = fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                  "kiln.name");
      if (name && name.getValue().contains("_cache."))
        cacheBytes += bytesOf(maxType);
    }

    // Sizes and live ranges, step by step.
    std::vector<Buffer> buffers;
    llvm::DenseMap<Value, size_t> bufferOf;
    int64_t index = 0;
    for (Operation &op : fn.getBody().front()) {
      if (isa<func::ReturnOp>(op)) {
        for (Value v : op.getOperands())
          if (bufferOf.count(v))
            buffers[bufferOf[v]].last = index;
        break;
      }
      SmallVector<Type> operandTypes;
      for (Value v : op.getOperands()) {
        operandTypes.push_back(staticType.lookup(v));
        if (bufferOf.count(v))
          buffers[bufferOf[v]].last = index;
      }
      FailureOr<SmallVector<Type>> types = failure();
      if (auto call = dyn_cast<func::CallOp>(op)) {
        auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
            call, call.getCalleeAttr());
        Operation *kernelOp = &callee.getBody().front().front();
        types = staticResultTypes(kernelOp, operandTypes);
      } else {
        types = staticResultTypes(&op, operandTypes);
      }
      if (failed(types))
        return op.emitOpError("cannot size this step's results for the "
                              "maximum shapes");
      SmallVector<int64_t> offsets;
      for (auto [i, result] : llvm::enumerate(op.getResults())) {
        staticType[result] = (*types)[i];
        if (isa<ParamOp>(op)) {
          weightBytes += bytesOf(cast<RankedTensorType>((*types)[i]));
          continue;
        }
        if (isa<AttentionOp>(op) && i > 0)
          continue; // updated caches: the cache arguments, in place
        bufferOf[result] = buffers.size();
        buffers.push_back({result, bytesOf(cast<RankedTensorType>((*types)[i])),
                           index, index});
      }
      ++index;
    }

    // Greedy by size.
    std::vector<size_t> order(buffers.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t c) {
      return buffers[a].bytes > buffers[c].bytes;
    });
    int64_t arenaBytes = 0;
    std::vector<size_t> placed;
    for (size_t i : order) {
      Buffer &buffer = buffers[i];
      std::vector<std::pair<int64_t, int64_t>> taken;
      for (size_t j : placed) {
        const Buffer &other = buffers[j];
        if (other.first <= buffer.last && buffer.first <= other.last)
          taken.push_back({other.offset, other.offset + other.bytes});
      }
      std::sort(taken.begin(), taken.end());
      int64_t offset = 0;
      for (auto [begin, end] : taken) {
        if (offset + buffer.bytes <= begin)
          break;
        offset = std::max(offset, alignUp(end));
      }
      buffer.offset = offset;
      arenaBytes = std::max(arenaBytes, alignUp(offset + buffer.bytes));
      placed.push_back(i);
    }

    for (Operation &op : fn.getBody().front()) {
      if (isa<func::ReturnOp, ParamOp>(op))
        continue;
      SmallVector<int64_t> offsets;
      for (Value result : op.getResults())
        offsets.push_back(bufferOf.count(result)
                              ? buffers[bufferOf[result]].offset
                              : -1);
      op.setAttr("kiln.arena", b.getDenseI64ArrayAttr(offsets));
    }
    fn->setAttr("kiln.arena_bytes", b.getI64IntegerAttr(arenaBytes));
    fn->setAttr("kiln.cache_bytes", b.getI64IntegerAttr(cacheBytes));
    fn->setAttr("kiln.weight_bytes", b.getI64IntegerAttr(weightBytes));
    return success();
  }
};

} // namespace
} // namespace kiln
