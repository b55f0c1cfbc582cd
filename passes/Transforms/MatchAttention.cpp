//===- MatchAttention.cpp - attention written out as ops -> kiln.attention
//-===//
//
// See KilnMatchAttention in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>
#include <optional>

namespace kiln {
#define GEN_PASS_DEF_KILNMATCHATTENTION
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// `v` through any chain of single-use reshapes (and the ops stripped).
Value throughReshapes(Value v, SmallVectorImpl<Operation *> &chain) {
  while (auto reshape = v.getDefiningOp<ReshapeOp>()) {
    if (!reshape->hasOneUse())
      break;
    chain.push_back(reshape);
    v = reshape.getInput();
  }
  return v;
}

/// The [B, S, N*D] tensor a [B, N, S, D] head split was made of:
/// reshape* <- transpose [0, 2, 1, 3] <- reshape* <- x.
Value headSplitSource(Value v, SmallVectorImpl<Operation *> &chain) {
  v = throughReshapes(v, chain);
  auto transpose = v.getDefiningOp<TransposeOp>();
  if (!transpose || !transpose->hasOneUse() ||
      transpose.getPermutation() != ArrayRef<int64_t>{0, 2, 1, 3})
    return nullptr;
  chain.push_back(transpose);
  Value x = throughReshapes(transpose.getInput(), chain);
  return shapeOf(x).size() == 3 ? x : nullptr;
}

/// A splat float constant's value.
std::optional<double> splatValue(Value v) {
  auto constant = v.getDefiningOp<ConstantOp>();
  auto splat =
      constant ? dyn_cast<SplatElementsAttr>(constant.getValue()) : nullptr;
  if (!splat || !isa<FloatType>(splat.getElementType()))
    return std::nullopt;
  return splat.getSplatValue<APFloat>().convertToDouble();
}

/// softmax(scale * Q K^T [+ bias] [+ padding mask] [causal]) V with the
/// heads split out of and packed back into [B, S, H*D], as kiln-decompose
/// writes it: anchored at the final reshape back to [B, Sq, H*D].
struct MatchAttention : public OpRewritePattern<ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ReshapeOp root,
                                PatternRewriter &rewriter) const override {
    SmallVector<Operation *> chain;
    // out: reshape <- transpose [0,2,1,3] <- reshape* <- P V.
    auto packed = root.getInput().getDefiningOp<TransposeOp>();
    if (shapeOf(root.getResult()).size() != 3 || !packed ||
        !packed->hasOneUse() ||
        packed.getPermutation() != ArrayRef<int64_t>{0, 2, 1, 3})
      return failure();
    Value o = throughReshapes(packed.getInput(), chain);
    auto pv = o.getDefiningOp<MatmulOp>();
    if (!pv || !pv->hasOneUse() || pv.getTransposeLhs() || pv.getTransposeRhs())
      return failure();
    Value v = headSplitSource(pv.getRhs(), chain);
    if (!v)
      return failure();
    auto softmax =
        throughReshapes(pv.getLhs(), chain).getDefiningOp<SoftmaxOp>();
    if (!softmax || !softmax->hasOneUse() ||
        static_cast<int64_t>(softmax.getDim()) !=
            static_cast<int64_t>(shapeOf(softmax).size()) - 1)
      return failure();
    Value scores = softmax.getInput();

    // Masks and bias, outermost first.
    bool causal = false;
    if (auto mask = scores.getDefiningOp<CausalMaskOp>()) {
      if (mask.getOffsets() || !mask->hasOneUse())
        return failure(); // a cached attention: not matched yet
      causal = true;
      scores = mask.getScores();
    }
    Value keyMask, bias;
    auto add = scores.getDefiningOp<AddOp>();
    // (1 - cast(mask)) * lowest, reshaped to [B, 1, 1, 1, Sk].
    if (add && add->hasOneUse()) {
      SmallVector<Operation *> maskChain;
      auto scaled =
          throughReshapes(add.getRhs(), maskChain).getDefiningOp<MulOp>();
      auto inverted = scaled ? scaled.getLhs().getDefiningOp<SubOp>() : nullptr;
      auto cast =
          inverted ? inverted.getRhs().getDefiningOp<CastOp>() : nullptr;
      std::optional<double> one =
          inverted ? splatValue(inverted.getLhs()) : std::nullopt;
      std::optional<double> lowest =
          scaled ? splatValue(scaled.getRhs()) : std::nullopt;
      if (cast && one == 1.0 && lowest && *lowest < -1e30) {
        keyMask = cast.getInput();
        scores = add.getLhs();
        add = scores.getDefiningOp<AddOp>();
      }
    }
    if (add && add->hasOneUse()) {
      SmallVector<Operation *> biasChain;
      Value b = throughReshapes(add.getRhs(), biasChain);
      if (shapeOf(b).size() == 4) {
        bias = b;
        scores = add.getLhs();
      }
    }
    scores = throughReshapes(scores, chain);
    std::optional<double> scale = 1.0;
    if (auto mul = scores.getDefiningOp<MulOp>(); mul && mul->hasOneUse()) {
      scale = splatValue(mul.getRhs());
      if (!scale)
        return failure();
      scores = mul.getLhs();
    }
    auto qk = scores.getDefiningOp<MatmulOp>();
    if (!qk || !qk->hasOneUse() || qk.getTransposeLhs() ||
        !qk.getTransposeRhs())
      return failure();
    Value q = headSplitSource(qk.getLhs(), chain);
    Value k = headSplitSource(qk.getRhs(), chain);
    if (!q || !k)
      return failure();

    // Heads from the shapes: D from the value heads, H and Hkv from the
    // packed widths.
    int64_t headDim = shapeOf(pv.getRhs()).back();
    int64_t width = shapeOf(q).back(), kvWidth = shapeOf(k).back();
    if (headDim <= 0 || ShapedType::isDynamic(width) || width % headDim ||
        kvWidth % headDim || shapeOf(v).back() != kvWidth ||
        shapeOf(root.getResult()).back() != width)
      return failure();
    int64_t heads = width / headDim, kvHeads = kvWidth / headDim;
    if (heads % kvHeads)
      return failure();

    MaskKind kind = causal
                        ? (keyMask ? MaskKind::CausalPadding : MaskKind::Causal)
                        : (keyMask ? MaskKind::Padding : MaskKind::None);
    // The default scale (1/sqrt(D)) stays implicit, as the frontend writes
    // it.
    FloatAttr scaleAttr;
    if (std::fabs(*scale - 1.0 / std::sqrt(static_cast<double>(headDim))) >
        1e-6 * std::fabs(*scale))
      scaleAttr = rewriter.getF64FloatAttr(*scale);
    auto attention = AttentionOp::create(
        rewriter, root.getLoc(), q, k, v, keyMask, bias, Value(), Value(),
        Value(), rewriter.getI64IntegerAttr(heads),
        rewriter.getI64IntegerAttr(kvHeads),
        MaskKindAttr::get(rewriter.getContext(), kind), scaleAttr);
    if (attention.getResult().getType() != root.getType())
      return rewriter.notifyMatchFailure(root, "result type differs");
    rewriter.replaceOp(root, attention.getResult());
    return success();
  }
};

struct KilnMatchAttentionPass
    : public impl::KilnMatchAttentionBase<KilnMatchAttentionPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<MatchAttention>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace kiln
