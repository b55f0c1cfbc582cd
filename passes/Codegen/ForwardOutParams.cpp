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

/// The copy into `out` just before the return, if its source is an alloc
/// of `out`'s type in the function body.
void forward(func::FuncOp fn) {
  if (fn.isExternal() || fn.getNumArguments() == 0)
    return;
  Block &body = fn.getBody().front();
  Value out = body.getArguments().back();
  Operation *ret = body.getTerminator();
  for (Operation *op = ret->getPrevNode(); op; op = op->getPrevNode()) {
    Value source;
    if (auto copy = dyn_cast<linalg::CopyOp>(op)) {
      if (copy.getOutputs()[0] == out)
        source = copy.getInputs()[0];
    } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
      if (copy.getTarget() == out)
        source = copy.getSource();
    }
    if (!source)
      continue;
    auto alloc = source.getDefiningOp<memref::AllocOp>();
    if (!alloc || alloc->getBlock() != &body ||
        alloc.getType() != out.getType())
      return;
    // Only the copy may use `out` after the alloc: nothing else writes it.
    for (Operation *user : out.getUsers())
      if (user != op)
        return;
    op->erase();
    alloc.getResult().replaceAllUsesWith(out);
    alloc->erase();
    return;
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
