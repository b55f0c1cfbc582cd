//===- Elementwise.cpp - kiln elementwise ops -> linalg.generic -----------===//
//
// Every elementwise op (arithmetic, comparisons, select, math functions,
// activations, casts) becomes one broadcasting linalg.generic whose body is
// the scalar arith/math computation; constants become arith.constant and
// iota a generic over linalg.index.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Conversion/KilnToLinalg/Patterns.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace kiln::lowering;

namespace kiln {
namespace {

bool isFloat(Type t) { return isa<FloatType>(t); }

// Scalar bodies, one per op. `e` is the operands' element type.
/// The float or the (signed) integer form of a binary arith op.
template <typename FloatOp, typename IntOp>
Value floatOrInt(OpBuilder &b, Location l, ValueRange a, Type e) {
  if (isFloat(e))
    return FloatOp::create(b, l, a[0], a[1]);
  return IntOp::create(b, l, a[0], a[1]);
}

Value scalar(AddOp, OpBuilder &b, Location l, ValueRange a, Type e) {
  return floatOrInt<arith::AddFOp, arith::AddIOp>(b, l, a, e);
}
Value scalar(SubOp, OpBuilder &b, Location l, ValueRange a, Type e) {
  return floatOrInt<arith::SubFOp, arith::SubIOp>(b, l, a, e);
}
Value scalar(MulOp, OpBuilder &b, Location l, ValueRange a, Type e) {
  return floatOrInt<arith::MulFOp, arith::MulIOp>(b, l, a, e);
}
Value scalar(DivOp, OpBuilder &b, Location l, ValueRange a, Type e) {
  return floatOrInt<arith::DivFOp, arith::DivSIOp>(b, l, a, e);
}
Value scalar(MaxOp, OpBuilder &b, Location l, ValueRange a, Type e) {
  return floatOrInt<arith::MaximumFOp, arith::MaxSIOp>(b, l, a, e);
}
Value scalar(MinOp, OpBuilder &b, Location l, ValueRange a, Type e) {
  return floatOrInt<arith::MinimumFOp, arith::MinSIOp>(b, l, a, e);
}
Value scalar(CompareOp op, OpBuilder &b, Location l, ValueRange a, Type e) {
  ComparePredicate p = op.getPredicate();
  if (isFloat(e)) {
    // Ordered comparisons (false with NaN), except `ne`, which is true.
    arith::CmpFPredicate fp = arith::CmpFPredicate::OEQ;
    switch (p) {
    case ComparePredicate::EQ:
      fp = arith::CmpFPredicate::OEQ;
      break;
    case ComparePredicate::NE:
      fp = arith::CmpFPredicate::UNE;
      break;
    case ComparePredicate::LT:
      fp = arith::CmpFPredicate::OLT;
      break;
    case ComparePredicate::LE:
      fp = arith::CmpFPredicate::OLE;
      break;
    case ComparePredicate::GT:
      fp = arith::CmpFPredicate::OGT;
      break;
    case ComparePredicate::GE:
      fp = arith::CmpFPredicate::OGE;
      break;
    }
    return arith::CmpFOp::create(b, l, fp, a[0], a[1]);
  }
  arith::CmpIPredicate ip = arith::CmpIPredicate::eq;
  switch (p) {
  case ComparePredicate::EQ:
    ip = arith::CmpIPredicate::eq;
    break;
  case ComparePredicate::NE:
    ip = arith::CmpIPredicate::ne;
    break;
  case ComparePredicate::LT:
    ip = arith::CmpIPredicate::slt;
    break;
  case ComparePredicate::LE:
    ip = arith::CmpIPredicate::sle;
    break;
  case ComparePredicate::GT:
    ip = arith::CmpIPredicate::sgt;
    break;
  case ComparePredicate::GE:
    ip = arith::CmpIPredicate::sge;
    break;
  }
  return arith::CmpIOp::create(b, l, ip, a[0], a[1]);
}
Value scalar(SelectOp, OpBuilder &b, Location l, ValueRange a, Type) {
  return arith::SelectOp::create(b, l, a[0], a[1], a[2]);
}
Value scalar(NegOp, OpBuilder &b, Location l, ValueRange a, Type e) {
  if (isFloat(e))
    return arith::NegFOp::create(b, l, a[0]);
  return arith::SubIOp::create(b, l, scalarConstant(b, l, e, 0), a[0]);
}
Value scalar(AbsOp, OpBuilder &b, Location l, ValueRange a, Type e) {
  if (isFloat(e))
    return math::AbsFOp::create(b, l, a[0]);
  // x < 0 ? -x : x in arith (math.absi has no CPU lowering in this LLVM).
  Value zero = scalarConstant(b, l, e, 0);
  Value negative =
      arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, a[0], zero);
  return arith::SelectOp::create(b, l, negative,
                                 arith::SubIOp::create(b, l, zero, a[0]), a[0]);
}
Value scalar(ExpOp, OpBuilder &b, Location l, ValueRange a, Type) {
  return math::ExpOp::create(b, l, a[0]);
}
Value scalar(LogOp, OpBuilder &b, Location l, ValueRange a, Type) {
  return math::LogOp::create(b, l, a[0]);
}
Value scalar(SqrtOp, OpBuilder &b, Location l, ValueRange a, Type) {
  return math::SqrtOp::create(b, l, a[0]);
}
Value scalar(RsqrtOp, OpBuilder &b, Location l, ValueRange a, Type) {
  return math::RsqrtOp::create(b, l, a[0]);
}
Value scalar(TanhOp, OpBuilder &b, Location l, ValueRange a, Type) {
  return math::TanhOp::create(b, l, a[0]);
}
Value scalar(SinOp, OpBuilder &b, Location l, ValueRange a, Type) {
  return math::SinOp::create(b, l, a[0]);
}
Value scalar(CosOp, OpBuilder &b, Location l, ValueRange a, Type) {
  return math::CosOp::create(b, l, a[0]);
}
Value scalar(ReluOp, OpBuilder &b, Location l, ValueRange a, Type e) {
  Value zero = scalarConstant(b, l, e, 0);
  Value positive =
      arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, a[0], zero);
  return arith::SelectOp::create(b, l, positive, a[0], zero);
}
Value scalar(SiluOp, OpBuilder &b, Location l, ValueRange a, Type e) {
  // x / (1 + exp(-x))
  Value negExp = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, a[0]));
  Value denominator =
      arith::AddFOp::create(b, l, scalarConstant(b, l, e, 1), negExp);
  return arith::DivFOp::create(b, l, a[0], denominator);
}
Value scalar(GeluOp op, OpBuilder &b, Location l, ValueRange a, Type e) {
  Value x = a[0];
  Value half = arith::MulFOp::create(b, l, scalarConstant(b, l, e, 0.5), x);
  Value inner;
  if (op.getApproximation() == GeluApproximation::Erf) {
    inner = math::ErfOp::create(
        b, l,
        arith::MulFOp::create(b, l, x,
                              scalarConstant(b, l, e, 1.0 / std::sqrt(2.0))));
  } else {
    Value cube =
        arith::MulFOp::create(b, l, x, arith::MulFOp::create(b, l, x, x));
    Value sum = arith::AddFOp::create(
        b, l, x,
        arith::MulFOp::create(b, l, scalarConstant(b, l, e, 0.044715), cube));
    inner = math::TanhOp::create(
        b, l,
        arith::MulFOp::create(
            b, l, scalarConstant(b, l, e, std::sqrt(2.0 / M_PI)), sum));
  }
  return arith::MulFOp::create(
      b, l, half,
      arith::AddFOp::create(b, l, scalarConstant(b, l, e, 1), inner));
}

} // namespace

FailureOr<Value> lowering::scalarOf(Operation *op, OpBuilder &b, Location l,
                                    ValueRange operands) {
  if (auto cast = dyn_cast<CastOp>(op))
    return convertScalar(b, l, operands[0],
                         getElementTypeOrSelf(cast.getInput().getType()),
                         getElementTypeOrSelf(cast.getType()));
  // Select compares on its condition; the values' type is what matters.
  Type e = getElementTypeOrSelf(op->getOperands().back().getType());
  return llvm::TypeSwitch<Operation *, FailureOr<Value>>(op)
      .Case<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, CompareOp, SelectOp,
            NegOp, AbsOp, ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp, SinOp, CosOp,
            ReluOp, SiluOp, GeluOp>([&](auto typed) -> FailureOr<Value> {
        return scalar(typed, b, l, operands, e);
      })
      .Default([](Operation *) { return failure(); });
}

namespace {

template <typename OpTy>
struct ElementwiseLowering : public OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto resultType = cast<RankedTensorType>(op.getType());
    // Select compares on its condition; the values' type is what matters.
    Value typed = adaptor.getOperands().back();
    Type element = getElementTypeOrSelf(typed.getType());
    Value result = buildElementwise(
        rewriter, op.getLoc(), resultType, adaptor.getOperands(),
        [&](OpBuilder &b, Location l, ValueRange args) {
          return scalar(op, b, l, args, element);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct CastLowering : public OpConversionPattern<CastOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(CastOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto resultType = cast<RankedTensorType>(op.getType());
    Type from = getElementTypeOrSelf(op.getInput().getType());
    Type to = resultType.getElementType();
    Value result = buildElementwise(
        rewriter, op.getLoc(), resultType, adaptor.getOperands(),
        [&](OpBuilder &b, Location l, ValueRange args) {
          return convertScalar(b, l, args[0], from, to);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct ConstantLowering : public OpConversionPattern<ConstantOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ConstantOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto value = dyn_cast<TypedAttr>(op.getValue());
    if (!value)
      return rewriter.notifyMatchFailure(op, "constant is not a typed attr");
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, value);
    return success();
  }
};

struct IotaLowering : public OpConversionPattern<IotaOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(IotaOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getType());
    OpFoldResult size =
        tensor::getMixedSize(rewriter, loc, adaptor.getSource(), op.getDim());
    Value init = tensor::EmptyOp::create(rewriter, loc, ArrayRef{size},
                                         resultType.getElementType());
    Type element = resultType.getElementType();
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{resultType}, ValueRange{}, ValueRange{init},
        ArrayRef{rewriter.getMultiDimIdentityMap(1)},
        ArrayRef{utils::IteratorType::parallel},
        [&](OpBuilder &b, Location l, ValueRange) {
          Value index = linalg::IndexOp::create(b, l, 0);
          Value i64 = arith::IndexCastOp::create(b, l, b.getI64Type(), index);
          linalg::YieldOp::create(
              b, l, convertScalar(b, l, i64, b.getI64Type(), element));
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

} // namespace

void populateKilnElementwiseToLinalgPatterns(TypeConverter &converter,
                                             RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  patterns.add<ElementwiseLowering<AddOp>, ElementwiseLowering<SubOp>,
               ElementwiseLowering<MulOp>, ElementwiseLowering<DivOp>,
               ElementwiseLowering<MaxOp>, ElementwiseLowering<MinOp>,
               ElementwiseLowering<CompareOp>, ElementwiseLowering<SelectOp>,
               ElementwiseLowering<NegOp>, ElementwiseLowering<AbsOp>,
               ElementwiseLowering<ExpOp>, ElementwiseLowering<LogOp>,
               ElementwiseLowering<SqrtOp>, ElementwiseLowering<RsqrtOp>,
               ElementwiseLowering<TanhOp>, ElementwiseLowering<SinOp>,
               ElementwiseLowering<CosOp>, ElementwiseLowering<ReluOp>,
               ElementwiseLowering<SiluOp>, ElementwiseLowering<GeluOp>,
               CastLowering, ConstantLowering, IotaLowering>(converter,
                                                             context);
}

} // namespace kiln
