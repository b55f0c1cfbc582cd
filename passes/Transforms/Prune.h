//===- Prune.h - what the pruning passes match, for their analyses --------===//
//
// kilnc computes the neuron scores kiln-prune-structured reads, and the
// global magnitude bound kiln-prune-weights takes, from the checkpoint; it
// finds the FFN blocks and the prunable weights with the passes' own rules.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_TRANSFORMS_PRUNE_H
#define KILN_PASSES_TRANSFORMS_PRUNE_H

#include "dialects/kiln/KilnOps.h"

#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace kiln {

/// The attribute on an FFN's output projection that scores its neurons.
inline constexpr llvm::StringLiteral kNeuronScores = "kiln.neuron_scores";

/// The attribute on a linear holding the L2 norm of each of its input
/// features over a calibration run (compiler/ReferenceRun.h
/// recordInputNorms): what activation-aware scores weigh weights by.
inline constexpr llvm::StringLiteral kInputNorms = "kiln.input_norms";

/// A feed-forward block: `down` reads the neurons, which `producers` make
/// (the up projection with its activation, or a gated pair multiplied by
/// `mul`). Every weight is a checkpoint tensor.
struct FfnBlock {
  LinearOp down;
  llvm::SmallVector<LinearOp, 2> producers;
  MulOp mul; // null without a gate
  int64_t neurons = 0;
};

/// The FFN block `down` is the output projection of, if it is one.
std::optional<FfnBlock> matchFfn(LinearOp down);

/// The attribute on an attention op that scores its key/value head groups.
inline constexpr llvm::StringLiteral kHeadScores = "kiln.head_scores";

/// An attention block: the projections making query, key and value (each
/// its own linear, or a slice of one merged linear, maybe through a
/// rotary embedding) and the output projection reading the heads. Every
/// weight is a checkpoint tensor.
struct AttentionBlock {
  struct Input {
    LinearOp projection;
    SliceOp slice;      // null: the projection's whole output
    RotaryOp rotary;    // null: none
    int64_t offset = 0; // the slice's first column of the projection
  };
  AttentionOp attention;
  Input inputs[3]; // query, key, value
  LinearOp output;
  /// T5's relative-position bias, computed once from its table and shared
  /// by every layer of the stack; null without a bias.
  RelativePositionBiasOp positionBias;
  int64_t headDim = 0;
};

/// The attention block around `attention`, if it is one pruning can shrink.
/// A bias must be T5's relative-position bias with a head per query head,
/// read from a checkpoint table.
std::optional<AttentionBlock> matchAttentionBlock(AttentionOp attention);

/// Whether kiln-prune-weights prunes `linear`'s weight (see its
/// description), `exclude` aside.
bool prunableLinear(LinearOp linear);

} // namespace kiln

#endif // KILN_PASSES_TRANSFORMS_PRUNE_H
