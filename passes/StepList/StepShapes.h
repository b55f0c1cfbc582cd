//===- StepShapes.h - step dims as expressions over an entry's symbols ----===//
//
// Every dim of every value in a step list is an affine expression over the
// entry point's symbols: symbol k is one dynamic dim of one argument (e.g.
// `input_ids:1`, the sequence length). The runtime binds the symbols from
// the arguments it is given and evaluates the expressions per call, so no
// step is specialized to a maximum shape; the memory plan evaluates them at
// the maximum sizes.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_STEPLIST_STEPSHAPES_H
#define KILN_PASSES_STEPLIST_STEPSHAPES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AffineExpr.h"

#include <string>

namespace kiln {

using DimExprs = llvm::SmallVector<mlir::AffineExpr>;

struct StepShapes {
  /// Symbol k's name, "<argument name or #index>:<dim>".
  llvm::SmallVector<std::string> symbols;
  /// The argument and dim each symbol stands for.
  llvm::SmallVector<std::pair<unsigned, unsigned>> symbolSources;
  /// The dims of every value of the entry function.
  llvm::DenseMap<mlir::Value, DimExprs> dims;
};

/// Derives the dims of every value of `entry` (a step list or a plain kiln
/// function) from its arguments' symbols; fails at the first op it has no
/// rule for, with a located error.
mlir::FailureOr<StepShapes> computeStepShapes(mlir::func::FuncOp entry);

} // namespace kiln

#endif // KILN_PASSES_STEPLIST_STEPSHAPES_H
