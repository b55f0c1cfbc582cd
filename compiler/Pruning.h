//===- Pruning.h - kilnc --prune: what to prune, and the analyses ---------===//
//
// The pruning passes take what needs the checkpoint from here: the FFN
// neuron scores kiln-prune-structured ranks by, and the one magnitude bound
// of global-scope pruning.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_PRUNING_H
#define KILN_COMPILER_PRUNING_H

#include "absl/status/statusor.h"
#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

class WeightStore;
struct KilnStepListOptions;

/// kilnc --prune, parsed: `none`, or comma-separated `unstructured:F`,
/// `2:4` (any n:m), `heads:F`, `ffn:F`.
struct PruneRequest {
  double ffn = 0, heads = 0, fraction = 0;
  int64_t n = 0, m = 0;

  bool structured() const { return ffn > 0 || heads > 0; }
  bool inPlace() const { return m > 0 || fraction > 0; }
  bool any() const { return structured() || inPlace(); }
};

absl::StatusOr<PruneRequest> parsePruneRequest(const std::string &text);

/// The step-list pipeline's pruning options for `request`, with the global
/// bound `threshold` (0: per-layer fractions).
void setPruneOptions(const PruneRequest &request, double threshold,
                     KilnStepListOptions &options);

/// What a scoring analysis did: blocks scored (of `total`, for heads:
/// every attention op), and how many of them from a calibration run's
/// activation norms.
struct ScoreCounts {
  int64_t scored = 0, total = 0, activationAware = 0;
};

/// Puts kiln.neuron_scores on every FFN block's output projection. Neuron
/// j's score is the product of the L2 norms of the weights that make it
/// (the up/gate weights' output slice j) and read it (the output
/// projection's input slice j); where the output projection carries
/// kiln.input_norms (a calibration run, ReferenceRun.h recordInputNorms),
/// it is activation-aware instead: ||a_j|| * ||W_down[:, j]||.
absl::StatusOr<ScoreCounts> recordNeuronScores(mlir::ModuleOp module,
                                               const WeightStore &weights);

/// Puts kiln.head_scores on every attention block's attention op: key/value
/// group g's score is the product of the Frobenius norms of its slices of
/// the query (all the group's heads), key, value and output-projection
/// weights; where the output projection carries kiln.input_norms, the L2
/// norm over the group's features f of ||x_f|| * ||W_o[:, f]||.
absl::StatusOr<ScoreCounts> recordHeadScores(mlir::ModuleOp module,
                                             const WeightStore &weights);

/// The magnitude bound that prunes `fraction` of all the weights
/// kiln-prune-weights would prune (`exclude` aside), taken together:
/// every magnitude up to the floor(fraction * count)-th smallest.
absl::StatusOr<double>
globalPruneThreshold(mlir::ModuleOp module, const WeightStore &weights,
                     double fraction, const std::vector<std::string> &exclude);

} // namespace kiln

#endif // KILN_COMPILER_PRUNING_H
