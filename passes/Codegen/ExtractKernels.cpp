//===- ExtractKernels.cpp - a step list's kernels alone -------------------===//
//
// See KilnExtractKernels in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace kiln {
#define GEN_PASS_DEF_KILNEXTRACTKERNELS
#include "passes/Passes.h.inc"

namespace {

struct KilnExtractKernelsPass
    : public impl::KilnExtractKernelsBase<KilnExtractKernelsPass> {
  void runOnOperation() override {
    for (mlir::Operation &op :
         llvm::make_early_inc_range(*getOperation().getBody())) {
      auto fn = llvm::dyn_cast<mlir::func::FuncOp>(op);
      if (!fn || !fn->hasAttr("kiln.kernel"))
        op.erase();
    }
  }
};

} // namespace
} // namespace kiln
