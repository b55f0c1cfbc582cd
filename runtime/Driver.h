//===- Driver.h - running a model's entry points for a request ------------===//
//
// What kiln-run and kiln-interpret do with a model, whatever executes it:
// validate the ids against the model (vocabulary, position limit), right-pad
// the batch with the pad id and mask it, call the entry points of the
// family's contract (models/Models.h), and generate with the kv cache, each
// sequence continuing from its own length and stopping at an eos id.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_DRIVER_H
#define KILN_RUNTIME_DRIVER_H

#include "artifact/ModelInfo.h"
#include "runtime/Executor.h"
#include "runtime/Sampling.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kiln::rt {

struct Request {
  std::vector<std::vector<int64_t>> inputIds;     // unpadded, per sequence
  std::vector<std::vector<int64_t>> tokenTypeIds; // optional, same lengths
  int64_t maxNewTokens = 0;
  bool ignoreEos = false;
  SamplingOptions sampling;
  /// Called once per generation step, as soon as its tokens are picked,
  /// with the token each sequence gained (-1 for a sequence that already
  /// ended): how kiln-run streams. Returning false stops generation there
  /// (Response::stopped), how it honours Ctrl-C.
  std::function<bool(const std::vector<int64_t> &)> onTokens;
};

struct Response {
  /// Named outputs; the first is what `--output` writes (DESIGN.md §5).
  std::vector<NamedTensor> outputs;
  /// New tokens per sequence (decoders, maxNewTokens > 0).
  std::vector<std::vector<int64_t>> generated;
  /// Whether Request::onTokens stopped generation before its end.
  bool stopped = false;
  /// Wall time of the first pass (prefill, forward, or encode plus the
  /// first decode) and of each later decode step.
  double firstPassSeconds = 0;
  std::vector<double> decodeStepSeconds;
  /// The same as device time (Executor::deviceSeconds), without the copies
  /// of inputs and outputs; empty where the executor does not measure it.
  std::vector<double> firstPassDeviceSeconds, decodeStepDeviceSeconds;
};

/// Checks `request` against `model` without running anything.
absl::Status validateRequest(const ModelInfo &model, const Request &request);

absl::StatusOr<Response> runModel(const ModelInfo &model, Executor &executor,
                                  const Request &request);

} // namespace kiln::rt

#endif // KILN_RUNTIME_DRIVER_H
