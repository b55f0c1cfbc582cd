//===- Normalization.cpp - softmax, norms, reductions -> linalg -----------===//
//
// softmax becomes upstream linalg.softmax (its decomposition into max, exp,
// sum and divide is upstream's). layer_norm and rms_norm become row
// reductions (linalg.generic with the last dim as reduction) followed by one
// elementwise generic; reduce becomes linalg.reduce (mean divides after,
// keep_dims expands the shape back).
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Conversion/KilnToLinalg/Patterns.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace kiln::lowering;

namespace kiln {
namespace {

struct SoftmaxLowering : public OpConversionPattern<SoftmaxOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SoftmaxOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    Value init = emptyLike(rewriter, op.getLoc(), type, adaptor.getInput());
    rewriter.replaceOpWithNewOp<linalg::SoftmaxOp>(
        op, TypeRange{type}, adaptor.getInput(), init, op.getDim());
    return success();
  }
};

/// The size of dim `d` of `tensor` as a scalar of float type `type`.
Value sizeAsFloat(OpBuilder &b, Location loc, Value tensor, int64_t d,
                  Type type) {
  OpFoldResult size = tensor::getMixedSize(b, loc, tensor, d);
  if (auto value = dyn_cast<Value>(size)) {
    Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), value);
    return arith::SIToFPOp::create(b, loc, type, i64);
  }
  return scalarConstant(
      b, loc, type,
      static_cast<double>(cast<IntegerAttr>(cast<Attribute>(size)).getInt()));
}

/// Reduces the last dim of `x` into [x.shape[:-1]]: acc = body(acc, x, rows)
/// where `rows` are per-row inputs ([x.shape[:-1]]).
Value reduceRows(
    OpBuilder &b, Location loc, Value x, ValueRange rowInputs,
    function_ref<Value(OpBuilder &, Location, Value, Value, ValueRange)> body) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  MLIRContext *context = b.getContext();
  SmallVector<OpFoldResult> sizes = getSizes(b, loc, x);
  sizes.pop_back();
  Type element = type.getElementType();
  Value init = tensor::EmptyOp::create(b, loc, sizes, element);
  Value zero = scalarConstant(b, loc, element, 0);
  Value filled =
      linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{init})
          .getResult(0);
  AffineMap identity = b.getMultiDimIdentityMap(rank);
  AffineMap row =
      AffineMap::get(rank, 0, identity.getResults().drop_back(), context);
  SmallVector<AffineMap> maps = {identity};
  SmallVector<Value> inputs = {x};
  for (Value r : rowInputs) {
    maps.push_back(row);
    inputs.push_back(r);
  }
  maps.push_back(row);
  SmallVector<utils::IteratorType> iterators(rank - 1,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto resultType = RankedTensorType::get(
      cast<RankedTensorType>(filled.getType()).getShape(), element);
  return linalg::GenericOp::create(
             b, loc, TypeRange{resultType}, inputs, ValueRange{filled}, maps,
             iterators,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value acc = args.back();
               linalg::YieldOp::create(
                   nb, l,
                   body(nb, l, acc, args[0], args.drop_front().drop_back()));
             })
      .getResult(0);
}

template <typename OpTy>
struct NormLowering : public OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    constexpr bool isLayerNorm = std::is_same_v<OpTy, LayerNormOp>;
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    auto type = cast<RankedTensorType>(op.getType());
    Type element = type.getElementType();
    int64_t rank = type.getRank();
    Value count = sizeAsFloat(rewriter, loc, x, rank - 1, element);
    Value eps = scalarConstant(rewriter, loc, element,
                               op.getEpsilon().convertToDouble());

    // mean (layer_norm only), then the (centered) mean of squares.
    Value mean;
    if constexpr (isLayerNorm) {
      Value sum = reduceRows(
          rewriter, loc, x, {},
          [](OpBuilder &b, Location l, Value acc, Value v, ValueRange) {
            return arith::AddFOp::create(b, l, acc, v).getResult();
          });
      auto rowType = cast<RankedTensorType>(sum.getType());
      mean = buildElementwise(
          rewriter, loc, rowType, sum,
          [&](OpBuilder &b, Location l, ValueRange a) {
            return arith::DivFOp::create(b, l, a[0], count).getResult();
          });
    }
    SmallVector<Value> rowInputs;
    if (mean)
      rowInputs.push_back(mean);
    Value squares = reduceRows(
        rewriter, loc, x, rowInputs,
        [&](OpBuilder &b, Location l, Value acc, Value v, ValueRange rows) {
          Value centered =
              rows.empty()
                  ? v
                  : arith::SubFOp::create(b, l, v, rows[0]).getResult();
          Value sq = arith::MulFOp::create(b, l, centered, centered);
          return arith::AddFOp::create(b, l, acc, sq).getResult();
        });

    // y = (x - mean) * rsqrt(squares / H + eps) * scale (+ bias).
    MLIRContext *context = rewriter.getContext();
    AffineMap identity = rewriter.getMultiDimIdentityMap(rank);
    AffineMap row =
        AffineMap::get(rank, 0, identity.getResults().drop_back(), context);
    AffineMap last =
        AffineMap::get(rank, 0, identity.getResults().take_back(), context);
    SmallVector<Value> inputs = {x, squares, adaptor.getScale()};
    SmallVector<AffineMap> maps = {identity, row, last};
    Value bias;
    if constexpr (isLayerNorm)
      bias = adaptor.getBias();
    if (mean) {
      inputs.push_back(mean);
      maps.push_back(row);
    }
    if (bias) {
      inputs.push_back(bias);
      maps.push_back(last);
    }
    maps.push_back(identity);
    Value init = emptyLike(rewriter, loc, type, x);
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, inputs, ValueRange{init}, maps,
        iterators, [&](OpBuilder &b, Location l, ValueRange a) {
          Value v = a[0];
          unsigned next = 3;
          if (mean)
            v = arith::SubFOp::create(b, l, v, a[next++]);
          Value variance = arith::DivFOp::create(b, l, a[1], count);
          Value inv = math::RsqrtOp::create(
              b, l, arith::AddFOp::create(b, l, variance, eps));
          Value y = arith::MulFOp::create(
              b, l, arith::MulFOp::create(b, l, v, inv), a[2]);
          if (bias)
            y = arith::AddFOp::create(b, l, y, a[next]);
          linalg::YieldOp::create(b, l, y);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

struct ReduceLowering : public OpConversionPattern<ReduceOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ReduceOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    auto inputType = cast<RankedTensorType>(x.getType());
    Type element = inputType.getElementType();
    bool isFloat = isa<FloatType>(element);
    ArrayRef<int64_t> dims = op.getDims();
    ReduceKind kind = op.getKind();

    SmallVector<OpFoldResult> sizes;
    SmallVector<OpFoldResult> all = getSizes(rewriter, loc, x);
    SmallVector<int64_t> shape;
    for (int64_t d = 0; d < inputType.getRank(); ++d)
      if (!llvm::is_contained(dims, d)) {
        sizes.push_back(all[d]);
        shape.push_back(inputType.getDimSize(d));
      }
    double initValue = 0;
    if (kind == ReduceKind::Max || kind == ReduceKind::Min) {
      double inf = std::numeric_limits<double>::infinity();
      initValue = kind == ReduceKind::Max ? -inf : inf;
      if (!isFloat)
        initValue =
            kind == ReduceKind::Max
                ? static_cast<double>(std::numeric_limits<int32_t>::min())
                : static_cast<double>(std::numeric_limits<int32_t>::max());
    }
    Value init = tensor::EmptyOp::create(rewriter, loc, sizes, element);
    Value filled =
        linalg::FillOp::create(
            rewriter, loc,
            ValueRange{scalarConstant(rewriter, loc, element, initValue)},
            ValueRange{init})
            .getResult(0);
    Value reduced =
        linalg::ReduceOp::create(
            rewriter, loc, ValueRange{x}, ValueRange{filled}, dims,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value v = args[0], acc = args[1], r;
              switch (kind) {
              case ReduceKind::Sum:
              case ReduceKind::Mean:
                r = isFloat ? arith::AddFOp::create(b, l, acc, v).getResult()
                            : arith::AddIOp::create(b, l, acc, v).getResult();
                break;
              case ReduceKind::Max:
                r = isFloat
                        ? arith::MaximumFOp::create(b, l, acc, v).getResult()
                        : arith::MaxSIOp::create(b, l, acc, v).getResult();
                break;
              case ReduceKind::Min:
                r = isFloat
                        ? arith::MinimumFOp::create(b, l, acc, v).getResult()
                        : arith::MinSIOp::create(b, l, acc, v).getResult();
                break;
              }
              linalg::YieldOp::create(b, l, r);
            })
            .getResult(0);
    auto reducedType = RankedTensorType::get(shape, element);
    if (kind == ReduceKind::Mean) {
      Value count = scalarConstant(rewriter, loc, element, 1);
      for (int64_t d : dims) {
        Value size =
            isFloat ? sizeAsFloat(rewriter, loc, x, d, element) : Value();
        if (size)
          count = arith::MulFOp::create(rewriter, loc, count, size);
      }
      reduced = buildElementwise(
          rewriter, loc, reducedType, reduced,
          [&](OpBuilder &b, Location l, ValueRange a) {
            return isFloat
                       ? arith::DivFOp::create(b, l, a[0], count).getResult()
                       : a[0];
          });
    }
    if (op.getKeepDims()) {
      auto resultType = cast<RankedTensorType>(op.getType());
      // Each reduced (now size-1) dim joins the group of the next kept
      // dim; trailing reduced dims join the last group.
      SmallVector<ReassociationIndices> groups;
      ReassociationIndices pending;
      for (int64_t d = 0; d < resultType.getRank(); ++d) {
        pending.push_back(d);
        if (!llvm::is_contained(dims, d)) {
          groups.push_back(pending);
          pending.clear();
        }
      }
      if (groups.empty())
        groups.push_back({});
      groups.back().append(pending.begin(), pending.end());
      if (shape.empty()) {
        reduced =
            tensor::ExpandShapeOp::create(rewriter, loc, resultType, reduced,
                                          ArrayRef<ReassociationIndices>{});
      } else {
        reduced = tensor::ExpandShapeOp::create(rewriter, loc, resultType,
                                                reduced, groups);
      }
    }
    rewriter.replaceOp(op, reduced);
    return success();
  }
};

} // namespace

void populateKilnNormalizationToLinalgPatterns(TypeConverter &converter,
                                               RewritePatternSet &patterns) {
  patterns.add<SoftmaxLowering, NormLowering<LayerNormOp>,
               NormLowering<RmsNormOp>, ReduceLowering>(converter,
                                                        patterns.getContext());
}

} // namespace kiln
