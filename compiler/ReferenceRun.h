//===- ReferenceRun.h - a loaded model run on the reference interpreter ---===//
//
// What kiln-interpret does, as a library the golden tests call directly:
// run a request on a loaded model (compiler/ModelLoader.h) through the
// runtime's model driver (runtime/Driver.h: input checks, padding, entry
// points, generation with the kv cache) on the reference interpreter.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_REFERENCERUN_H
#define KILN_COMPILER_REFERENCERUN_H

#include "compiler/Compile.h"
#include "compiler/ModelLoader.h"
#include "frontend/Interpreter.h"
#include "runtime/Driver.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/ArrayRef.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

/// An OpObserver told which simulated tensor-parallel rank ran the op (0
/// for a module kiln-partition did not split): a rank sees its own part of
/// every sharded value.
using RankObserver = std::function<absl::Status(
    int64_t rank, mlir::Operation *op,
    llvm::function_ref<const HostTensor &(mlir::Value)> valueOf)>;

/// The runtime driver's request, and how the interpreter runs it.
struct RunRequest : rt::Request {
  InterpreterPrecision precision = InterpreterPrecision::F32;
  /// Runs func.call steps (compiled kernels) in place of their bodies.
  CallHandler callHandler;
  /// Sees every op the interpreter runs (a harness checking the arena plan,
  /// a calibration), one rank at a time.
  RankObserver observer;
};

/// A runtime tensor as the interpreter holds it, elements as `elementType`.
HostTensor toHost(const rt::Tensor &t, mlir::Type elementType);
/// An interpreter tensor for the runtime: floats cross as f64 (so --fp64
/// runs keep their precision), integers as i64.
rt::Tensor fromHost(const HostTensor &h);

struct RunResult {
  /// Named outputs; the first is what `--output` writes (DESIGN.md §5).
  std::vector<std::pair<std::string, HostTensor>> outputs;
  /// New tokens per sequence (decoders, maxNewTokens > 0).
  std::vector<std::vector<int64_t>> generated;
};

absl::StatusOr<RunResult> runModel(const LoadedModel &model,
                                   const RunRequest &request);

/// Calibrates `model`'s graph (after the graph passes, before
/// kiln-mixed-precision): runs a fixed request on the interpreter in f32
/// (two sequences of up to 16 ids spread over the vocabulary, and two
/// generated tokens for decoders) and records on every op of the entry
/// functions with float results `kiln.max_abs`, the largest magnitude each
/// result took (infinity for a non-finite value). `maxSeq` bounds the
/// prompt. kilnc --precision fp16 keeps what passes fp16's range in f32.
absl::Status recordValueRanges(LoadedModel &model, int64_t maxSeq);

/// Measures what quantizing each linear weight to `bits` bits (`group`
/// features per scale: kiln-quantize-weights' option) does to its layer:
/// runs the calibration request (`ids`, or the fixed one above) on the
/// interpreter in f32 and records on every kiln.linear whose weight is a
/// checkpoint tensor `kiln.quant_error`, the relative error (Frobenius
/// norm over all calibration rows) of its product x W when W is replaced
/// by its quantized form. kilnc --quantize's guardrail keeps in float the
/// layers past --quant-tolerance.
///
/// W8A8 (`calibration.actBits` 8): the input rows are quantized per token
/// as well, and with smoothAlpha >= 0 a first run records each input
/// feature's largest |x|; each linear then gets `kiln.smooth`, SmoothQuant's
/// factors s_j = max|x_j|^alpha / max|w_j|^(1 - alpha) (support/Quantize.h
/// smoothFactor), one vector per weight over all its linears and calls, and
/// the error is measured with them. Under tensor parallelism the factors
/// are the whole weight's (each feature's peaks over every rank's part), so
/// each rank's part of them is what the single-rank build would use.
absl::Status recordQuantErrors(LoadedModel &model, int64_t maxSeq,
                               const QuantCalibration &calibration);

/// Activation-aware pruning scores' half (kilnc --prune heads/ffn with
/// --calibration): runs each sequence of `ids` alone (no padding rows; cut
/// to fit `maxSeq`; no generated tokens: decoders' prefill, T5's encoder
/// and first decoder step) on the interpreter in f32 and puts on every
/// kiln.linear whose weight is a checkpoint tensor `kiln.input_norms`: the
/// L2 norm of each input feature over every row the weight multiplied, in
/// every entry point (so each entry's linear reading the weight carries
/// the same norms, read or not). Returns the calibration tokens run.
absl::StatusOr<int64_t>
recordInputNorms(LoadedModel &model, int64_t maxSeq,
                 const std::vector<std::vector<int64_t>> &ids);

/// Puts SmoothQuant's factors on a linear as `kiln.smooth`, which
/// kiln-quantize-weights moves into the weight's #kiln.quant.
void setSmoothFactors(mlir::Operation *linear, llvm::ArrayRef<float> factors);

} // namespace kiln

#endif // KILN_COMPILER_REFERENCERUN_H
