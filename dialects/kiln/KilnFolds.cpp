//===- KilnFolds.cpp - kiln folders and canonicalization patterns ---------===//
//
// Cheap, always-correct simplifications: identities (cast to the same type,
// reshape to the same shape, identity transpose, full slice, one-input
// concat, x - 0, x * 1), compositions (transpose of transpose, reshape of
// reshape, cast of an exact widening cast) and constant reshapes.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace kiln;

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

/// Whether `value` is a splat constant equal to `number` (integer or float).
static bool isSplatOf(Attribute value, int64_t number) {
  auto splat = dyn_cast_if_present<SplatElementsAttr>(value);
  if (!splat)
    return false;
  Type element = splat.getElementType();
  if (isa<FloatType>(element))
    return splat.getSplatValue<APFloat>().isExactlyValue(
        static_cast<double>(number));
  if (element.isInteger(1))
    return false;
  return splat.getSplatValue<APInt>().getSExtValue() == number;
}

// x - 0 = x exactly (also for x = -0.0), when no broadcast widens x.
OpFoldResult SubOp::fold(FoldAdaptor adaptor) {
  if (getLhs().getType() == getType() && isSplatOf(adaptor.getRhs(), 0))
    return getLhs();
  return {};
}

// x * 1 = x exactly, when no broadcast widens x. Constants of commutative
// ops are moved to the right-hand side before folding.
OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  if (getLhs().getType() == getType() && isSplatOf(adaptor.getRhs(), 1))
    return getLhs();
  return {};
}

OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

/// Whether every value of `from` is exactly representable in `to`.
static bool isExactFloatWidening(Type from, Type to) {
  auto f = dyn_cast<FloatType>(from), t = dyn_cast<FloatType>(to);
  if (!f || !t)
    return false;
  if (f == t)
    return true;
  // bf16 and f16 widen exactly to f32 and f64; f32 to f64.
  if (t.isF64())
    return true;
  return t.isF32() && f.getWidth() == 16;
}

namespace {
/// cast(cast(x : A -> B) -> C) => cast(x : A -> C) when A -> B is exact
/// (then the intermediate rounding is a no-op); x when C = A.
struct FoldExactCastChain : public OpRewritePattern<CastOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CastOp op,
                                PatternRewriter &rewriter) const override {
    auto inner = op.getInput().getDefiningOp<CastOp>();
    if (!inner)
      return rewriter.notifyMatchFailure(op, "input is not a kiln.cast");
    Type a = getElementTypeOrSelf(inner.getInput().getType());
    Type b = getElementTypeOrSelf(inner.getType());
    if (!isExactFloatWidening(a, b))
      return rewriter.notifyMatchFailure(op, "inner cast is not an exact "
                                             "float widening");
    if (inner.getInput().getType() == op.getType()) {
      rewriter.replaceOp(op, inner.getInput());
      return success();
    }
    rewriter.replaceOpWithNewOp<CastOp>(op, op.getType(), inner.getInput());
    return success();
  }
};
} // namespace

void CastOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                         MLIRContext *context) {
  results.add<FoldExactCastChain>(context);
}

OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  auto source = cast<RankedTensorType>(getInput().getType());
  auto target = cast<RankedTensorType>(getType());
  if (source == target)
    return getInput();
  // reshape(reshape(x)) => reshape(x), when that is a valid reshape.
  if (auto inner = getInput().getDefiningOp<ReshapeOp>()) {
    auto innerSource = cast<RankedTensorType>(inner.getInput().getType());
    if (innerSource == target)
      return inner.getInput();
    if (isValidReshape(innerSource, target)) {
      getInputMutable().assign(inner.getInput());
      return getResult();
    }
  }
  if (auto dense = dyn_cast_if_present<DenseElementsAttr>(adaptor.getInput()))
    if (target.hasStaticShape())
      return dense.reshape(target);
  return {};
}

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  ArrayRef<int64_t> perm = getPermutation();
  if (llvm::equal(perm, llvm::seq<int64_t>(0, perm.size())))
    return getInput();
  // transpose(transpose(x, p), q) = transpose(x, p o q): result dim i is
  // dim p[q[i]] of x.
  if (auto inner = getInput().getDefiningOp<TransposeOp>()) {
    ArrayRef<int64_t> innerPerm = inner.getPermutation();
    SmallVector<int64_t> composed;
    for (int64_t q : perm)
      composed.push_back(innerPerm[q]);
    if (llvm::equal(composed, llvm::seq<int64_t>(0, composed.size())))
      return inner.getInput();
    getInputMutable().assign(inner.getInput());
    setPermutation(composed);
    return getResult();
  }
  return {};
}

OpFoldResult ConcatOp::fold(FoldAdaptor) {
  if (getInputs().size() == 1 && getInputs().front().getType() == getType())
    return getInputs().front();
  return {};
}

OpFoldResult SliceOp::fold(FoldAdaptor) {
  auto input = cast<RankedTensorType>(getInput().getType());
  if (getStart() == 0 && getStep() == 1 &&
      input.getDimSize(getDim()) == static_cast<int64_t>(getEnd()))
    return getInput();
  return {};
}
