//===- PlanMemory.cpp - arena offsets for a step list ---------------------===//
//
// Writes each step result's dims as expressions over the entry's symbols
// (`kiln.dims`, see StepShapes.h), sizes it by evaluating them at the
// maximum batch and sequence, then packs the results into one arena by live
// range, greedily by size (largest first, lowest fitting 64-byte-aligned
// offset: support/ArenaPacking.h, which the runtime also uses to lay an
// arena out again for a call past the maxima).
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"
#include "passes/StepList/StepShapes.h"
#include "support/ArenaPacking.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AffineMap.h"

namespace kiln {
#define GEN_PASS_DEF_KILNPLANMEMORY
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

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
    FailureOr<StepShapes> shapes = computeStepShapes(fn);
    if (failed(shapes))
      return failure();
    // Every symbol at its maximum: dim 0 of an argument is the batch, any
    // other dynamic dim a sequence length.
    SmallVector<AffineExpr> maxima;
    for (auto [argument, dim] : shapes->symbolSources)
      maxima.push_back(b.getAffineConstantExpr(dim == 0 ? maxBatch : maxSeq));
    auto maxBytes = [&](Value v) -> int64_t {
      int64_t elements = 1;
      for (AffineExpr e : shapes->dims.lookup(v))
        elements *=
            cast<AffineConstantExpr>(
                simplifyAffineExpr(e.replaceSymbols(maxima), 0, maxima.size()))
                .getValue();
      int64_t bits = std::max<int64_t>(
          getElementTypeOrSelf(v.getType()).getIntOrFloatBitWidth(), 8);
      return elements * (bits / 8);
    };
    auto dimsMap = [&](Value v) {
      return AffineMap::get(0, shapes->symbols.size(), shapes->dims.lookup(v),
                            &getContext());
    };

    int64_t cacheBytes = 0, weightBytes = 0;
    for (BlockArgument arg : fn.getArguments()) {
      auto name =
          fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "kiln.name");
      if (name && name.getValue().contains("_cache."))
        cacheBytes += maxBytes(arg);
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
      for (Value v : op.getOperands())
        if (bufferOf.count(v))
          buffers[bufferOf[v]].last = index;
      SmallVector<Attribute> dims;
      for (auto [i, result] : llvm::enumerate(op.getResults())) {
        dims.push_back(AffineMapAttr::get(dimsMap(result)));
        if (isa<ParamOp>(op)) {
          weightBytes += maxBytes(result);
          continue;
        }
        if (isa<AttentionOp>(op) && i > 0)
          continue; // updated caches: the cache arguments, in place
        bufferOf[result] = buffers.size();
        buffers.push_back({result, maxBytes(result), index, index});
      }
      if (!isa<ParamOp>(op))
        op.setAttr("kiln.dims", b.getArrayAttr(dims));
      ++index;
    }

    // Greedy by size (support/ArenaPacking.h, shared with the runtime).
    std::vector<ArenaBuffer> packed;
    for (const Buffer &buffer : buffers)
      packed.push_back({buffer.bytes, buffer.first, buffer.last});
    int64_t arenaBytes = packArena(packed);
    if (arenaBytes < 0)
      return fn.emitError("the arena does not fit in 64-bit offsets at "
                          "--max-batch ")
             << maxBatch << " --max-seq " << maxSeq;
    for (size_t i = 0; i < buffers.size(); ++i)
      buffers[i].offset = packed[i].offset;

    for (Operation &op : fn.getBody().front()) {
      if (isa<func::ReturnOp, ParamOp>(op))
        continue;
      SmallVector<int64_t> offsets;
      for (Value result : op.getResults())
        offsets.push_back(
            bufferOf.count(result) ? buffers[bufferOf[result]].offset : -1);
      op.setAttr("kiln.arena", b.getDenseI64ArrayAttr(offsets));
    }
    SmallVector<Attribute> symbols;
    for (const std::string &symbol : shapes->symbols)
      symbols.push_back(b.getStringAttr(symbol));
    fn->setAttr("kiln.symbols", b.getArrayAttr(symbols));
    fn->setAttr("kiln.arena_bytes", b.getI64IntegerAttr(arenaBytes));
    fn->setAttr("kiln.cache_bytes", b.getI64IntegerAttr(cacheBytes));
    fn->setAttr("kiln.weight_bytes", b.getI64IntegerAttr(weightBytes));
    return success();
  }
};

} // namespace
} // namespace kiln
