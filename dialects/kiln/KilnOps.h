//===- KilnOps.h - kiln dialect operations --------------------------------===//
//
// The ops of the kiln dialect (generated from KilnOps.td).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECTS_KILN_KILNOPS_H
#define KILN_DIALECTS_KILN_KILNOPS_H

#include "dialects/kiln/KilnDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "support/Prune.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <string>
#include <vector>

#define GET_OP_CLASSES
#include "dialects/kiln/KilnOps.h.inc"

namespace kiln {
/// How the dims of `wide` merge into those of `narrow` (fewer dims): one
/// group of adjacent `wide` dims per `narrow` dim. MLIR's
/// getReassociationIndicesForCollapse when it finds one grouping; where
/// dynamic dims make several possible (e.g. [?, 2, 2, ?] -> [?, 2, ?]), the
/// one read left to right: a static dim takes the static dims whose
/// product it is, a dynamic dim the static dims before the next dynamic
/// one and that one, trailing 1s join the last group. The verifier,
/// interpreter, fusion and lowering of kiln.reshape all use this.
std::optional<llvm::SmallVector<mlir::ReassociationIndices>>
reshapeGrouping(llvm::ArrayRef<int64_t> wide, llvm::ArrayRef<int64_t> narrow);

/// Whether `kiln.reshape` may turn `source` into `target`: equal element
/// types, and equal element counts (static shapes) or adjacent dims split or
/// merged with at most one dynamic dim per group (dynamic shapes).
bool isValidReshape(mlir::RankedTensorType source,
                    mlir::RankedTensorType target);

/// The concrete result dims of `op` when its input has dims `sourceDims`:
/// the op's (possibly dynamic) types say how dims regroup, `sourceDims`
/// give the sizes.
llvm::SmallVector<int64_t>
reshapeResultDims(ReshapeOp op, llvm::ArrayRef<int64_t> sourceDims);

/// What identifies the stored form of a weight read: its name, with the
/// quantization when it is read quantized (a tied embedding is read as an
/// f32 table and as a quantized LM head weight: two stored weights).
std::string storedWeightKey(ParamOp op);

/// What a #kiln.prune says, as support/Prune.h applies it.
inline PruneSpec pruneSpecOf(PruneAttr prune) {
  PruneSpec spec;
  spec.n = prune.getN();
  spec.m = prune.getM();
  spec.axis = static_cast<int>(prune.getAxis());
  spec.fraction = prune.getFraction().convertToDouble();
  spec.threshold = prune.getThreshold().convertToDouble();
  if (auto scale = prune.getScale())
    spec.scale.assign(scale.asArrayRef().begin(), scale.asArrayRef().end());
  return spec;
}

/// The number of input features a weight's per-feature factors (a
/// #kiln.prune scale, a #kiln.quant smooth) cover: the whole input dim
/// (`inAxis`) of the checkpoint tensor when a shard cuts it, else the
/// param's own.
int64_t wholeInputFeatures(ParamOp op, int64_t inAxis);

/// The whole weight's input feature (along `inAxis`) that each of
/// tensor-parallel rank `rank`'s input features is: all of them in order,
/// unless a shard cuts that dim (indices from wholeInputFeatures on are a
/// padded shard's zero slices).
llvm::SmallVector<int64_t> rankInputFeatures(ParamOp op, int64_t inAxis,
                                             int64_t rank);

/// Per-input-feature factors of the whole weight (`whole`) for a rank's
/// `features` (rankInputFeatures); 1 on a pad feature, whose weights are
/// zero.
std::vector<float> rankFactors(llvm::ArrayRef<float> whole,
                               llvm::ArrayRef<int64_t> features);

/// A W8A8 weight's SmoothQuant factors for tensor-parallel rank `rank`'s
/// input features (empty when it has none): `smooth` covers the whole
/// input dim, and a row-parallel rank (a shard along it) takes its part.
std::vector<float> rankSmoothFactors(ParamOp op, int64_t rank);
} // namespace kiln

#endif // KILN_DIALECTS_KILN_KILNOPS_H
