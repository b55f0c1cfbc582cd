//===- Pipelines.h - kiln pass pipelines ----------------------------------===//
//
// Pipelines are library functions shared by kilnc, kiln-opt (registered by
// name) and tests.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_PIPELINES_H
#define KILN_PASSES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace kiln {

/// kiln graph -> linalg on tensors: --kiln-decompose, --canonicalize,
/// --kiln-to-linalg, --canonicalize, --cse.
void buildKilnToLinalgPipeline(mlir::OpPassManager &pm);

/// linalg on tensors -> LLVM dialect for the CPU, one function per entry
/// point with weights bound as arguments and results as out-params (the
/// form the JIT harness calls): kiln-bind-params, kiln-decompose-aggregates,
/// one-shot bufferization with function boundaries, results to
/// out-params, temporaries freed (ownership-based deallocation), copies as
/// linalg.copy, linalg to loops, bf16/f16 arithmetic done in f32 and bf16
/// conversions expanded to integer ops (no compiler-runtime helpers), then
/// memref/math/arith/cf/func to LLVM.
/// Needs registerKilnCompilerPasses() (the pipeline is parsed by name).
mlir::LogicalResult buildKilnCpuLoweringPipeline(mlir::OpPassManager &pm);

/// The same for GPU kernels (functions marked kiln.kernel): tile and fuse
/// each kernel into an scf.forall, bufferize with stack temporaries,
/// distribute its loops over GPU threads, lower to the LLVM dialect with
/// NVVM special registers. Needs registerKilnCompilerPasses(). With
/// `emulateThreads` > 0 the thread loops are emulated (see
/// kiln-map-to-gpu-threads), so the result also runs on the CPU.
mlir::LogicalResult buildKilnCudaLoweringPipeline(mlir::OpPassManager &pm,
                                                  int64_t emulateThreads = 0);

/// kiln graph -> step list with an arena plan: --kiln-decompose
/// (keep-attention), --canonicalize, --cse, --kiln-outline-kernels,
/// --kiln-plan-memory.
void buildKilnStepListPipeline(mlir::OpPassManager &pm, int64_t maxBatch,
                               int64_t maxSeq);

/// Registers the pipelines with the pass registry (kiln-opt).
void registerKilnPipelines();

} // namespace kiln

#endif // KILN_PASSES_PIPELINES_H
