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
#include "llvm/ADT/SmallPtrSet.h"

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

/// The tensor a [B, N, S, D] head split was made of: reshape* <- transpose
/// [0, 2, 1, 3] <- reshape* <- x, with x [B, S, N*D], or [B, S, N, D] when
/// the heads were computed on split (rotary applied per head): packHeads()
/// then merges them.
Value headSplitSource(Value v, SmallVectorImpl<Operation *> &chain) {
  v = throughReshapes(v, chain);
  auto transpose = v.getDefiningOp<TransposeOp>();
  if (!transpose || !transpose->hasOneUse() ||
      transpose.getPermutation() != ArrayRef<int64_t>{0, 2, 1, 3})
    return nullptr;
  chain.push_back(transpose);
  Value x = throughReshapes(transpose.getInput(), chain);
  ArrayRef<int64_t> shape = shapeOf(x);
  if (shape.size() == 3 ||
      (shape.size() == 4 && !ShapedType::isDynamic(shape[2]) &&
       !ShapedType::isDynamic(shape[3])))
    return x;
  return nullptr;
}

/// A head-split source as [B, S, N*D].
Value packHeads(PatternRewriter &rewriter, Location loc, Value x) {
  ArrayRef<int64_t> s = shapeOf(x);
  if (s.size() == 3)
    return x;
  auto type = RankedTensorType::get(
      {s[0], s[1], s[2] * s[3]},
      cast<RankedTensorType>(x.getType()).getElementType());
  return ReshapeOp::create(rewriter, loc, type, x);
}

/// The width N*D of a head-split source.
int64_t packedWidth(Value x) {
  ArrayRef<int64_t> s = shapeOf(x);
  return s.size() == 3 ? s[2] : s[2] * s[3];
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

    // Masks and bias, outermost first. A causal mask with per-sequence
    // offsets is attention over a kv cache (checked below).
    bool causal = false;
    Value offsets;
    if (auto mask = scores.getDefiningOp<CausalMaskOp>()) {
      if (!mask->hasOneUse())
        return failure();
      causal = true;
      offsets = mask.getOffsets();
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
      // [B|1, H|1, Sq, Sk], or [H, Sq, Sk] (T5's bias before its batch dim
      // is added; made 4-D below).
      SmallVector<Operation *> biasChain;
      Value b = throughReshapes(add.getRhs(), biasChain);
      size_t rank = shapeOf(b).size();
      if (rank == 4 || rank == 3) {
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

    // Over a kv cache: keys and values are the caches with the new rows
    // written at the mask's offsets. The attention takes the new rows and
    // the caches, and its updated caches replace the writes' other uses
    // (the entry's cache results).
    CacheWriteOp kWrite, vWrite;
    if (offsets) {
      kWrite = k.getDefiningOp<CacheWriteOp>();
      vWrite = v.getDefiningOp<CacheWriteOp>();
      if (!kWrite || !vWrite || kWrite.getPositions() != offsets ||
          vWrite.getPositions() != offsets)
        return failure();
      k = kWrite.getUpdate();
      v = vWrite.getUpdate();
    }

    // Heads from the shapes: D from the value heads, H and Hkv from the
    // packed widths.
    int64_t headDim = shapeOf(pv.getRhs()).back();
    int64_t width = packedWidth(q), kvWidth = packedWidth(k);
    if (headDim <= 0 || ShapedType::isDynamic(width) || width % headDim ||
        kvWidth % headDim || packedWidth(v) != kvWidth ||
        shapeOf(root.getResult()).back() != width)
      return failure();
    int64_t heads = width / headDim, kvHeads = kvWidth / headDim;
    if (heads % kvHeads)
      return failure();
    if (bias && shapeOf(bias).size() == 3 && shapeOf(bias)[0] != heads &&
        shapeOf(bias)[0] != 1)
      return failure();
    q = packHeads(rewriter, root.getLoc(), q);
    k = packHeads(rewriter, root.getLoc(), k);
    v = packHeads(rewriter, root.getLoc(), v);
    if (bias && shapeOf(bias).size() == 3) {
      ArrayRef<int64_t> b = shapeOf(bias);
      bias = ReshapeOp::create(
          rewriter, root.getLoc(),
          RankedTensorType::get(
              {1, b[0], b[1], b[2]},
              cast<RankedTensorType>(bias.getType()).getElementType()),
          bias);
    }

    MaskKind kind = causal
                        ? (keyMask ? MaskKind::CausalPadding : MaskKind::Causal)
                        : (keyMask ? MaskKind::Padding : MaskKind::None);
    // The default scale (1/sqrt(D)) stays implicit, as the frontend writes
    // it.
    FloatAttr scaleAttr;
    if (std::fabs(*scale - 1.0 / std::sqrt(static_cast<double>(headDim))) >
        1e-6 * std::fabs(*scale))
      scaleAttr = rewriter.getF64FloatAttr(*scale);
    Value kCache = kWrite ? kWrite.getCache() : Value();
    Value vCache = vWrite ? vWrite.getCache() : Value();
    auto attention = AttentionOp::create(
        rewriter, root.getLoc(), q, k, v, keyMask, bias, kCache, vCache,
        offsets, rewriter.getI64IntegerAttr(heads),
        rewriter.getI64IntegerAttr(kvHeads),
        MaskKindAttr::get(rewriter.getContext(), kind), scaleAttr);
    if (attention.getResult().getType() != root.getType())
      return rewriter.notifyMatchFailure(root, "result type differs");
    if (kWrite) {
      // The writes' uses outside the matched ops (which die with the
      // root) read the attention's updated caches instead.
      llvm::SmallPtrSet<Operation *, 16> matched(chain.begin(), chain.end());
      auto outside = [&](OpOperand &use) {
        return !matched.contains(use.getOwner());
      };
      rewriter.replaceUsesWithIf(kWrite.getResult(), attention->getResult(1),
                                 outside);
      rewriter.replaceUsesWithIf(vWrite.getResult(), attention->getResult(2),
                                 outside);
    }
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
