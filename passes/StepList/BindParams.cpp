//===- BindParams.cpp - kiln.param ops -> function arguments --------------===//
//
// Turns each distinct weight a function reads into a trailing function
// argument (arg attribute `kiln.param` = the checkpoint name), so that the
// code generated for the function receives weights as buffers bound by the
// caller (the runtime's weight region, or a test harness).
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace kiln {
#define GEN_PASS_DEF_KILNBINDPARAMS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

struct KilnBindParamsPass
    : public impl::KilnBindParamsBase<KilnBindParamsPass> {
  void runOnOperation() override {
    getOperation()->walk([&](func::FuncOp fn) {
      if (fn.isExternal())
        return;
      llvm::StringMap<Value> bound;
      SmallVector<ParamOp> params;
      fn.walk([&](ParamOp op) { params.push_back(op); });
      Block &entry = fn.getBody().front();
      for (ParamOp op : params) {
        Value &arg = bound[op.getName()];
        if (!arg) {
          unsigned index = fn.getNumArguments();
          if (failed(fn.insertArgument(index, op.getType(),
                                       DictionaryAttr::get(&getContext()),
                                       op.getLoc())))
            return signalPassFailure();
          fn.setArgAttr(index, "kiln.param", op.getNameAttr());
          arg = entry.getArgument(index);
        }
        if (arg.getType() != op.getType()) {
          op.emitOpError("reads weight '")
              << op.getName() << "' with type " << op.getType()
              << ", another read has type " << arg.getType();
          return signalPassFailure();
        }
        op.getResult().replaceAllUsesWith(arg);
        op.erase();
      }
    });
  }
};

} // namespace
} // namespace kiln
