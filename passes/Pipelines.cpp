//===- Pipelines.cpp - kiln pass pipelines --------------------------------===//

#include "passes/Pipelines.h"

#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
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

void buildKilnGraphPipeline(mlir::OpPassManager &pm,
                            const KilnStepListOptions &options) {
  // Pruning first (DESIGN.md section 3): everything after it sees the
  // smaller shapes and the zeros, merged projections included.
  if (options.pruneFfn > 0 || options.pruneHeads > 0) {
    KilnPruneStructuredOptions structured;
    structured.ffn = options.pruneFfn;
    structured.heads = options.pruneHeads;
    pm.addPass(createKilnPruneStructured(structured));
  }
  if (options.pruneM > 0 || options.pruneFraction > 0 ||
      options.pruneThreshold > 0) {
    KilnPruneWeightsOptions weights;
    weights.n = options.pruneN;
    weights.m = options.pruneM;
    weights.fraction = options.pruneFraction;
    weights.threshold = options.pruneThreshold;
    weights.exclude.assign(options.pruneExclude.begin(),
                           options.pruneExclude.end());
    pm.addPass(createKilnPruneWeights(weights));
  }
  // Partitioning after pruning, so the shards are of the pruned shapes,
  // and before decomposition, while attention and rotary are whole ops.
  if (options.tp > 1) {
    KilnPartitionOptions partition;
    partition.tp = options.tp;
    pm.addPass(createKilnPartition(partition));
  }
  // Pipeline stages on the partitioned graph, before decomposition, while
  // an op's location still names its layer.
  if (options.pp > 1) {
    KilnPipelineOptions pipeline;
    pipeline.pp = options.pp;
    pm.addPass(createKilnPipeline(pipeline));
  }
  KilnDecomposeOptions decompose;
  decompose.keepAttention = true;
  decompose.keepLinear = true;
  pm.addPass(createKilnDecompose(decompose));
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  if (options.fuse) {
    pm.addPass(createKilnMatchAttention());
    pm.addPass(createKilnMergeProjections());
  }
}

void buildKilnStepListTail(mlir::OpPassManager &pm,
                           const KilnStepListOptions &options) {
  if (options.precision != "fp32" && options.precision != "f32") {
    KilnMixedPrecisionOptions precision;
    precision.precision = options.precision;
    precision.keepF32.assign(options.keepF32.begin(), options.keepF32.end());
    precision.rangeLimit = options.rangeLimit;
    pm.addPass(createKilnMixedPrecision(precision));
    pm.addPass(mlir::createCanonicalizerPass());
  }
  if (options.quantBits != 0) {
    KilnQuantizeWeightsOptions quantize;
    quantize.bits = options.quantBits;
    quantize.group = options.quantGroup;
    quantize.actBits = options.quantActBits;
    quantize.tolerance = options.quantTolerance;
    quantize.exclude.assign(options.quantExclude.begin(),
                            options.quantExclude.end());
    pm.addPass(createKilnQuantizeWeights(quantize));
  }
  if (options.fuse)
    pm.addPass(createKilnFuse());
  pm.addPass(createKilnOutlineKernels());
  KilnPlanMemoryOptions plan;
  plan.maxBatch = options.maxBatch;
  plan.maxSeq = options.maxSeq;
  pm.addPass(createKilnPlanMemory(plan));
}

void buildKilnStepListPipeline(mlir::OpPassManager &pm,
                               const KilnStepListOptions &options) {
  buildKilnGraphPipeline(pm, options);
  buildKilnStepListTail(pm, options);
}

namespace {

/// Bufferization shared by both targets: whole kernels (function
/// boundaries included), results as out-params computed in place.
constexpr const char *kBufferize =
    "one-shot-bufferize{bufferize-function-boundaries=1 "
    "function-boundary-type-conversion=identity-layout-map},"
    "buffer-results-to-out-params{modify-public-functions=1},"
    "kiln-forward-out-params,";

/// Loops to the LLVM dialect, shared by both targets: f32 tanh/erf/exp as
/// polynomials, bf16/f16 arithmetic in f32, other math through libm names
/// (the CUDA path renames them to libdevice's).
constexpr const char *kLoopsToLlvm =
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
    "reconcile-unrealized-casts";

} // namespace

mlir::LogicalResult buildKilnCpuLoweringPipeline(mlir::OpPassManager &pm) {
  return mlir::parsePassPipeline(std::string("kiln-bind-params,"
                                             "kiln-decompose-aggregates,") +
                                     kBufferize +
                                     "buffer-deallocation-pipeline,"
                                     "kiln-copies-to-linalg,"
                                     "func.func(convert-linalg-to-loops)," +
                                     kLoopsToLlvm,
                                 pm);
}

mlir::LogicalResult
buildKilnCudaLoweringPipeline(mlir::OpPassManager &pm,
                              const KilnCudaLoweringOptions &options) {
  return mlir::parsePassPipeline(
      std::string("kiln-bind-params,"
                  "kiln-decompose-aggregates,"
                  "kiln-tile-kernels,"
                  "canonicalize,") +
          kBufferize +
          "func.func(promote-buffers-to-stack{max-alloc-size-in-bytes=16384 "
          "max-rank-of-allocated-memref=4}),"
          "kiln-copies-to-linalg,"
          "canonicalize,"
          "cse,"
          "kiln-map-to-gpu-threads{emulate-threads=" +
          std::to_string(options.emulateThreads) +
          "},"
          "func.func(convert-linalg-to-loops)," +
          kLoopsToLlvm,
      pm);
}

mlir::LogicalResult
buildKilnCpuKernelPipeline(mlir::OpPassManager &pm,
                           const KilnCudaLoweringOptions &options) {
  pm.addPass(createKilnExtractKernels());
  buildKilnToLinalgPipeline(pm);
  if (failed(options.emulateThreads > 0
                 ? buildKilnCudaLoweringPipeline(pm, options)
                 : buildKilnCpuLoweringPipeline(pm)))
    return mlir::failure();
  pm.addPass(createKilnKernelAbi());
  return mlir::success();
}

mlir::LogicalResult
buildKilnCudaKernelPipeline(mlir::OpPassManager &pm,
                            const KilnCudaKernelOptions &options) {
  pm.addPass(createKilnExtractKernels());
  buildKilnToLinalgPipeline(pm);
  if (failed(buildKilnCudaLoweringPipeline(pm)))
    return mlir::failure();
  KilnKernelAbiOptions abi;
  abi.gpu = true;
  pm.addPass(createKilnKernelAbi(abi));
  pm.addPass(createKilnUseLibdevice());
  KilnWrapGpuModuleOptions wrap;
  wrap.chip = options.chip;
  wrap.features = options.features;
  pm.addPass(createKilnWrapGpuModule(wrap));
  return mlir::success();
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
      [](mlir::OpPassManager &pm) { (void)buildKilnCpuLoweringPipeline(pm); });
  mlir::PassPipelineRegistration<KilnCudaLoweringOptions>(
      "kiln-cuda-lowering",
      "linalg on tensors -> LLVM dialect kernels for NVVM (tile and fuse, "
      "bufferize, grid-stride loops over GPU threads, LLVM)",
      [](mlir::OpPassManager &pm, const KilnCudaLoweringOptions &options) {
        (void)buildKilnCudaLoweringPipeline(pm, options);
      });
  mlir::PassPipelineRegistration<KilnStepListOptions>(
      "kiln-step-list",
      "kiln graph -> step list with an arena plan (decompose keeping "
      "attention and linear, canonicalize, cse, outline kernels, plan "
      "memory): kilnc --stage steps",
      buildKilnStepListPipeline);
  mlir::PassPipelineRegistration<KilnCudaLoweringOptions>(
      "kiln-cpu-kernels",
      "a step list's kernels -> the LLVM dialect module of the CPU kernel "
      "object (extract kernels, linalg, CPU lowering, kernel ABI)",
      [](mlir::OpPassManager &pm, const KilnCudaLoweringOptions &options) {
        (void)buildKilnCpuKernelPipeline(pm, options);
      });
  mlir::PassPipelineRegistration<KilnCudaKernelOptions>(
      "kiln-cuda-kernels",
      "a step list's kernels -> one gpu.module of NVVM kernels (extract "
      "kernels, linalg, CUDA lowering, kernel ABI, libdevice, gpu.module): "
      "kilnc --stage gpu",
      [](mlir::OpPassManager &pm, const KilnCudaKernelOptions &options) {
        (void)buildKilnCudaKernelPipeline(pm, options);
      });
}

} // namespace kiln
