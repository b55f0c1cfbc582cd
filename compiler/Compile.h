//===- Compile.h - a Hugging Face folder to what kilnc writes -------------===//
//
// The compiler's whole flow as a library call: kilnc parses its flags into
// CompileOptions and calls compileModel; tests compile fixtures the same
// way, in process. Reads the folder and builds the kiln graph, then:
//   emit "kiln"     compiles the step list and its kernels (CPU or sm_90)
//                   and packs them with the weights (or, with
//                   externalWeights, their names and hashes) into one
//                   artifact for kiln-run;
//   emit "mlir"     runs the pipeline to `stage` and writes the IR;
//   emit "kernels"  compiles the step list's kernels into a shared object
//                   (CPU) or fatbin (CUDA), and writes the step list;
//   emit "object"   lowers every entry point whole to one x86-64 object.
// Progress lines ("kilnc: ...") go to `progress`; the report holds the
// counts, sizes and stage times kilnc --report writes.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_COMPILE_H
#define KILN_COMPILER_COMPILE_H

#include "absl/status/statusor.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace llvm {
class raw_ostream;
} // namespace llvm
namespace mlir {
class PassManager;
} // namespace mlir

namespace kiln {

struct LoadedModel;

/// kilnc --precision fp16's range limit: values past 1/8 of fp16's largest
/// finite value (65504) on the calibration run stay f32, leaving headroom
/// for inputs that reach further than the calibration's.
constexpr double kFp16RangeLimit = 65504.0 / 8;

/// kilnc --quant-tolerance's default per scheme: a layer's relative output
/// error a healthy layer stays under. Gaussian-like weights give about
/// 0.5-1% at int8 per channel and 10-12% at int4 per 128 features; a layer
/// with outlier input channels several times that.
/// Bits per weight of a --quantize scheme (w8a16: 8, w4a16: 4).
inline int quantSchemeBits(const std::string &scheme) {
  return scheme == "w4a16" ? 4 : 8;
}

inline double defaultQuantTolerance(const std::string &scheme) {
  if (scheme == "w8a8")
    return 0.06;
  return scheme == "w4a16" ? 0.2 : 0.03;
}

/// What the quantization calibration (CompileOptions::recordQuantErrors)
/// measures each linear under.
struct QuantCalibration {
  int bits = 8;
  int64_t group = 0; // kiln-quantize-weights' group option
  /// 8: W8A8, the input rows quantized too (per token).
  int actBits = 0;
  /// With actBits 8: SmoothQuant's migration strength in [0, 1]; < 0: no
  /// smoothing.
  double smoothAlpha = 0.5;
  /// Token-id sequences; empty: a fixed set drawn from the vocabulary.
  std::vector<std::vector<int64_t>> ids;
};

struct CompileOptions {
  std::string modelDir;
  std::string output = "-";     // "-": stdout (emit mlir only)
  std::string emit;             // kiln | mlir | kernels | object; "": by output
  std::string target = "cpu";   // or cuda
  std::string stage = "linalg"; // with emit mlir: kiln, decomposed, linalg,
                                // llvm, steps, gpu
  std::string gemmDtype = "f32"; // with emit kiln: f32, bf16, f16
  /// fp32, or bf16/fp16: activations, caches and gemm weights in that type
  /// (kiln-mixed-precision, with emit kiln or stage steps).
  std::string precision = "fp32";
  /// Library op kinds kiln-mixed-precision keeps in f32.
  std::vector<std::string> keepF32;
  /// With fp16: calibrate value ranges and keep in f32 the library ops
  /// that read or write values past fp16's range (kilnc --range-guard).
  bool rangeGuard = true;
  /// Records kiln.max_abs on the graph between the graph passes and
  /// kiln-mixed-precision: kiln::recordValueRanges (compiler/ReferenceRun.h,
  /// the reference interpreter), which kilnc and the tests pass in; the
  /// compiler library itself does not link the interpreter.
  std::function<absl::Status(LoadedModel &, int64_t maxSeq)> recordRanges;
  /// none, w8a16 or w4a16: kiln.linear weights stored as int8 (per output
  /// channel) or int4 (per group of quantGroup features), activations as
  /// --precision says (kiln-quantize-weights, with emit kiln or stage
  /// steps).
  std::string quantize = "none";
  int64_t quantGroup = 0; // 0: all of K for int8, 128 for int4
  /// The guardrail: layers whose calibrated output error exceeds
  /// quantTolerance stay in float (< 0: the scheme's default,
  /// defaultQuantTolerance).
  bool quantGuard = true;
  double quantTolerance = -1;
  /// none, or comma-separated unstructured:F, n:m (2:4), ffn:F (heads:F
  /// is refused: not built yet); see compiler/Pruning.h.
  std::string prune = "none";
  /// layer or global: unstructured:F prunes F of each weight, or F of all
  /// of them together with one magnitude bound.
  std::string pruneScope = "layer";
  /// Token-id sequences to calibrate on (kilnc --calibration); empty: a
  /// fixed set drawn from the vocabulary.
  std::vector<std::vector<int64_t>> calibrationIds;
  /// Records kiln.input_norms for activation-aware head/FFN pruning
  /// (kiln::recordInputNorms, ReferenceRun.h): model, max sequence, the
  /// calibration ids; returns the tokens run. Used with --prune heads/ffn
  /// and calibrationIds.
  std::function<absl::StatusOr<int64_t>(
      LoadedModel &, int64_t, const std::vector<std::vector<int64_t>> &)>
      recordInputNorms;
  /// With w8a8: SmoothQuant's alpha (kilnc --smooth-alpha; < 0: off).
  double smoothAlpha = 0.5;
  /// Records kiln.quant_error, and for W8A8 kiln.smooth
  /// (kiln::recordQuantErrors, ReferenceRun.h): model, max sequence, what
  /// to measure.
  std::function<absl::Status(LoadedModel &, int64_t, const QuantCalibration &)>
      recordQuantErrors;
  /// With target cpu: the x86-64 levels to compile the kernels for (LLVM
  /// CPU names, CpuObject.h kCpuLevels); the runtime loads the highest its
  /// CPU runs. --emit kernels writes the first.
  std::vector<std::string> cpus = {"x86-64", "x86-64-v3", "x86-64-v4"};
  bool externalWeights = false; // with emit kiln
  std::string cudaToolkit;      // "": $CUDA_HOME or /usr/local/cuda
  std::string ptxPath;          // with target cuda: also write the PTX
  std::string stepsPath;        // with emit kernels: also write the steps
  int64_t maxBatch = 1;
  int64_t maxSeq = 0; // 0: the model's position limit, or 512
  /// Tensor-parallel ranks (kiln-partition), pipeline stages
  /// (kiln-pipeline) and data-parallel replicas; the artifact runs on
  /// tp * pp * dp ranks.
  int64_t tp = 1, pp = 1, dp = 1;
  /// 0: no graph optimization (every op its own kernel); 1: kiln-fuse.
  int64_t optLevel = 1;
  /// With target cpu, the kernels through the CUDA lowering with N
  /// emulated GPU threads (checks the GPU distribution on the CPU).
  int64_t emulateGpuThreads = 0;
  /// Applied to the pass manager before it runs (kilnc: the command line's
  /// --print-ir-after-all, --mlir-timing, ...).
  std::function<absl::Status(mlir::PassManager &)> configurePassManager;
  /// Where progress lines go; null: nowhere.
  llvm::raw_ostream *progress = nullptr;
};

/// What kilnc --report writes, as JSON text.
struct CompileReport {
  std::string json;
};

absl::StatusOr<CompileReport> compileModel(const CompileOptions &options);

} // namespace kiln

#endif // KILN_COMPILER_COMPILE_H
