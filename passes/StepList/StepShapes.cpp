//===- StepShapes.cpp - step dims as expressions over an entry's symbols --===//
//
// One rule per op kind, mirroring its verifier's shape rules on symbolic
// dims: a dim that is static in the result type is that constant;
// elementwise results take each dim from the first operand that does not
// broadcast it; reshapes multiply merged dims and divide split ones; concat
// adds; kernel calls apply the rule of the op the kernel holds.
//
//===----------------------------------------------------------------------===//

#include "passes/StepList/StepShapes.h"

#include "dialects/kiln/KilnOps.h"

#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace kiln {
namespace {

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Dims of `result` where every static dim is its constant and dynamic dims
/// come from `pick(d)`.
DimExprs withStatic(RankedTensorType result,
                    llvm::function_ref<AffineExpr(int64_t)> pick) {
  DimExprs out;
  for (int64_t d = 0; d < result.getRank(); ++d)
    out.push_back(
        result.isDynamicDim(d)
            ? pick(d)
            : getAffineConstantExpr(result.getDimSize(d), result.getContext()));
  return out;
}

FailureOr<SmallVector<DimExprs>> ruleFor(Operation *op,
                                         ArrayRef<DimExprs> operands) {
  MLIRContext *context = op->getContext();
  auto constant = [&](int64_t v) { return getAffineConstantExpr(v, context); };
  RankedTensorType result = typeOf(op->getResult(0));
  int64_t rank = result.getRank();

  // Broadcast: result dim d from the first operand with a dim there that is
  // not a static 1.
  auto broadcast = [&](ValueRange values, ArrayRef<DimExprs> dims) {
    return withStatic(result, [&](int64_t d) -> AffineExpr {
      for (auto [v, e] : llvm::zip(values, dims)) {
        int64_t od = d - (rank - typeOf(v).getRank());
        if (od >= 0 && !(typeOf(v).getDimSize(od) == 1))
          return e[od];
      }
      return constant(1);
    });
  };
  auto same = [&](const DimExprs &e) {
    return withStatic(result, [&](int64_t d) { return e[d]; });
  };

  return llvm::TypeSwitch<Operation *, FailureOr<SmallVector<DimExprs>>>(op)
      .Case<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, CompareOp, SelectOp>(
          [&](Operation *o) -> FailureOr<SmallVector<DimExprs>> {
            return SmallVector<DimExprs>{broadcast(o->getOperands(), operands)};
          })
      .Case<NegOp, AbsOp, ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp, SinOp, CosOp,
            ReluOp, SiluOp, GeluOp, CastOp, SoftmaxOp, LayerNormOp, RmsNormOp,
            CausalMaskOp, AllReduceOp, SendRecvOp>(
          [&](Operation *) -> FailureOr<SmallVector<DimExprs>> {
            return SmallVector<DimExprs>{same(operands[0])};
          })
      .Case([&](CacheWriteOp) -> FailureOr<SmallVector<DimExprs>> {
        return SmallVector<DimExprs>{same(operands[0])};
      })
      .Case([&](MatmulOp o) -> FailureOr<SmallVector<DimExprs>> {
        const DimExprs &l = operands[0], &r = operands[1];
        bool ta = o.getTransposeLhs(), tb = o.getTransposeRhs();
        return SmallVector<DimExprs>{withStatic(result, [&](int64_t d) {
          if (d < rank - 2)
            return l[d];
          if (d == rank - 2)
            return ta ? l[rank - 1] : l[rank - 2];
          return tb ? r[r.size() - 2] : r[r.size() - 1];
        })};
      })
      .Case([&](LinearOp o) -> FailureOr<SmallVector<DimExprs>> {
        DimExprs dims = operands[0];
        const DimExprs &w = operands[1];
        dims.back() = o.getLayout() == WeightLayout::OutIn ? w[0] : w[1];
        return SmallVector<DimExprs>{dims};
      })
      .Case([&](ReduceOp o) -> FailureOr<SmallVector<DimExprs>> {
        DimExprs kept;
        for (int64_t d = 0; d < static_cast<int64_t>(operands[0].size()); ++d)
          if (!llvm::is_contained(o.getDims(), d))
            kept.push_back(operands[0][d]);
          else if (o.getKeepDims())
            kept.push_back(constant(1));
        return SmallVector<DimExprs>{kept};
      })
      .Case([&](EmbeddingOp) -> FailureOr<SmallVector<DimExprs>> {
        DimExprs dims = operands[1];
        dims.push_back(operands[0][1]);
        return SmallVector<DimExprs>{dims};
      })
      .Case([&](TransposeOp o) -> FailureOr<SmallVector<DimExprs>> {
        DimExprs dims;
        for (int64_t p : o.getPermutation())
          dims.push_back(operands[0][p]);
        return SmallVector<DimExprs>{dims};
      })
      .Case([&](ConcatOp o) -> FailureOr<SmallVector<DimExprs>> {
        DimExprs dims = operands[0];
        for (const DimExprs &e : operands.drop_front())
          dims[o.getDim()] = dims[o.getDim()] + e[o.getDim()];
        return SmallVector<DimExprs>{
            withStatic(result, [&](int64_t d) { return dims[d]; })};
      })
      .Case([&](SliceOp) -> FailureOr<SmallVector<DimExprs>> {
        return SmallVector<DimExprs>{same(operands[0])};
      })
      .Case([&](IotaOp o) -> FailureOr<SmallVector<DimExprs>> {
        return SmallVector<DimExprs>{withStatic(
            result, [&](int64_t) { return operands[0][o.getDim()]; })};
      })
      .Case([&](ReshapeOp o) -> FailureOr<SmallVector<DimExprs>> {
        auto source = typeOf(o.getInput());
        if (source.getShape() == result.getShape())
          return SmallVector<DimExprs>{same(operands[0])};
        DimExprs dims(rank, constant(0));
        if (source.getRank() > rank) {
          auto groups = reshapeGrouping(source.getShape(), result.getShape());
          if (!groups)
            return failure();
          for (auto [i, group] : llvm::enumerate(*groups)) {
            AffineExpr n = constant(1);
            for (int64_t d : group)
              n = n * operands[0][d];
            dims[i] = n;
          }
        } else {
          auto groups = reshapeGrouping(result.getShape(), source.getShape());
          if (!groups)
            return failure();
          for (auto [i, group] : llvm::enumerate(*groups)) {
            int64_t known = 1;
            for (int64_t d : group)
              if (!result.isDynamicDim(d))
                known *= result.getDimSize(d);
            for (int64_t d : group)
              dims[d] = result.isDynamicDim(d) ? operands[0][i].floorDiv(known)
                                               : constant(result.getDimSize(d));
          }
        }
        return SmallVector<DimExprs>{
            withStatic(result, [&](int64_t d) { return dims[d]; })};
      })
      .Case([&](FusedOp o) -> FailureOr<SmallVector<DimExprs>> {
        // The body's rules in order, from the inputs' dims.
        Block &body = o.getBody().front();
        DenseMap<Value, DimExprs> dims;
        for (auto [arg, d] : llvm::zip(body.getArguments(), operands))
          dims[arg] = d;
        for (Operation &inner : body.without_terminator()) {
          SmallVector<DimExprs> innerOperands;
          for (Value v : inner.getOperands())
            innerOperands.push_back(dims.lookup(v));
          auto results = ruleFor(&inner, innerOperands);
          if (failed(results))
            return failure();
          dims[inner.getResult(0)] = (*results)[0];
        }
        SmallVector<DimExprs> results;
        for (Value v : cast<YieldOp>(body.getTerminator()).getValues())
          results.push_back(dims.lookup(v));
        return results;
      })
      .Case([&](AllGatherOp) -> FailureOr<SmallVector<DimExprs>> {
        DimExprs dims = operands[0];
        dims.back() = constant(result.getShape().back());
        return SmallVector<DimExprs>{dims};
      })
      .Case<ConstantOp, ParamOp>(
          [&](Operation *) -> FailureOr<SmallVector<DimExprs>> {
            return SmallVector<DimExprs>{
                withStatic(result, [&](int64_t) { return constant(0); })};
          })
      .Case([&](AttentionOp o) -> FailureOr<SmallVector<DimExprs>> {
        SmallVector<DimExprs> out = {same(operands[0])};
        if (o.hasCache()) {
          out.push_back(operands[5]); // k_cache (operand segments: q, k, v,
          out.push_back(operands[6]); // [mask], [bias], k_cache, v_cache)
        }
        return out;
      })
      .Default([](Operation *) { return failure(); });
}

} // namespace

FailureOr<StepShapes> computeStepShapes(func::FuncOp entry) {
  StepShapes shapes;
  MLIRContext *context = entry.getContext();
  for (BlockArgument arg : entry.getArguments()) {
    auto type = typeOf(arg);
    auto name =
        entry.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "kiln.name");
    std::string base =
        name ? name.str() : "#" + std::to_string(arg.getArgNumber());
    DimExprs dims;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      if (!type.isDynamicDim(d)) {
        dims.push_back(getAffineConstantExpr(type.getDimSize(d), context));
        continue;
      }
      dims.push_back(getAffineSymbolExpr(shapes.symbols.size(), context));
      shapes.symbols.push_back(base + ":" + std::to_string(d));
      shapes.symbolSources.push_back({arg.getArgNumber(), unsigned(d)});
    }
    shapes.dims[arg] = dims;
  }
  for (Operation &op : entry.getBody().front()) {
    if (isa<func::ReturnOp>(op))
      break;
    SmallVector<DimExprs> operands;
    for (Value v : op.getOperands())
      operands.push_back(shapes.dims.lookup(v));
    Operation *ruleOp = &op;
    if (auto call = dyn_cast<func::CallOp>(op)) {
      auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
          call, call.getCalleeAttr());
      ruleOp = &callee.getBody().front().front();
    }
    // AttentionOp's optional operands: index them by segment.
    if (auto attention = dyn_cast<AttentionOp>(ruleOp)) {
      SmallVector<DimExprs> ordered = {operands[0], operands[1], operands[2]};
      unsigned next = 3;
      if (attention.getKeyMask())
        ++next;
      if (attention.getBias())
        ++next;
      ordered.push_back({});
      ordered.push_back({});
      if (attention.hasCache()) {
        ordered.push_back(operands[next]);
        ordered.push_back(operands[next + 1]);
      }
      operands = ordered;
    }
    FailureOr<SmallVector<DimExprs>> results = ruleFor(ruleOp, operands);
    if (failed(results)) {
      op.emitOpError("has no rule for its result dims in the step list");
      return failure();
    }
    for (auto [value, dims] : llvm::zip(op.getResults(), *results))
      shapes.dims[value] = dims;
  }
  return shapes;
}

} // namespace kiln
