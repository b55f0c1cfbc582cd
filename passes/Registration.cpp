//===- Registration.cpp - what Kiln's compiler tools register -------------===//

#include "passes/Registration.h"

#include "dialects/kiln/KilnDialect.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Transforms/Passes.h"

namespace kiln {

void registerKilnCompilerDialects(mlir::DialectRegistry &registry) {
  // Every upstream dialect: registerAllDialects also attaches the external
  // interface models (bufferization, tiling, value bounds) that Kiln's
  // pipelines rely on, and dialects add no command-line options.
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
    registerKilnPasses();
    registerKilnPipelines();
    // Upstream, exactly the passes Kiln's pipelines (Pipelines.cpp, the
    // CUDA assembly in Codegen/CudaKernels.cpp) and lit tests name: not
    // every upstream pass, whose options would fill kiln-opt --help.
    mlir::registerCanonicalizerPass();
    mlir::registerCSEPass();
    mlir::bufferization::registerOneShotBufferizePass();
    mlir::bufferization::registerBufferResultsToOutParamsPass();
    mlir::bufferization::registerPromoteBuffersToStackPass();
    mlir::bufferization::registerBufferizationPipelines();
    mlir::registerConvertLinalgToLoopsPass();
    mlir::memref::registerExpandStridedMetadataPass();
    mlir::math::registerMathExpandOpsPass();
    mlir::arith::registerArithEmulateUnsupportedFloats();
    mlir::arith::registerArithExpandOpsPass();
    mlir::registerLowerAffinePass();
    mlir::registerSCFToControlFlowPass();
    mlir::registerConvertMathToLibmPass();
    mlir::registerConvertMathToLLVMPass();
    mlir::registerFinalizeMemRefToLLVMConversionPass();
    mlir::registerArithToLLVMConversionPass();
    mlir::registerConvertIndexToLLVMPass();
    mlir::registerConvertControlFlowToLLVMPass();
    mlir::registerConvertFuncToLLVMPass();
    mlir::registerReconcileUnrealizedCastsPass();
    mlir::registerGpuModuleToBinaryPass();
    return true;
  }();
  (void)registered;
}

} // namespace kiln
