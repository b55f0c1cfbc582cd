//===- Contraction.cpp - kiln.matmul -> linalg contraction ----------------===//
//
// A batched matmul with optional transposes and a shared rank-2 rhs is one
// linalg.generic (batch..., m, n parallel; k reduction) accumulating into a
// zero-filled init. Code generation later recognizes it as a library GEMM.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Conversion/KilnToLinalg/Patterns.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace kiln::lowering;

namespace kiln {
namespace {

struct MatmulLowering : public OpConversionPattern<MatmulOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *context = rewriter.getContext();
    Value lhs = adaptor.getLhs(), rhs = adaptor.getRhs();
    auto resultType = cast<RankedTensorType>(op.getType());
    int64_t rank = resultType.getRank();
    int64_t rhsRank = cast<RankedTensorType>(rhs.getType()).getRank();
    bool ta = op.getTransposeLhs(), tb = op.getTransposeRhs();

    auto dim = [&](int64_t d) { return getAffineDimExpr(d, context); };
    AffineExpr m = dim(rank - 2), n = dim(rank - 1), k = dim(rank);
    SmallVector<AffineExpr> lhsExprs, rhsExprs, outExprs;
    for (int64_t d = 0; d < rank - 2; ++d) {
      lhsExprs.push_back(dim(d));
      outExprs.push_back(dim(d));
      if (rhsRank == rank)
        rhsExprs.push_back(dim(d));
    }
    lhsExprs.append(ta ? SmallVector<AffineExpr>{k, m}
                       : SmallVector<AffineExpr>{m, k});
    rhsExprs.append(tb ? SmallVector<AffineExpr>{n, k}
                       : SmallVector<AffineExpr>{k, n});
    outExprs.append({m, n});
    SmallVector<AffineMap> maps = {
        AffineMap::get(rank + 1, 0, lhsExprs, context),
        AffineMap::get(rank + 1, 0, rhsExprs, context),
        AffineMap::get(rank + 1, 0, outExprs, context)};
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    iterators.push_back(utils::IteratorType::reduction);

    // Result sizes: batch and m from lhs, n from rhs.
    SmallVector<OpFoldResult> lhsSizes = getSizes(rewriter, loc, lhs);
    SmallVector<OpFoldResult> rhsSizes = getSizes(rewriter, loc, rhs);
    SmallVector<OpFoldResult> sizes(lhsSizes.begin(), lhsSizes.end() - 2);
    sizes.push_back(lhsSizes[ta ? rank - 1 : rank - 2]);
    sizes.push_back(rhsSizes[tb ? rhsRank - 2 : rhsRank - 1]);
    Type element = resultType.getElementType();
    Value init = tensor::EmptyOp::create(rewriter, loc, sizes, element);
    Value zero = scalarConstant(rewriter, loc, element, 0);
    Value filled = linalg::FillOp::create(rewriter, loc, ValueRange{zero},
                                          ValueRange{init})
                       .getResult(0);
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{resultType}, ValueRange{lhs, rhs},
        ValueRange{filled}, maps, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value product = arith::MulFOp::create(b, l, args[0], args[1]);
          linalg::YieldOp::create(
              b, l, arith::AddFOp::create(b, l, args[2], product).getResult());
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

} // namespace

void populateKilnContractionToLinalgPatterns(TypeConverter &converter,
                                             RewritePatternSet &patterns) {
  patterns.add<MatmulLowering>(converter, patterns.getContext());
}

} // namespace kiln
