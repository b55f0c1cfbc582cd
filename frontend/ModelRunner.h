//===- ModelRunner.h - running a Hugging Face folder through the interpreter //
//
// What kiln-interpret does, as a library the golden tests call directly:
// load a folder (config, weights, graph), validate the inputs against the
// model (ids inside the vocabulary, lengths inside the position limit),
// right-pad the batch, run the entry points, and generate greedily with the
// kv cache, each sequence continuing from its own length.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_MODELRUNNER_H
#define KILN_FRONTEND_MODELRUNNER_H

#include "frontend/HfConfig.h"
#include "frontend/Interpreter.h"

#include "mlir/IR/BuiltinOps.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

struct LoadedModel {
  ModelConfig config;
  std::unique_ptr<WeightStore> weights;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

/// Reads config and weights from `dir` and builds the graph; with
/// `decompose`, runs --kiln-decompose over it.
absl::StatusOr<LoadedModel> loadModel(mlir::MLIRContext &context,
                                      const std::string &dir,
                                      bool decompose = false);

struct RunRequest {
  std::vector<std::vector<int64_t>> inputIds; // one unpadded list per sequence
  std::vector<std::vector<int64_t>> tokenTypeIds; // optional, same lengths
  int64_t maxNewTokens = 0;
  bool ignoreEos = false;
  InterpreterPrecision precision = InterpreterPrecision::F32;
  /// Runs func.call steps (compiled kernels) in place of their bodies.
  CallHandler callHandler;
  /// Sees every op the interpreter runs (a harness checking the arena plan).
  OpObserver observer;
};

struct RunResult {
  /// Named outputs; the first is what `--output` writes (DESIGN.md §5).
  std::vector<std::pair<std::string, HostTensor>> outputs;
  /// Greedy new tokens per sequence (decoders, maxNewTokens > 0).
  std::vector<std::vector<int64_t>> generated;
};

absl::StatusOr<RunResult> runModel(const LoadedModel &model,
                                   const RunRequest &request);

/// Parses "1,2,3;4,5" into sequences of ids.
absl::StatusOr<std::vector<std::vector<int64_t>>>
parseIdLists(const std::string &text, const std::string &what);

} // namespace kiln

#endif // KILN_FRONTEND_MODELRUNNER_H
