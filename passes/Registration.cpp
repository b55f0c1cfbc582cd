//===- Registration.cpp - what Kiln's compiler tools register -------------===//

#include "passes/Registration.h"

#include "dialects/kiln/KilnDialect.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

namespace kiln {

void registerKilnCompilerDialects(mlir::DialectRegistry &registry) {
  registry.insert<KilnDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // Every dialect's LLVM IR translation (the CPU path needs builtin and
  // LLVM; the CUDA path NVVM and GPU too) and the NVVM target, with which
  // gpu-module-to-binary assembles sm_90 code.
  mlir::registerAllToLLVMIRTranslations(registry);
  mlir::NVVM::registerNVVMTargetInterfaceExternalModels(registry);
}

void registerKilnCompilerPasses() {
  static bool registered = [] {
    mlir::registerAllPasses();
    registerKilnPasses();
    registerKilnPipelines();
    return true;
  }();
  (void)registered;
}

} // namespace kiln
