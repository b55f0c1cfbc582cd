//===- FusionRules.h - which kiln ops one fused kernel can compute --------===//
//
// Shared by the pass that forms kiln.fused regions (kiln-fuse) and the
// lowering that turns a region into one linalg.generic (KilnToLinalg/
// Fused.cpp): an op is fusible when the lowering can compute any one element
// of its result from single elements of its operands at indices known from
// static shapes alone.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_TRANSFORMS_FUSIONRULES_H
#define KILN_PASSES_TRANSFORMS_FUSIONRULES_H

#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/Operation.h"

#include <optional>

namespace kiln {

/// Elementwise ops, casts, constants, iota, slices, concats along a dim
/// whose sizes are static, transposes, reshapes that regroup dims with any
/// dynamic dim outermost in its group, and embedding lookups.
bool isFusible(mlir::Operation *op);

/// How a reshape from `source` to `target` regroups dims: each target dim
/// (when the reshape collapses) or each source dim (when it expands) with
/// its group of dims on the other side. None when it is neither, or when a
/// group has a dynamic dim that is not its first.
struct ReshapeGroups {
  bool collapse = false; // source rank > target rank
  llvm::SmallVector<mlir::ReassociationIndices> groups;
};
std::optional<ReshapeGroups> reshapeGroups(mlir::RankedTensorType source,
                                           mlir::RankedTensorType target);

} // namespace kiln

#endif // KILN_PASSES_TRANSFORMS_FUSIONRULES_H
