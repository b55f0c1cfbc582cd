//===- UseLibdevice.cpp - libm calls in GPU kernels to libdevice ----------===//
//
// See KilnUseLibdevice in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;

namespace kiln {
#define GEN_PASS_DEF_KILNUSELIBDEVICE
#include "passes/Passes.h.inc"

namespace {

/// libm functions the lowering may call; libdevice has each as __nv_<name>.
constexpr const char *kLibm[] = {
    "sinf",   "cosf",  "tanf",   "expf",   "exp2f", "logf",   "log2f",
    "log1pf", "tanhf", "erff",   "floorf", "ceilf", "roundf", "truncf",
    "sqrtf",  "powf",  "atan2f", "atanf",  "fabsf", "fmaf"};

struct KilnUseLibdevicePass
    : public impl::KilnUseLibdeviceBase<KilnUseLibdevicePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<LLVM::LLVMFuncOp> externals;
    for (auto fn : module.getOps<LLVM::LLVMFuncOp>())
      if (fn.isExternal())
        externals.push_back(fn);
    for (LLVM::LLVMFuncOp fn : externals) {
      StringRef name = fn.getName();
      if (!llvm::is_contained(kLibm, name)) {
        fn.emitError() << "a GPU kernel calls " << name
                       << ", which device code cannot (a heap temporary the "
                          "lowering could not put on the stack?)";
        return signalPassFailure();
      }
      std::string device = "__nv_" + name.str();
      if (failed(SymbolTable::replaceAllSymbolUses(
              fn, StringAttr::get(&getContext(), device), module)))
        return signalPassFailure();
      fn.setName(device);
    }
  }
};

} // namespace
} // namespace kiln
