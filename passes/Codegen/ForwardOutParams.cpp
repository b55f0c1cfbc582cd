//===- ForwardOutParams.cpp - results computed in place in out-params -----===//
//
// See KilnForwardOutParams in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace kiln {
#define GEN_PASS_DEF_KILNFORWARDOUTPARAMS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

/// Each copy into an out-param (a function argument only the copy uses),
/// from an alloc of the out-param's type in the function body: the alloc
/// becomes the out-param.
void forward(func::FuncOp fn) {
  if (fn.isExternal() || fn.getNumArguments() == 0)
    return;
  Block &body = fn.getBody().front();
  Operation *ret = body.getTerminator();
  for (Operation *op = ret->getPrevNode(); op;) {
    Operation *previous = op->getPrevNode();
    Value source, out;
    if (auto copy = dyn_cast<linalg::CopyOp>(op)) {
      source = copy.getInputs()[0];
      out = copy.getOutputs()[0];
    } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
      source = copy.getSource();
      out = copy.getTarget();
    }
    if (!source) {
      op = previous;
      continue;
    }
    auto arg = dyn_cast<BlockArgument>(out);
    auto alloc = source.getDefiningOp<memref::AllocOp>();
    // Only the copy may use `out`: nothing else writes it.
    if (arg && arg.getOwner() == &body && alloc && alloc->getBlock() == &body &&
        alloc.getType() == out.getType() && out.hasOneUse()) {
      op->erase();
      alloc.getResult().replaceAllUsesWith(out);
      alloc->erase();
    }
    op = previous;
  }
}

struct KilnForwardOutParamsPass
    : public impl::KilnForwardOutParamsBase<KilnForwardOutParamsPass> {
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>())
      if (fn->hasAttr("kiln.kernel"))
        forward(fn);
  }
};

} // namespace
} // namespace kiln
