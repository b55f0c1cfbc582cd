//===- DataMovement.cpp - gather and shape ops -> linalg / tensor ---------===//
//
// embedding is a linalg.generic over the result that reads its id and
// tensor.extracts the row element (an id outside the table is clamped to
// its first or last row, as XLA's gather does, so no kernel reads outside
// the table whatever the ids; the drivers refuse such ids from users
// before they get here); reshape becomes tensor.collapse_shape /
// expand_shape (through a flat 1-D tensor when a static reshape is no
// regrouping); transpose is linalg.transpose; concat is tensor.concat; slice
// is tensor.extract_slice.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Conversion/KilnToLinalg/Patterns.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"

using namespace mlir;
using namespace kiln::lowering;

namespace kiln {
namespace {

struct EmbeddingLowering : public OpConversionPattern<EmbeddingOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(EmbeddingOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    int64_t rank = type.getRank();
    Value table = adaptor.getTable(), ids = adaptor.getIndices();
    SmallVector<OpFoldResult> sizes = getSizes(rewriter, loc, ids);
    sizes.push_back(tensor::getMixedSize(rewriter, loc, table, 1));
    Value init =
        tensor::EmptyOp::create(rewriter, loc, sizes, type.getElementType());
    AffineMap identity = rewriter.getMultiDimIdentityMap(rank);
    AffineMap idMap = AffineMap::get(rank, 0, identity.getResults().drop_back(),
                                     rewriter.getContext());
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value lastRow = arith::SubIOp::create(
        rewriter, loc, tensor::DimOp::create(rewriter, loc, table, 0),
        arith::ConstantIndexOp::create(rewriter, loc, 1));
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{ids}, ValueRange{init},
        ArrayRef<AffineMap>{idMap, identity}, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value id =
              arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          Value row = arith::MinSIOp::create(
              b, l, arith::MaxSIOp::create(b, l, id, zero), lastRow);
          Value column = linalg::IndexOp::create(b, l, rank - 1);
          Value element =
              tensor::ExtractOp::create(b, l, table, ValueRange{row, column});
          linalg::YieldOp::create(b, l, element);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

struct ReshapeLowering : public OpConversionPattern<ReshapeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ReshapeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto source = cast<RankedTensorType>(input.getType());
    auto target = cast<RankedTensorType>(op.getType());
    if (source == target) {
      rewriter.replaceOp(op, input);
      return success();
    }
    if (source.getRank() > target.getRank()) {
      if (auto groups = reshapeGrouping(source.getShape(), target.getShape())) {
        rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(op, target, input,
                                                             *groups);
        return success();
      }
    } else if (source.getRank() < target.getRank()) {
      if (auto groups = reshapeGrouping(target.getShape(), source.getShape())) {
        rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, target, input,
                                                           *groups);
        return success();
      }
    }
    if (!source.hasStaticShape() || !target.hasStaticShape())
      return rewriter.notifyMatchFailure(op, "dynamic reshape that is not a "
                                             "regrouping of dims");
    // A static reshape that regroups dims: through a flat tensor.
    auto flat = RankedTensorType::get({source.getNumElements()},
                                      source.getElementType());
    auto all = [](int64_t rank) {
      ReassociationIndices group;
      for (int64_t d = 0; d < rank; ++d)
        group.push_back(d);
      return SmallVector<ReassociationIndices>{group};
    };
    Value collapsed = input;
    if (source.getRank() != 1)
      collapsed = tensor::CollapseShapeOp::create(rewriter, loc, flat, input,
                                                  all(source.getRank()));
    Value result = collapsed;
    if (target.getRank() != 1)
      result = tensor::ExpandShapeOp::create(rewriter, loc, target, collapsed,
                                             all(target.getRank()));
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct TransposeLowering : public OpConversionPattern<TransposeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(TransposeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    SmallVector<OpFoldResult> inputSizes =
        getSizes(rewriter, loc, adaptor.getInput());
    SmallVector<OpFoldResult> sizes;
    for (int64_t p : op.getPermutation())
      sizes.push_back(inputSizes[p]);
    Value init =
        tensor::EmptyOp::create(rewriter, loc, sizes, type.getElementType());
    auto transpose = linalg::TransposeOp::create(
        rewriter, loc, adaptor.getInput(), init, op.getPermutation());
    rewriter.replaceOp(op, transpose.getResult());
    return success();
  }
};

struct ConcatLowering : public OpConversionPattern<ConcatOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ConcatOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value concat = tensor::ConcatOp::create(rewriter, op.getLoc(), op.getDim(),
                                            adaptor.getInputs());
    if (concat.getType() != op.getType())
      concat =
          tensor::CastOp::create(rewriter, op.getLoc(), op.getType(), concat);
    rewriter.replaceOp(op, concat);
    return success();
  }
};

struct SliceLowering : public OpConversionPattern<SliceOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SliceOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    int64_t rank = cast<RankedTensorType>(input.getType()).getRank();
    int64_t dim = op.getDim();
    SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
    SmallVector<OpFoldResult> sizes = getSizes(rewriter, loc, input);
    offsets[dim] = rewriter.getIndexAttr(op.getStart());
    strides[dim] = rewriter.getIndexAttr(op.getStep());
    sizes[dim] = rewriter.getIndexAttr(
        cast<RankedTensorType>(op.getType()).getDimSize(dim));
    rewriter.replaceOpWithNewOp<tensor::ExtractSliceOp>(
        op, cast<RankedTensorType>(op.getType()), input, offsets, sizes,
        strides);
    return success();
  }
};

} // namespace

void populateKilnDataMovementToLinalgPatterns(TypeConverter &converter,
                                              RewritePatternSet &patterns) {
  patterns.add<EmbeddingLowering, ReshapeLowering, TransposeLowering,
               ConcatLowering, SliceLowering>(converter, patterns.getContext());
}

} // namespace kiln
