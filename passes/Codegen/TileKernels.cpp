//===- TileKernels.cpp - kernel result ops into fused scf.forall loops ----===//
//
// See KilnTileKernels in Passes.td. Upstream's TilingInterface does the
// work (scf::tileConsumerAndFuseProducersUsingSCF); this pass only picks
// the op to tile and its tile sizes.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Interfaces/TilingInterface.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace kiln {
#define GEN_PASS_DEF_KILNTILEKERNELS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

bool reduces(linalg::LinalgOp op) {
  return llvm::any_of(op.getIteratorTypesArray(), [](utils::IteratorType t) {
    return t == utils::IteratorType::reduction;
  });
}

LogicalResult tileKernel(func::FuncOp fn) {
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  if (ret.getNumOperands() == 0)
    return success();
  // One linalg op making every returned value (a multi-result fused
  // kernel returns all of one generic's results).
  auto consumer = ret.getOperand(0).getDefiningOp<linalg::LinalgOp>();
  if (!consumer)
    return success(); // data movement: mapped after bufferization
  for (Value v : ret.getOperands())
    if (v.getDefiningOp() != consumer.getOperation())
      return success();
  bool producerReduces = false;
  fn.walk([&](linalg::LinalgOp op) {
    if (op != consumer && reduces(op))
      producerReduces = true;
  });

  OpBuilder b(fn.getContext());
  SmallVector<utils::IteratorType> iterators = consumer.getIteratorTypesArray();
  int64_t innermostParallel = -1;
  for (auto [i, t] : llvm::enumerate(iterators))
    if (t == utils::IteratorType::parallel)
      innermostParallel = i;
  SmallVector<OpFoldResult> sizes;
  for (auto [i, t] : llvm::enumerate(iterators)) {
    bool whole =
        t == utils::IteratorType::reduction ||
        (producerReduces && static_cast<int64_t>(i) == innermostParallel);
    sizes.push_back(b.getIndexAttr(whole ? 0 : 1));
  }
  if (llvm::all_of(sizes,
                   [](OpFoldResult s) { return getConstantIntValue(s) == 0; }))
    return success(); // nothing parallel to distribute

  scf::SCFTilingOptions tiling;
  tiling.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
  tiling.setTileSizes(sizes);
  scf::SCFTileAndFuseOptions options;
  options.setTilingOptions(tiling);
  IRRewriter rewriter(fn.getContext());
  rewriter.setInsertionPoint(consumer);
  auto tiled = scf::tileConsumerAndFuseProducersUsingSCF(
      rewriter, cast<TilingInterface>(consumer.getOperation()), options);
  if (failed(tiled))
    return consumer->emitOpError("could not be tiled for distribution");
  for (auto [original, replacement] : tiled->replacements)
    rewriter.replaceAllUsesWith(original, replacement);
  // The fused producers' destinations are slices of whole-tensor
  // tensor.empty ops: make them per-iteration empties instead, so each
  // iteration's temporaries are small and static (stack, not heap).
  RewritePatternSet patterns(fn.getContext());
  tensor::populateFoldTensorEmptyPatterns(patterns);
  return applyPatternsGreedily(fn, std::move(patterns));
}

struct KilnTileKernelsPass
    : public impl::KilnTileKernelsBase<KilnTileKernelsPass> {
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>())
      if (fn->hasAttr("kiln.kernel") && !fn.isExternal() &&
          failed(tileKernel(fn)))
        return signalPassFailure();
  }
};

} // namespace
} // namespace kiln
