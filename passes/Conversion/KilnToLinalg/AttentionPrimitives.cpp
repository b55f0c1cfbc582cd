//===- AttentionPrimitives.cpp - causal_mask, cache_write -> linalg/tensor ===//
//
// causal_mask is a linalg.generic over the scores that compares its
// linalg.index positions. cache_write is an scf.for over the batch whose
// iteration inserts that sequence's new rows at its own position with
// tensor.insert_slice into the loop-carried cache: destination-passing
// style, so one-shot bufferization writes into the cache buffer in place.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Conversion/KilnToLinalg/Patterns.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace kiln::lowering;

namespace kiln {
namespace {

struct CausalMaskLowering : public OpConversionPattern<CausalMaskOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(CausalMaskOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    int64_t rank = type.getRank();
    Value scores = adaptor.getScores(), offsets = adaptor.getOffsets();
    auto floatType = cast<FloatType>(type.getElementType());
    Value lowest = arith::ConstantOp::create(
        rewriter, loc,
        rewriter.getFloatAttr(
            floatType,
            APFloat::getLargest(floatType.getFloatSemantics(), true)));
    // Without offsets, queries are the last Sq of Sk positions.
    Value defaultOffset;
    if (!offsets) {
      Value sq = tensor::DimOp::create(rewriter, loc, scores, rank - 2);
      Value sk = tensor::DimOp::create(rewriter, loc, scores, rank - 1);
      defaultOffset = arith::SubIOp::create(rewriter, loc, sk, sq);
    }
    AffineMap identity = rewriter.getMultiDimIdentityMap(rank);
    SmallVector<AffineMap> maps = {identity};
    SmallVector<Value> inputs = {scores};
    if (offsets) {
      maps.push_back(AffineMap::get(rank, 0, identity.getResults().take_front(),
                                    rewriter.getContext()));
      inputs.push_back(offsets);
    }
    maps.push_back(identity);
    Value init = emptyLike(rewriter, loc, type, scores);
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, inputs, ValueRange{init}, maps,
        iterators, [&](OpBuilder &b, Location l, ValueRange args) {
          Value i = linalg::IndexOp::create(b, l, rank - 2);
          Value j = linalg::IndexOp::create(b, l, rank - 1);
          Value offset =
              offsets
                  ? arith::IndexCastOp::create(b, l, b.getIndexType(), args[1])
                        .getResult()
                  : defaultOffset;
          Value limit = arith::AddIOp::create(b, l, i, offset);
          Value hidden =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, j, limit);
          linalg::YieldOp::create(
              b, l,
              arith::SelectOp::create(b, l, hidden, lowest, args[0])
                  .getResult());
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

struct CacheWriteLowering : public OpConversionPattern<CacheWriteOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(CacheWriteOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value cache = adaptor.getCache(), update = adaptor.getUpdate(),
          positions = adaptor.getPositions();
    auto updateType = cast<RankedTensorType>(update.getType());
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value batch = tensor::DimOp::create(rewriter, loc, cache, 0);
    auto loop = scf::ForOp::create(
        rewriter, loc, zero, batch, one, ValueRange{cache},
        [&](OpBuilder &b, Location l, Value iv, ValueRange iterArgs) {
          Value position = tensor::ExtractOp::create(b, l, positions, iv);
          Value row =
              arith::IndexCastOp::create(b, l, b.getIndexType(), position);
          SmallVector<OpFoldResult> sizes = getSizes(b, l, update);
          sizes[0] = b.getIndexAttr(1);
          SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
          auto rowsType = RankedTensorType::get(
              {1, updateType.getDimSize(1), updateType.getDimSize(2)},
              updateType.getElementType());
          Value rows = tensor::ExtractSliceOp::create(
              b, l, rowsType, update,
              ArrayRef<OpFoldResult>{iv, b.getIndexAttr(0), b.getIndexAttr(0)},
              sizes, strides);
          Value written = tensor::InsertSliceOp::create(
              b, l, rows, iterArgs[0],
              ArrayRef<OpFoldResult>{iv, row, b.getIndexAttr(0)}, sizes,
              strides);
          scf::YieldOp::create(b, l, written);
        });
    rewriter.replaceOp(op, loop.getResult(0));
    return success();
  }
};

} // namespace

void populateKilnAttentionPrimitivesToLinalgPatterns(
    TypeConverter &converter, RewritePatternSet &patterns) {
  patterns.add<CausalMaskLowering, CacheWriteLowering>(converter,
                                                       patterns.getContext());
}

} // namespace kiln
