//===- Decompose.cpp - kiln composites -> kiln primitives -----------------===//
//
// Rewrites the composite ops into primitives, computing exactly what Hugging
// Face transformers computes:
//
//   linear     matmul (weight used in its stored layout) + bias + activation
//              + residual
//   attention  per-head view, Q K^T * scale + bias + masks, softmax, P V;
//              with a cache, the new rows are written with kiln.cache_write
//              and queries attend over the whole cache with per-sequence
//              causal masking. Grouped-query heads are not repeated: queries
//              are viewed as [B, kv_heads, group * Sq, D] so that one batched
//              matmul per kv head serves its group.
//   rotary     inv_freq (a compile-time constant, llama3 scaling applied),
//              cos/sin of position * inv_freq in f32, x*cos +
//              rotate_half(x)*sin
//   relative_position_bias
//              T5's bucketing (exact near buckets, log-spaced far ones) as
//              integer/float elementwise ops, then a gather from the table.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"
#include "passes/Transforms/GemmEpilogue.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <cmath>

namespace kiln {
#define GEN_PASS_DEF_KILNDECOMPOSE
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;
using namespace kiln;

namespace {

constexpr int64_t kDynamic = ShapedType::kDynamic;

/// a * b for dims, dynamic if either is.
int64_t mulDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) ? kDynamic
                                                              : a * b;
}

Type elementTypeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getElementType();
}

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

Value reshape(ImplicitLocOpBuilder &b, Value input, ArrayRef<int64_t> shape) {
  return ReshapeOp::create(
      b, RankedTensorType::get(shape, elementTypeOf(input)), input);
}

Value castTo(ImplicitLocOpBuilder &b, Value input, Type elementType) {
  if (elementTypeOf(input) == elementType)
    return input;
  return CastOp::create(b, RankedTensorType::get(shapeOf(input), elementType),
                        input);
}

/// A rank-0 constant, which broadcasts against any tensor.
Value scalar(ImplicitLocOpBuilder &b, Type elementType, double value) {
  auto type = RankedTensorType::get({}, elementType);
  Attribute attr = isa<FloatType>(elementType)
                       ? Attribute(b.getFloatAttr(elementType, value))
                       : Attribute(b.getIntegerAttr(
                             elementType, static_cast<int64_t>(value)));
  return ConstantOp::create(b, DenseElementsAttr::get(type, attr));
}

/// The lowest finite value of a float type (what HF masks scores with).
Value lowestValue(ImplicitLocOpBuilder &b, Type elementType) {
  auto floatType = cast<FloatType>(elementType);
  APFloat lowest =
      APFloat::getLargest(floatType.getFloatSemantics(), /*Negative=*/true);
  auto type = RankedTensorType::get({}, elementType);
  return ConstantOp::create(
      b, DenseElementsAttr::get(type, b.getFloatAttr(elementType, lowest)));
}

//===----------------------------------------------------------------------===//
// linear
//===----------------------------------------------------------------------===//

struct DecomposeLinear : public OpRewritePattern<LinearOp> {
  DecomposeLinear(MLIRContext *context, bool keepEpilogue)
      : OpRewritePattern(context), keepEpilogue(keepEpilogue) {}

  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    if (keepEpilogue && fitsGemmEpilogue(op))
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value y;
    Activation activation = op.getActivation();
    if (keepEpilogue) {
      // The gemm keeps the bias, and the activation when it can.
      bool fused =
          activation == Activation::Relu || activation == Activation::GeluTanh;
      y = LinearOp::create(b, op.getInput(), op.getWeight(), op.getBias(),
                           /*residual=*/Value(), op.getLayout(),
                           fused ? activation : Activation::None);
      if (fused)
        activation = Activation::None;
    } else {
      y = MatmulOp::create(b, op.getInput(), op.getWeight(),
                           /*transpose_lhs=*/false,
                           /*transpose_rhs=*/op.getLayout() ==
                               WeightLayout::OutIn);
      if (Value bias = op.getBias())
        y = AddOp::create(b, y, bias);
    }
    switch (activation) {
    case Activation::None:
      break;
    case Activation::Relu:
      y = ReluOp::create(b, y);
      break;
    case Activation::GeluErf:
      y = GeluOp::create(b, GeluApproximation::Erf, y);
      break;
    case Activation::GeluTanh:
      y = GeluOp::create(b, GeluApproximation::Tanh, y);
      break;
    case Activation::Silu:
      y = SiluOp::create(b, y);
      break;
    }
    if (Value residual = op.getResidual())
      y = AddOp::create(b, y, residual);
    rewriter.replaceOp(op, y);
    return success();
  }

private:
  bool keepEpilogue;
};

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

struct DecomposeAttention : public OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Type element = elementTypeOf(op.getQuery());
    ArrayRef<int64_t> qShape = shapeOf(op.getQuery());
    int64_t batch = qShape[0], queryLen = qShape[1];
    int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads();
    int64_t group = heads / kvHeads, headDim = op.getHeadDim();

    // Keys and values attended over: the updated cache, or the operands.
    Value keys = op.getKey(), values = op.getValue();
    SmallVector<Value> updatedCaches;
    if (op.hasCache()) {
      keys = CacheWriteOp::create(b, op.getKCache(), op.getPositions(), keys);
      values =
          CacheWriteOp::create(b, op.getVCache(), op.getPositions(), values);
      updatedCaches = {keys, values};
    }
    int64_t keyLen = shapeOf(keys)[1];

    // [B, S, H*D] -> [B, H, S, D].
    auto splitHeads = [&](Value x, int64_t len, int64_t n) {
      Value x4 = reshape(b, x, {batch, len, n, headDim});
      return TransposeOp::create(b, x4, ArrayRef<int64_t>{0, 2, 1, 3})
          .getResult();
    };
    Value q = splitHeads(op.getQuery(), queryLen, heads);
    // Group query heads by the kv head they share: [B, Hkv, G*Sq, D].
    q = reshape(b, q, {batch, kvHeads, group, queryLen, headDim});
    q = reshape(b, q, {batch, kvHeads, mulDims(group, queryLen), headDim});
    Value k = splitHeads(keys, keyLen, kvHeads);
    Value v = splitHeads(values, keyLen, kvHeads);

    // Scores [B, Hkv, G, Sq, Sk].
    Value scores = MatmulOp::create(b, q, k, /*transpose_lhs=*/false,
                                    /*transpose_rhs=*/true);
    double scale = op.getScaleOrDefault();
    if (scale != 1.0)
      scores = MulOp::create(b, scores, scalar(b, element, scale));
    scores = reshape(b, scores, {batch, kvHeads, group, queryLen, keyLen});

    if (Value bias = op.getBias()) {
      ArrayRef<int64_t> bs = shapeOf(bias);
      SmallVector<int64_t> grouped =
          bs[1] == 1
              ? SmallVector<int64_t>{bs[0], 1, 1, bs[2], bs[3]}
              : SmallVector<int64_t>{bs[0], kvHeads, group, bs[2], bs[3]};
      scores = AddOp::create(b, scores, reshape(b, bias, grouped));
    }
    if (Value keyMask = op.getKeyMask()) {
      // As BERT's extended attention mask: (1 - mask) * lowest.
      Value mask = castTo(b, keyMask, element);
      Value masked = SubOp::create(b, scalar(b, element, 1.0), mask);
      masked = MulOp::create(b, masked, lowestValue(b, element));
      ArrayRef<int64_t> ms = shapeOf(masked);
      scores =
          AddOp::create(b, scores, reshape(b, masked, {ms[0], 1, 1, 1, ms[1]}));
    }
    MaskKind kind = op.getMask();
    if (kind == MaskKind::Causal || kind == MaskKind::CausalPadding)
      scores = CausalMaskOp::create(b, scores, op.getPositions());

    Value probs = SoftmaxOp::create(b, scores, /*dim=*/4);
    probs =
        reshape(b, probs, {batch, kvHeads, mulDims(group, queryLen), keyLen});
    Value out = MatmulOp::create(b, probs, v, false, false);
    // [B, Hkv, G*Sq, D] -> [B, H, Sq, D] -> [B, Sq, H, D] -> [B, Sq, H*D].
    out = reshape(b, out, {batch, kvHeads, group, queryLen, headDim});
    out = reshape(b, out, {batch, heads, queryLen, headDim});
    out = TransposeOp::create(b, out, ArrayRef<int64_t>{0, 2, 1, 3});
    out = reshape(b, out, {batch, queryLen, heads * headDim});

    SmallVector<Value> replacements = {out};
    llvm::append_range(replacements, updatedCaches);
    rewriter.replaceOp(op, replacements);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// rotary
//===----------------------------------------------------------------------===//

struct DecomposeRotary : public OpRewritePattern<RotaryOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RotaryOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Type element = elementTypeOf(op.getInput());
    Type f32 = b.getF32Type();
    ArrayRef<int64_t> xShape = shapeOf(op.getInput());
    int64_t heads = op.getNumHeads();
    int64_t headDim = xShape[2] / heads, half = headDim / 2;

    SmallVector<float> invFreq = op.computeInverseFrequencies();
    Value invFreqConst = ConstantOp::create(
        b, DenseElementsAttr::get(RankedTensorType::get({half}, f32),
                                  ArrayRef<float>(invFreq)));

    // Angles [..., S, D] = concat(pos * inv_freq, pos * inv_freq), in f32.
    Value pos = castTo(b, op.getPositions(), f32);
    SmallVector<int64_t> posShape(shapeOf(pos));
    posShape.push_back(1);
    Value freqs = MulOp::create(b, reshape(b, pos, posShape), invFreqConst);
    Value angles =
        ConcatOp::create(b, ValueRange{freqs, freqs}, posShape.size() - 1);
    // Broadcast over heads: [..., S, 1, D].
    SmallVector<int64_t> trigShape(posShape.begin(), posShape.end() - 1);
    trigShape.append({1, headDim});
    Value cos =
        reshape(b, castTo(b, CosOp::create(b, angles), element), trigShape);
    Value sin =
        reshape(b, castTo(b, SinOp::create(b, angles), element), trigShape);

    Value x = reshape(b, op.getInput(), {xShape[0], xShape[1], heads, headDim});
    Value x1 = SliceOp::create(b, x, 3, 0, half, 1);
    Value x2 = SliceOp::create(b, x, 3, half, headDim, 1);
    Value rotated =
        ConcatOp::create(b, ValueRange{NegOp::create(b, x2), x1}, 3);
    Value out = AddOp::create(b, MulOp::create(b, x, cos),
                              MulOp::create(b, rotated, sin));
    rewriter.replaceOp(op, reshape(b, out, xShape));
    return success();
  }
};

//===----------------------------------------------------------------------===//
// relative_position_bias
//===----------------------------------------------------------------------===//

struct DecomposeRelativePositionBias
    : public OpRewritePattern<RelativePositionBiasOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RelativePositionBiasOp op,
                                PatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Type index = elementTypeOf(op.getQueryPositions());
    Type f32 = b.getF32Type();
    int64_t queryLen = shapeOf(op.getQueryPositions())[0];
    int64_t keyLen = shapeOf(op.getKeyPositions())[0];
    Value keyPos = castTo(b, op.getKeyPositions(), index);

    // relative = key - query, [Sq, Sk].
    Value relative =
        SubOp::create(b, reshape(b, keyPos, {1, keyLen}),
                      reshape(b, op.getQueryPositions(), {queryLen, 1}));

    // As transformers' T5Attention._relative_position_bucket.
    int64_t numBuckets = op.getNumBuckets();
    Value buckets;
    if (op.getBidirectional()) {
      numBuckets /= 2;
      Value after = CompareOp::create(b, ComparePredicate::GT, relative,
                                      scalar(b, index, 0));
      buckets = SelectOp::create(b, after, scalar(b, index, numBuckets),
                                 scalar(b, index, 0));
      relative = AbsOp::create(b, relative);
    } else {
      relative =
          NegOp::create(b, MinOp::create(b, relative, scalar(b, index, 0)));
    }
    int64_t maxExact = numBuckets / 2;
    Value isSmall = CompareOp::create(b, ComparePredicate::LT, relative,
                                      scalar(b, index, maxExact));
    // maxExact + log(rel / maxExact) / log(maxDistance / maxExact)
    //            * (numBuckets - maxExact), truncated, capped at numBuckets-1.
    Value large =
        DivOp::create(b, castTo(b, relative, f32), scalar(b, f32, maxExact));
    large = LogOp::create(b, large);
    large = DivOp::create(
        b, large,
        scalar(b, f32,
               std::log(static_cast<double>(op.getMaxDistance()) / maxExact)));
    large = MulOp::create(b, large, scalar(b, f32, numBuckets - maxExact));
    large =
        AddOp::create(b, scalar(b, index, maxExact), castTo(b, large, index));
    large = MinOp::create(b, large, scalar(b, index, numBuckets - 1));
    Value chosen = SelectOp::create(b, isSmall, relative, large);
    buckets = buckets ? AddOp::create(b, buckets, chosen).getResult() : chosen;

    // table[bucket] : [Sq, Sk, H] -> [1, H, Sq, Sk].
    Value values = EmbeddingOp::create(b, op.getTable(), buckets);
    values = TransposeOp::create(b, values, ArrayRef<int64_t>{2, 0, 1});
    int64_t heads = shapeOf(op.getTable())[1];
    rewriter.replaceOp(op, reshape(b, values, {1, heads, queryLen, keyLen}));
    return success();
  }
};

struct KilnDecomposePass
    : public kiln::impl::KilnDecomposeBase<KilnDecomposePass> {
  using KilnDecomposeBase::KilnDecomposeBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeLinear>(&getContext(), keepLinear);
    patterns.add<DecomposeRotary, DecomposeRelativePositionBias>(&getContext());
    if (!keepAttention)
      patterns.add<DecomposeAttention>(&getContext());
    // One walk suffices: every pattern emits primitives only. Unlike the
    // greedy driver it does not fold, so the output is exactly what the
    // patterns build.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
