//===- KilnToLinalg.cpp - the --kiln-to-linalg pass -----------------------===//
//
// Combines the per-family patterns into one partial conversion: every kiln
// primitive becomes linalg/tensor/arith/math/scf on tensors; kiln.param stays
// (weights are bound by the runtime). Composites must have been decomposed
// first (the lowering pipeline does so); one that is left is reported at its
// location.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Conversion/KilnToLinalg/Patterns.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace kiln {
#define GEN_PASS_DEF_KILNTOLINALG
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

struct KilnToLinalgPass : public impl::KilnToLinalgBase<KilnToLinalgPass> {
  void runOnOperation() override {
    bool composites = false;
    getOperation()->walk([&](Operation *op) {
      if (isa<LinearOp, AttentionOp, RotaryOp, RelativePositionBiasOp>(op)) {
        op->emitOpError("is a composite: run --kiln-decompose before "
                        "--kiln-to-linalg");
        composites = true;
      }
    });
    if (composites)
      return signalPassFailure();
    if (failed(lowering::lowerFusedOps(getOperation())))
      return signalPassFailure();

    MLIRContext *context = &getContext();
    TypeConverter converter;
    converter.addConversion([](Type type) { return type; });
    RewritePatternSet patterns(context);
    populateKilnElementwiseToLinalgPatterns(converter, patterns);
    populateKilnContractionToLinalgPatterns(converter, patterns);
    populateKilnNormalizationToLinalgPatterns(converter, patterns);
    populateKilnDataMovementToLinalgPatterns(converter, patterns);
    populateKilnAttentionPrimitivesToLinalgPatterns(converter, patterns);

    ConversionTarget target(*context);
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, scf::SCFDialect,
                           tensor::TensorDialect, func::FuncDialect>();
    target.addIllegalDialect<KilnDialect>();
    target.addLegalOp<ParamOp>();
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace kiln
