//===- Fused.cpp - kiln.fused -> one linalg.generic -----------------------===//
//
// A fused region becomes one linalg.generic over its result's index space
// with no inputs: the body computes the element at (linalg.index ...) by
// walking the region backwards from the yielded value. Each op maps the
// index it is asked for to its operands' indices (broadcast dims read 0,
// a slice adds its start, a concat selects among its inputs at clamped
// indices, a transpose permutes, a reshape linearizes and delinearizes
// within its dim groups, an embedding reads its id first) and combines
// their elements with the op's scalar body; the region's inputs are read
// with tensor.extract. No intermediate tensor exists, so one kernel reads
// each input once and writes the result once. Upstream's elementwise
// fusion covers the elementwise part but not concats or reshapes of the
// iteration space, which rotary embeddings need.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Conversion/KilnToLinalg/Patterns.h"
#include "passes/Transforms/FusionRules.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace kiln::lowering {
namespace {

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

class FusedEmitter {
public:
  FusedEmitter(OpBuilder &b, Location loc, FusedOp op) : b_(b), loc_(loc) {
    for (auto [arg, input] :
         llvm::zip(op.getBody().front().getArguments(), op.getInputs()))
      inputs_[arg] = input;
  }

  /// The sizes of region value `v`, built before the generic.
  FailureOr<SmallVector<OpFoldResult>> sizes(Value v);

  /// Tensors for the non-splat constants, built before the generic.
  void materializeConstants(FusedOp op) {
    op.getBody().walk([&](ConstantOp c) {
      auto value = cast<ElementsAttr>(c.getValue());
      if (!isa<SplatElementsAttr>(value))
        constants_[c.getResult()] =
            arith::ConstantOp::create(b_, loc_, cast<TypedAttr>(value));
    });
  }

  /// The element of `v` at `index`, built in the generic's body.
  FailureOr<Value> element(OpBuilder &b, Value v, ArrayRef<Value> index);

private:
  Value constantIndex(OpBuilder &b, int64_t n) {
    return arith::ConstantIndexOp::create(b, loc_, n);
  }
  /// `index` (into a `result`-typed value) as an index into `operand`
  /// under NumPy broadcasting: trailing-aligned, static 1s read 0.
  SmallVector<Value> broadcastIndex(OpBuilder &b, ArrayRef<Value> index,
                                    RankedTensorType result,
                                    RankedTensorType operand) {
    SmallVector<Value> out;
    int64_t offset = result.getRank() - operand.getRank();
    for (int64_t d = 0; d < operand.getRank(); ++d) {
      bool broadcast =
          operand.getDimSize(d) == 1 && result.getDimSize(d + offset) != 1;
      out.push_back(broadcast ? constantIndex(b, 0) : index[d + offset]);
    }
    return out;
  }

  OpBuilder &b_;
  Location loc_;
  DenseMap<Value, Value> inputs_;
  DenseMap<Value, Value> constants_;
  DenseMap<Value, SmallVector<OpFoldResult>> sizes_;
};

FailureOr<SmallVector<OpFoldResult>> FusedEmitter::sizes(Value v) {
  if (auto it = sizes_.find(v); it != sizes_.end())
    return it->second;
  RankedTensorType type = typeOf(v);
  SmallVector<OpFoldResult> out;
  auto stat = [&](int64_t d) { return b_.getIndexAttr(type.getDimSize(d)); };
  if (auto it = inputs_.find(v); it != inputs_.end()) {
    out = getSizes(b_, loc_, it->second);
    return sizes_[v] = out;
  }
  Operation *op = v.getDefiningOp();
  auto fromOperand = [&](Value operand, int64_t d) -> FailureOr<OpFoldResult> {
    auto s = sizes(operand);
    if (failed(s))
      return failure();
    return (*s)[d];
  };
  LogicalResult ok = success();
  if (isa<ConstantOp>(op)) {
    for (int64_t d = 0; d < type.getRank(); ++d)
      out.push_back(stat(d));
  } else if (auto iota = dyn_cast<IotaOp>(op)) {
    auto s = fromOperand(iota.getSource(), iota.getDim());
    ok = s;
    if (succeeded(s))
      out.push_back(*s);
  } else if (auto slice = dyn_cast<SliceOp>(op)) {
    auto s = sizes(slice.getInput());
    ok = s;
    if (succeeded(s)) {
      out = *s;
      out[slice.getDim()] = stat(slice.getDim());
    }
  } else if (auto concat = dyn_cast<ConcatOp>(op)) {
    auto s = sizes(concat.getInputs().front());
    ok = s;
    if (succeeded(s)) {
      out = *s;
      out[concat.getDim()] = stat(concat.getDim());
    }
  } else if (auto transpose = dyn_cast<TransposeOp>(op)) {
    auto s = sizes(transpose.getInput());
    ok = s;
    if (succeeded(s))
      for (int64_t p : transpose.getPermutation())
        out.push_back((*s)[p]);
  } else if (auto embedding = dyn_cast<EmbeddingOp>(op)) {
    auto s = sizes(embedding.getIndices());
    ok = s;
    if (succeeded(s)) {
      out = *s;
      out.push_back(stat(type.getRank() - 1));
    }
  } else if (auto reshape = dyn_cast<ReshapeOp>(op)) {
    RankedTensorType source = typeOf(reshape.getInput());
    auto groups = reshapeGroups(source, type);
    auto s = sizes(reshape.getInput());
    if (!groups || failed(s))
      return failure();
    for (int64_t d = 0; d < type.getRank(); ++d)
      out.push_back(stat(d));
    for (auto [i, group] : llvm::enumerate(groups->groups)) {
      if (groups->collapse) {
        // Target dim i is the product of the source group.
        if (!type.isDynamicDim(i))
          continue;
        Value product = constantIndex(b_, 1);
        for (int64_t g : group)
          product = arith::MulIOp::create(
              b_, loc_, product,
              getValueOrCreateConstantIndexOp(b_, loc_, (*s)[g]));
        out[i] = product;
      } else {
        // Source dim i splits into the target group; only its first dim
        // may be dynamic: the source size over the others.
        if (!type.isDynamicDim(group.front()))
          continue;
        int64_t inner = 1;
        for (int64_t g : llvm::drop_begin(group))
          inner *= type.getDimSize(g);
        out[group.front()] =
            arith::DivUIOp::create(
                b_, loc_, getValueOrCreateConstantIndexOp(b_, loc_, (*s)[i]),
                constantIndex(b_, inner))
                .getResult();
      }
    }
  } else if (isFusible(op)) {
    // Elementwise: a dynamic dim comes from the first operand that has it.
    for (int64_t d = 0; d < type.getRank() && succeeded(ok); ++d) {
      if (!type.isDynamicDim(d)) {
        out.push_back(stat(d));
        continue;
      }
      bool found = false;
      for (Value operand : op->getOperands()) {
        RankedTensorType t = typeOf(operand);
        int64_t k = d - (type.getRank() - t.getRank());
        if (k < 0 || t.getDimSize(k) == 1)
          continue;
        auto s = fromOperand(operand, k);
        ok = s;
        if (succeeded(s))
          out.push_back(*s);
        found = true;
        break;
      }
      if (!found)
        ok = failure();
    }
  } else {
    return failure();
  }
  if (failed(ok))
    return failure();
  return sizes_[v] = out;
}

FailureOr<Value> FusedEmitter::element(OpBuilder &b, Value v,
                                       ArrayRef<Value> index) {
  if (auto it = inputs_.find(v); it != inputs_.end())
    return tensor::ExtractOp::create(b, loc_, it->second, index).getResult();
  if (auto it = constants_.find(v); it != constants_.end())
    return tensor::ExtractOp::create(b, loc_, it->second, index).getResult();
  Operation *op = v.getDefiningOp();
  RankedTensorType type = typeOf(v);
  Type element = type.getElementType();

  if (auto constant = dyn_cast<ConstantOp>(op)) {
    auto splat = cast<SplatElementsAttr>(constant.getValue());
    return arith::ConstantOp::create(
               b, loc_, cast<TypedAttr>(splat.getSplatValue<Attribute>()))
        .getResult();
  }
  if (isa<IotaOp>(op)) {
    Value i64 = arith::IndexCastOp::create(b, loc_, b.getI64Type(), index[0]);
    return convertScalar(b, loc_, i64, b.getI64Type(), element);
  }
  if (auto slice = dyn_cast<SliceOp>(op)) {
    SmallVector<Value> at(index);
    int64_t d = slice.getDim();
    at[d] = arith::AddIOp::create(
        b, loc_,
        arith::MulIOp::create(b, loc_, index[d],
                              constantIndex(b, slice.getStep())),
        constantIndex(b, slice.getStart()));
    return this->element(b, slice.getInput(), at);
  }
  if (auto concat = dyn_cast<ConcatOp>(op)) {
    int64_t d = concat.getDim();
    Value result;
    int64_t offset = 0;
    for (Value input : concat.getInputs()) {
      int64_t size = typeOf(input).getDimSize(d);
      // Every input is read at an index clamped into it, and the select
      // keeps the one the index falls in: no branch, no read out of bounds.
      SmallVector<Value> at(index);
      Value shifted =
          arith::SubIOp::create(b, loc_, index[d], constantIndex(b, offset));
      at[d] = arith::MinSIOp::create(
          b, loc_,
          arith::MaxSIOp::create(b, loc_, shifted, constantIndex(b, 0)),
          constantIndex(b, size - 1));
      auto value = this->element(b, input, at);
      if (failed(value))
        return failure();
      if (!result) {
        result = *value;
      } else {
        Value inside =
            arith::CmpIOp::create(b, loc_, arith::CmpIPredicate::sge, index[d],
                                  constantIndex(b, offset));
        result = arith::SelectOp::create(b, loc_, inside, *value, result);
      }
      offset += size;
    }
    return result;
  }
  if (auto transpose = dyn_cast<TransposeOp>(op)) {
    ArrayRef<int64_t> perm = transpose.getPermutation();
    SmallVector<Value> at(index.size());
    for (auto [i, p] : llvm::enumerate(perm))
      at[p] = index[i];
    return this->element(b, transpose.getInput(), at);
  }
  if (auto reshape = dyn_cast<ReshapeOp>(op)) {
    RankedTensorType source = typeOf(reshape.getInput());
    auto groups = reshapeGroups(source, type);
    if (!groups)
      return failure();
    SmallVector<Value> at;
    for (auto [i, group] : llvm::enumerate(groups->groups)) {
      if (groups->collapse) {
        // Target index i delinearizes over the source group (inner dims
        // static).
        Value rest = index[i];
        SmallVector<Value> parts(group.size());
        for (int64_t k = group.size() - 1; k > 0; --k) {
          Value size = constantIndex(b, source.getDimSize(group[k]));
          parts[k] = arith::RemUIOp::create(b, loc_, rest, size);
          rest = arith::DivUIOp::create(b, loc_, rest, size);
        }
        parts[0] = rest;
        llvm::append_range(at, parts);
      } else {
        // Source index i linearizes the target group (inner dims static).
        Value linear = index[group.front()];
        for (int64_t g : llvm::drop_begin(group))
          linear = arith::AddIOp::create(
              b, loc_,
              arith::MulIOp::create(b, loc_, linear,
                                    constantIndex(b, type.getDimSize(g))),
              index[g]);
        at.push_back(linear);
      }
    }
    return this->element(b, reshape.getInput(), at);
  }
  if (auto embedding = dyn_cast<EmbeddingOp>(op)) {
    auto table = inputs_.find(embedding.getTable());
    if (table == inputs_.end())
      return failure();
    auto id = this->element(b, embedding.getIndices(), index.drop_back());
    if (failed(id))
      return failure();
    // Clamped into the table, as the unfused lowering does.
    Value row = arith::IndexCastOp::create(b, loc_, b.getIndexType(), *id);
    Value last = arith::SubIOp::create(
        b, loc_, tensor::DimOp::create(b, loc_, table->second, 0),
        constantIndex(b, 1));
    row = arith::MinSIOp::create(
        b, loc_, arith::MaxSIOp::create(b, loc_, row, constantIndex(b, 0)),
        last);
    return tensor::ExtractOp::create(b, loc_, table->second,
                                     ValueRange{row, index.back()})
        .getResult();
  }
  // Elementwise: the operands' elements at their broadcast indices.
  SmallVector<Value> scalars;
  for (Value operand : op->getOperands()) {
    auto value = this->element(b, operand,
                               broadcastIndex(b, index, type, typeOf(operand)));
    if (failed(value))
      return failure();
    scalars.push_back(*value);
  }
  return scalarOf(op, b, loc_, scalars);
}

} // namespace

LogicalResult lowerFusedOps(Operation *root) {
  SmallVector<FusedOp> fusedOps;
  root->walk([&](FusedOp op) { fusedOps.push_back(op); });
  for (FusedOp op : fusedOps) {
    OpBuilder b(op);
    Location loc = op.getLoc();
    FusedEmitter emitter(b, loc, op);
    auto yielded =
        cast<YieldOp>(op.getBody().front().getTerminator()).getValues();
    // One output per result, all over the first one's index space (the
    // verifier holds them to one shape).
    SmallVector<Value> inits;
    SmallVector<Type> types;
    for (Value v : yielded) {
      auto sizes = emitter.sizes(v);
      if (failed(sizes))
        return op.emitOpError("cannot derive the sizes of its results");
      auto type = cast<RankedTensorType>(v.getType());
      inits.push_back(
          tensor::EmptyOp::create(b, loc, *sizes, type.getElementType()));
      types.push_back(type);
    }
    emitter.materializeConstants(op);
    int64_t rank = cast<RankedTensorType>(types.front()).getRank();
    bool failedBody = false;
    auto generic = linalg::GenericOp::create(
        b, loc, types, ValueRange{}, inits,
        SmallVector<AffineMap>(types.size(), b.getMultiDimIdentityMap(rank)),
        SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
        [&](OpBuilder &nb, Location l, ValueRange) {
          SmallVector<Value> index;
          for (int64_t d = 0; d < rank; ++d)
            index.push_back(linalg::IndexOp::create(nb, l, d));
          SmallVector<Value> elements;
          for (Value v : yielded) {
            auto value = emitter.element(nb, v, index);
            if (failed(value)) {
              failedBody = true;
              value = scalarConstant(nb, l, getElementTypeOrSelf(v), 0);
            }
            elements.push_back(*value);
          }
          linalg::YieldOp::create(nb, l, elements);
        });
    if (failedBody)
      return op.emitOpError("holds an op the fused lowering cannot compute");
    op->replaceAllUsesWith(generic.getResults());
    op.erase();
  }
  return success();
}

} // namespace kiln::lowering
