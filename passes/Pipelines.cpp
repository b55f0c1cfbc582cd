//===- Pipelines.cpp - kiln pass pipelines ---------------------------------===//

#include "passes/Pipelines.h"

#include "passes/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace kiln {

void buildKilnToLinalgPipeline(mlir::OpPassManager &pm) {
  pm.addPass(createKilnDecompose());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(createKilnToLinalg());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
}

void registerKilnPipelines() {
  mlir::PassPipelineRegistration<>(
      "kiln-lower-to-linalg",
      "kiln graph -> linalg on tensors (decompose, canonicalize, "
      "kiln-to-linalg, canonicalize, cse)",
      buildKilnToLinalgPipeline);
}

} // namespace kiln
