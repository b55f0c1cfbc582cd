//===- Pipelines.h - kiln pass pipelines ----------------------------------===//
//
// Pipelines are library functions shared by the compiler driver, kiln-opt
// (registered by name, with the typed options below) and tests. Every
// stage kilnc prints (`--stage`) is one of them, so kiln-opt reproduces it:
//
//   kiln -> decomposed          --kiln-decompose
//   kiln -> linalg              --kiln-lower-to-linalg
//   kiln -> llvm                --kiln-lower-to-linalg --kiln-cpu-lowering
//   kiln -> steps               --kiln-step-list="max-batch=B max-seq=S"
//   steps -> gpu                --kiln-cuda-kernels
//   steps -> CPU kernel module  --kiln-cpu-kernels
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_PIPELINES_H
#define KILN_PASSES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

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

struct KilnCudaLoweringOptions
    : public mlir::PassPipelineOptions<KilnCudaLoweringOptions> {
  Option<int64_t> emulateThreads{
      *this, "emulate-threads",
      llvm::cl::desc("run the thread loops for this many virtual threads "
                     "one after another, so the result also runs on the CPU "
                     "(see kiln-map-to-gpu-threads; 0: real GPU threads)"),
      llvm::cl::init(0)};
};

/// The same for GPU kernels (functions marked kiln.kernel): tile and fuse
/// each kernel into an scf.forall, bufferize with stack temporaries,
/// distribute its loops over GPU threads, lower to the LLVM dialect with
/// NVVM special registers. Needs registerKilnCompilerPasses().
mlir::LogicalResult
buildKilnCudaLoweringPipeline(mlir::OpPassManager &pm,
                              const KilnCudaLoweringOptions &options = {});

struct KilnStepListOptions
    : public mlir::PassPipelineOptions<KilnStepListOptions> {
  Option<int64_t> tp{*this, "tp",
                     llvm::cl::desc("kiln-partition: ranks of the "
                                    "tensor-parallel group (1: none)"),
                     llvm::cl::init(1)};
  Option<int64_t> pp{*this, "pp",
                     llvm::cl::desc("kiln-pipeline: pipeline stages (1: "
                                    "none)"),
                     llvm::cl::init(1)};
  Option<int64_t> maxBatch{*this, "max-batch",
                           llvm::cl::desc("largest batch the plan serves"),
                           llvm::cl::init(1)};
  Option<int64_t> maxSeq{
      *this, "max-seq",
      llvm::cl::desc("largest sequence (and cache) length the plan serves"),
      llvm::cl::init(128)};
  Option<bool> fuse{*this, "fuse",
                    llvm::cl::desc("run kiln-match-attention, "
                                   "kiln-merge-projections and kiln-fuse "
                                   "(kilnc -O1, the default)"),
                    llvm::cl::init(true)};
  Option<std::string> precision{
      *this, "precision",
      llvm::cl::desc("fp32, or bf16/f16: kiln-mixed-precision (before "
                     "kiln-fuse, so its casts join the kernels)"),
      llvm::cl::init("fp32")};
  ListOption<std::string> keepF32{
      *this, "keep-f32",
      llvm::cl::desc("library op kinds kiln-mixed-precision keeps in f32")};
  Option<double> rangeLimit{
      *this, "range-limit",
      llvm::cl::desc("kiln-mixed-precision keeps ops whose recorded "
                     "kiln.max_abs exceeds this in f32 (0: no limit)"),
      llvm::cl::init(0.0)};
  Option<int64_t> quantBits{
      *this, "quant-bits",
      llvm::cl::desc("8 or 4: kiln-quantize-weights after "
                     "kiln-mixed-precision (0: weights stay float)"),
      llvm::cl::init(0)};
  Option<int64_t> quantActBits{
      *this, "quant-act-bits",
      llvm::cl::desc("8: kiln-quantize-weights makes W8A8 linears (int8 "
                     "input rows too); 0: weights only"),
      llvm::cl::init(0)};
  Option<int64_t> quantGroup{
      *this, "quant-group",
      llvm::cl::desc("kiln-quantize-weights' input features per scale"),
      llvm::cl::init(0)};
  Option<double> quantTolerance{
      *this, "quant-tolerance",
      llvm::cl::desc("kiln-quantize-weights keeps linears whose recorded "
                     "kiln.quant_error exceeds this in float (0: no "
                     "guardrail)"),
      llvm::cl::init(0.0)};
  ListOption<std::string> quantExclude{
      *this, "quant-exclude",
      llvm::cl::desc("weights kiln-quantize-weights keeps in float")};
  Option<double> pruneFfn{
      *this, "prune-ffn",
      llvm::cl::desc("kiln-prune-structured first: fraction of each FFN's "
                     "neurons to remove (0: none)"),
      llvm::cl::init(0.0)};
  Option<double> pruneHeads{
      *this, "prune-heads",
      llvm::cl::desc("kiln-prune-structured: fraction of each attention's "
                     "key/value head groups to remove (0: none)"),
      llvm::cl::init(0.0)};
  Option<int64_t> pruneN{
      *this, "prune-n",
      llvm::cl::desc("kiln-prune-weights n:m: weights kept of every m"),
      llvm::cl::init(0)};
  Option<int64_t> pruneM{
      *this, "prune-m",
      llvm::cl::desc("kiln-prune-weights n:m: group size (0: magnitude)"),
      llvm::cl::init(0)};
  Option<double> pruneFraction{
      *this, "prune-fraction",
      llvm::cl::desc("kiln-prune-weights: fraction of each weight pruned by "
                     "magnitude"),
      llvm::cl::init(0.0)};
  Option<double> pruneThreshold{
      *this, "prune-threshold",
      llvm::cl::desc("kiln-prune-weights: one magnitude bound for all "
                     "weights instead (global scope)"),
      llvm::cl::init(0.0)};
  ListOption<std::string> pruneExclude{
      *this, "prune-exclude",
      llvm::cl::desc("weights kiln-prune-weights keeps dense")};
};

/// The graph half of the step-list pipeline: --kiln-prune-structured and
/// --kiln-prune-weights (when pruning is asked), --kiln-decompose
/// (keep-attention, keep-linear), --canonicalize, --cse, and unless fuse=0
/// --kiln-match-attention, --kiln-merge-projections. Value ranges for
/// kiln-mixed-precision's range limit are recorded between the halves.
void buildKilnGraphPipeline(mlir::OpPassManager &pm,
                            const KilnStepListOptions &options);
/// The rest: --kiln-mixed-precision (unless precision=fp32),
/// --canonicalize, --kiln-quantize-weights (with quant-bits), --kiln-fuse
/// (unless fuse=0), --kiln-outline-kernels,
/// --kiln-plan-memory.
void buildKilnStepListTail(mlir::OpPassManager &pm,
                           const KilnStepListOptions &options);

/// kiln graph -> step list with an arena plan: --kiln-decompose
/// (keep-attention, keep-linear), --canonicalize, --cse,
/// --kiln-match-attention, --kiln-merge-projections and --kiln-fuse
/// (unless fuse=0), --kiln-mixed-precision (unless precision=fp32),
/// --canonicalize,
/// --kiln-outline-kernels, --kiln-plan-memory.
void buildKilnStepListPipeline(mlir::OpPassManager &pm,
                               const KilnStepListOptions &options);

/// A step list's kernels -> the LLVM dialect module the CPU object is
/// emitted from: kiln-extract-kernels, the linalg and CPU lowerings,
/// kiln-kernel-abi. With `emulateThreads` > 0 the kernels go through the
/// CUDA lowering instead, their threads emulated (a CPU check of the GPU
/// distribution).
mlir::LogicalResult
buildKilnCpuKernelPipeline(mlir::OpPassManager &pm,
                           const KilnCudaLoweringOptions &options = {});

struct KilnCudaKernelOptions
    : public mlir::PassPipelineOptions<KilnCudaKernelOptions> {
  Option<std::string> chip{*this, "chip", llvm::cl::desc("the target GPU"),
                           llvm::cl::init("sm_90")};
  Option<std::string> features{*this, "features",
                               llvm::cl::desc("PTX features"),
                               llvm::cl::init("+ptx80")};
};

/// A step list's kernels -> one gpu.module of LLVM/NVVM dialect kernels,
/// what gpu-module-to-binary assembles (kilnc --stage gpu):
/// kiln-extract-kernels, the linalg and CUDA lowerings, kiln-kernel-abi{gpu},
/// kiln-use-libdevice, kiln-wrap-gpu-module.
mlir::LogicalResult
buildKilnCudaKernelPipeline(mlir::OpPassManager &pm,
                            const KilnCudaKernelOptions &options = {});

/// Registers the pipelines with the pass registry (kiln-opt).
void registerKilnPipelines();

} // namespace kiln

#endif // KILN_PASSES_PIPELINES_H
