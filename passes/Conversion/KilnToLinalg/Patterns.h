//===- Patterns.h - kiln -> linalg/tensor/arith/math conversion patterns --===//
//
// One populate function per op family (one .cpp each); KilnToLinalg.cpp
// combines them into the --kiln-to-linalg pass. Shared helpers build the
// broadcasting elementwise linalg.generic every family uses.
//
// Broadcast rule on dynamic dims: NumPy semantics are resolved statically.
// An operand dim broadcasts only when it is a static 1; a dynamic operand dim
// is taken to equal the result dim. (Kiln graphs never rely on a dynamic dim
// being 1 at run time to broadcast: batch and sequence dims agree across
// operands, and size-1 dims are static.)
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_CONVERSION_KILNTOLINALG_PATTERNS_H
#define KILN_PASSES_CONVERSION_KILNTOLINALG_PATTERNS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace kiln {

void populateKilnElementwiseToLinalgPatterns(mlir::TypeConverter &converter,
                                             mlir::RewritePatternSet &patterns);
void populateKilnContractionToLinalgPatterns(mlir::TypeConverter &converter,
                                             mlir::RewritePatternSet &patterns);
void populateKilnNormalizationToLinalgPatterns(
    mlir::TypeConverter &converter, mlir::RewritePatternSet &patterns);
void populateKilnDataMovementToLinalgPatterns(
    mlir::TypeConverter &converter, mlir::RewritePatternSet &patterns);
void populateKilnAttentionPrimitivesToLinalgPatterns(
    mlir::TypeConverter &converter, mlir::RewritePatternSet &patterns);

namespace lowering {

/// Lowers every kiln.fused under `root` to one linalg.generic (Fused.cpp).
/// Runs before the conversion patterns, which never see the region.
mlir::LogicalResult lowerFusedOps(mlir::Operation *root);

/// The sizes of a ranked tensor value: static sizes as attributes, dynamic
/// ones as tensor.dim.
llvm::SmallVector<mlir::OpFoldResult>
getSizes(mlir::OpBuilder &b, mlir::Location loc, mlir::Value tensor);

/// tensor.empty of `type`, taking dynamic sizes from `like` (same rank) or,
/// for a broadcast result, from the operands (see the rule above).
mlir::Value emptyLike(mlir::OpBuilder &b, mlir::Location loc,
                      mlir::RankedTensorType type, mlir::ValueRange operands);

/// Indexing map reading `operand` at the iteration point of a `resultRank`
/// loop nest (trailing-aligned; static size-1 dims read index 0).
mlir::AffineMap broadcastMap(mlir::RankedTensorType operand,
                             mlir::RankedTensorType result);

using ScalarBody = llvm::function_ref<mlir::Value(
    mlir::OpBuilder &, mlir::Location, mlir::ValueRange)>;

/// A linalg.generic computing `body` elementwise over broadcast operands.
mlir::Value buildElementwise(mlir::OpBuilder &b, mlir::Location loc,
                             mlir::RankedTensorType resultType,
                             mlir::ValueRange operands, ScalarBody body);

/// The scalar computation of one element of an elementwise kiln op
/// (arithmetic, comparison, select, math, activation, cast) from its
/// operands' elements; failure for any other op.
mlir::FailureOr<mlir::Value> scalarOf(mlir::Operation *op, mlir::OpBuilder &b,
                                      mlir::Location loc,
                                      mlir::ValueRange operands);

/// A scalar constant of `type` (float or integer).
mlir::Value scalarConstant(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Type type, double value);

/// Converts a scalar between element types with kiln.cast semantics.
mlir::Value convertScalar(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::Value value, mlir::Type from, mlir::Type to);

} // namespace lowering
} // namespace kiln

#endif // KILN_PASSES_CONVERSION_KILNTOLINALG_PATTERNS_H
