//===- Pipelines.cpp - kiln pass pipelines ---------------------------------===//

#include "passes/Pipelines.h"

#include "passes/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

namespace kiln {

void buildKilnToLinalgPipeline(mlir::OpPassManager &pm) {
  pm.addPass(createKilnDecompose());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(createKilnToLinalg());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
}

void buildKilnStepListPipeline(mlir::OpPassManager &pm, int64_t maxBatch,
                               int64_t maxSeq) {
  KilnDecomposeOptions decompose;
  decompose.keepAttention = true;
  pm.addPass(createKilnDecompose(decompose));
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  pm.addPass(createKilnOutlineKernels());
  KilnPlanMemoryOptions plan;
  plan.maxBatch = maxBatch;
  plan.maxSeq = maxSeq;
  pm.addPass(createKilnPlanMemory(plan));
}

mlir::LogicalResult buildKilnCpuLoweringPipeline(mlir::OpPassManager &pm) {
  return mlir::parsePassPipeline(
      "kiln-bind-params,"
      "kiln-decompose-aggregates,"
      "one-shot-bufferize{bufferize-function-boundaries=1 "
      "function-boundary-type-conversion=identity-layout-map},"
      "buffer-results-to-out-params{modify-public-functions=1},"
      "buffer-deallocation-pipeline,"
      "kiln-copies-to-linalg,"
      "func.func(convert-linalg-to-loops),"
      "lower-affine,"
      "convert-scf-to-cf,"
      "expand-strided-metadata,"
      "lower-affine,"
      "kiln-approximate-math,"
      "math-expand-ops{ops=rsqrt,fma},"
      "arith-emulate-unsupported-floats{source-types=bf16,f16 target-type=f32},"
      "arith-expand{include-bf16=1},"
      "convert-math-to-libm,"
      "convert-math-to-llvm,"
      "finalize-memref-to-llvm,"
      "convert-arith-to-llvm,"
      "convert-index-to-llvm,"
      "convert-cf-to-llvm,"
      "convert-func-to-llvm,"
      "reconcile-unrealized-casts",
      pm);
}

void registerKilnPipelines() {
  mlir::PassPipelineRegistration<>(
      "kiln-lower-to-linalg",
      "kiln graph -> linalg on tensors (decompose, canonicalize, "
      "kiln-to-linalg, canonicalize, cse)",
      buildKilnToLinalgPipeline);
  mlir::PassPipelineRegistration<>(
      "kiln-cpu-lowering",
      "linalg on tensors -> LLVM dialect for the CPU (bufferize, loops, "
      "LLVM)",
      [](mlir::OpPassManager &pm) {
        (void)buildKilnCpuLoweringPipeline(pm);
      });
}

} // namespace kiln
