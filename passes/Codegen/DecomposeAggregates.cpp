//===- DecomposeAggregates.cpp - linalg aggregate ops -> generic ops ------===//
//
// Upstream linalg.softmax (which kiln-to-linalg emits, so GPU code
// generation can map it to a fused kernel) implements
// AggregatedOpInterface, whose decomposition into max/exp/sum/divide
// generics upstream only exposes through the transform dialect. This pass
// applies it to every aggregate op for the loop-based CPU path.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/PatternMatch.h"

namespace kiln {
#define GEN_PASS_DEF_KILNDECOMPOSEAGGREGATES
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

struct KilnDecomposeAggregatesPass
    : public impl::KilnDecomposeAggregatesBase<KilnDecomposeAggregatesPass> {
  void runOnOperation() override {
    SmallVector<linalg::AggregatedOpInterface> aggregates;
    getOperation()->walk(
        [&](linalg::AggregatedOpInterface op) { aggregates.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::AggregatedOpInterface op : aggregates) {
      rewriter.setInsertionPoint(op);
      FailureOr<SmallVector<Value>> results = op.decomposeOperation(rewriter);
      if (failed(results)) {
        op->emitOpError("could not be decomposed");
        return signalPassFailure();
      }
      rewriter.replaceOp(op, *results);
    }
  }
};

} // namespace
} // namespace kiln
