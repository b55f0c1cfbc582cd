//===- ArtifactExport.h - a step list -> the .kiln manifest and blobs -----===//
//
// The compiler's half of the artifact contract (DESIGN.md §3.1, §4): turns
// the step list kiln-plan-memory annotated into the manifest's entries (the
// arguments and their symbols, every step's buffers as arena offsets,
// argument or weight slots with dims as postfix expressions over the
// symbols), records each weight with its source tensor's dtype and hash,
// and writes the artifact with the kernel library and (unless external)
// the weights as blobs.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_STEPLIST_ARTIFACTEXPORT_H
#define KILN_PASSES_STEPLIST_ARTIFACTEXPORT_H

#include "passes/Codegen/CpuKernels.h"

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

class WeightStore;
struct ModelInfo;

struct ExportOptions {
  std::string target = "cpu"; // or "cuda": the kernel blob is a fatbin
  int64_t maxBatch = 1;
  int64_t maxSeq = 1;
  bool externalWeights = false;
  /// "f32", "bf16" or "f16": how the weights that only gemm steps read (as
  /// their B operand) are stored; the gemms then compute in that type with
  /// f32 accumulation (the CPU widens them back at load).
  std::string gemmDtype = "f32";
  /// kilnc --precision and --keep-f32, recorded for kiln-bisect and --info
  /// (the step list already carries the types).
  std::string precision = "fp32";
  std::vector<std::string> keepF32;
  double rangeLimit = 0;         // the fp16 range guard's limit; 0: none
  std::string quantize = "none"; // kilnc --quantize
  int64_t quantGroup = 0;
  std::vector<std::string> quantFloat; // kept in float by the guardrail
  std::string prune = "none";          // kilnc --prune
  double pruneThreshold = 0;           // its global bound, if any
  /// The calibration ids activation-aware structured pruning scored with
  /// (kilnc --calibration, sequences joined by ';'); empty: weight norms.
  std::string pruneCalibration;
  int64_t cacheWidth = 0;    // for --info
  int64_t cacheLayers = 0;   // for --info
  std::string tokenizerJson; // the folder's tokenizer.json ("": none)
  int64_t dataParallel = 1;  // kilnc --dp
};

struct ExportSummary {
  int64_t weightBytes = 0;  // as the runtime holds them (one rank's)
  int64_t shardedBytes = 0; // of those, one rank's parts of sharded weights
  /// Per pipeline stage (one entry without --pp): the weights its steps
  /// read, one rank's, dense.
  std::vector<int64_t> stageWeightBytes;
  int64_t artifactBytes = 0; // the file
  /// The quantized weights: stored bytes (integers and scales) and what
  /// they would take in f32.
  int64_t quantizedBytes = 0, quantizedF32Bytes = 0;
  /// W8A8's SmoothQuant factors (one f32 per input feature of each
  /// weight), which quantizedBytes leaves out: they belong to the
  /// activations' quantization.
  int64_t smoothBytes = 0;
  /// Each pruned weight: the fraction of it that is zero, how it is
  /// stored ("2:4 compressed", "dense", or its quantized dtype) and its
  /// bytes, stored and dense in its type.
  struct Pruned {
    std::string name;
    int64_t elements = 0, zeros = 0;
    double sparsity = 0;
    std::string storage;
    int64_t bytes = 0, denseBytes = 0;
  };
  std::vector<Pruned> pruned;
};

/// One compiled form of every kernel: a CPU shared object for one x86-64
/// level (`isa`: its LLVM CPU name), or the CUDA fatbin (`isa` empty).
struct KernelBinary {
  std::string isa;
  std::string bytes;
};

/// Writes `path` from `stepModule` (after kiln-plan-memory), its compiled
/// `kernels` (one blob per entry of `binaries`), and the weights. Errors
/// are MLIR diagnostics, at the op that cannot be exported where there is
/// one.
mlir::FailureOr<ExportSummary>
writeArtifact(mlir::ModuleOp stepModule,
              const std::vector<CompiledKernel> &kernels,
              const std::vector<KernelBinary> &binaries,
              const kiln::ModelInfo &model, const WeightStore &weights,
              const ExportOptions &options, const std::string &path);

} // namespace kiln

#endif // KILN_PASSES_STEPLIST_ARTIFACTEXPORT_H
