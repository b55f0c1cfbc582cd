//===- MixedPrecision.cpp - activations in bf16/f16 with an f32 policy ----===//
//
// See KilnMixedPrecision in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"

namespace kiln {
#define GEN_PASS_DEF_KILNMIXEDPRECISION
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

/// The policy's name for a library op kind (what `keep-f32` lists).
StringRef libraryKind(Operation *op) {
  return llvm::TypeSwitch<Operation *, StringRef>(op)
      .Case([](LinearOp) { return "linear"; })
      .Case([](MatmulOp) { return "matmul"; })
      .Case([](AttentionOp) { return "attention"; })
      .Case([](LayerNormOp) { return "layer_norm"; })
      .Case([](RmsNormOp) { return "rms_norm"; })
      .Default([](Operation *) { return ""; });
}

/// Ops that only move elements: they compute nothing, so they keep the
/// type they are given (a bf16 slice stays bf16).
bool movesData(Operation *op) {
  return isa<ReshapeOp, TransposeOp, SliceOp, ConcatOp, EmbeddingOp>(op);
}

bool isF32Tensor(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && type.getElementType().isF32();
}

bool isCache(func::FuncOp fn, unsigned index, bool result) {
  auto role = result ? fn.getResultAttrOfType<StringAttr>(index, "kiln.role")
                     : fn.getArgAttrOfType<StringAttr>(index, "kiln.role");
  return role &&
         (role.getValue() == "key_cache" || role.getValue() == "value_cache");
}

struct KilnMixedPrecisionPass
    : public impl::KilnMixedPrecisionBase<KilnMixedPrecisionPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *context = &getContext();
    if (precision == "bf16") {
      low_ = BFloat16Type::get(context);
    } else if (precision == "f16" || precision == "fp16") {
      low_ = Float16Type::get(context);
    } else {
      getOperation()->emitError()
          << "kiln-mixed-precision: precision must be bf16 or f16, got '"
          << precision << "'";
      return signalPassFailure();
    }
    for (const std::string &kind : keepF32) {
      if (!llvm::is_contained(
              {"linear", "matmul", "attention", "layer_norm", "rms_norm"},
              kind)) {
        getOperation()->emitError()
            << "kiln-mixed-precision: keep-f32 lists library op kinds "
               "(linear, matmul, attention, layer_norm, rms_norm), got '"
            << kind << "'";
        return signalPassFailure();
      }
      kept_.insert(kind);
    }
    findLowWeights();
    getOperation().walk([&](func::FuncOp fn) {
      if (!fn.isExternal() && !fn->hasAttr("kiln.kernel"))
        rewrite(fn);
    });
    getOperation().walk([](Operation *op) { op->removeAttr("kiln.max_abs"); });
  }

private:
  /// Whether `op` is a library op the policy runs in the low type.
  bool runsLow(Operation *op) {
    StringRef kind = libraryKind(op);
    return !kind.empty() && !kept_.contains(kind) && !outOfRange(op);
  }

  /// Whether `op` reads or writes a value whose recorded magnitude passes
  /// the range limit.
  bool outOfRange(Operation *op) {
    if (rangeLimit <= 0)
      return false;
    auto above = [&](Value v) {
      Operation *def = v.getDefiningOp();
      if (!def)
        return false;
      auto ranges = def->getAttrOfType<DenseF64ArrayAttr>("kiln.max_abs");
      unsigned index = cast<OpResult>(v).getResultNumber();
      return ranges && index < ranges.size() && ranges[index] > rangeLimit;
    };
    return llvm::any_of(op->getOperands(), above) ||
           llvm::any_of(op->getResults(), above);
  }

  /// Whether `op`'s results reach only the entry's outputs, directly or
  /// through the gather and slice of a vocabulary-parallel head.
  static bool onlyOutput(Operation *op) {
    return !op->use_empty() &&
           llvm::all_of(op->getUsers(), [](Operation *user) {
             return isa<func::ReturnOp>(user) ||
                    (isa<AllGatherOp, SliceOp>(user) && onlyOutput(user));
           });
  }

  /// A weight is stored in the low type when every use, in every entry, is
  /// a low library op or an embedding's table: it is then converted once,
  /// at compile time, instead of cast on every call. Other weights (norm
  /// scales read by elementwise code, T5's bias table) stay f32.
  void findLowWeights() {
    llvm::StringMap<bool> lowOnly;
    getOperation().walk([&](ParamOp param) {
      if (!isF32Tensor(param.getResult()))
        return;
      bool low = llvm::all_of(param->getUses(), [&](OpOperand &use) {
        Operation *user = use.getOwner();
        if (auto embedding = dyn_cast<EmbeddingOp>(user))
          return use.get() == embedding.getTable();
        return runsLow(user);
      });
      auto [it, inserted] = lowOnly.try_emplace(param.getName(), low);
      if (!inserted)
        it->second = it->second && low;
    });
    for (const auto &entry : lowOnly)
      if (entry.second)
        lowWeights_.insert(entry.first());
  }

  RankedTensorType withElement(Type type, Type element) {
    return cast<RankedTensorType>(type).clone(element);
  }
  bool isLow(Value v) {
    auto type = dyn_cast<RankedTensorType>(v.getType());
    return type && type.getElementType() == low_;
  }

  /// `v` as the low type (one cast per value, right after its definition).
  Value toLow(Value v) { return convert(v, low_, lowOf_); }
  /// `v` as f32.
  Value toF32(Value v) {
    return convert(v, Float32Type::get(&getContext()), f32Of_);
  }
  Value convert(Value v, Type element, DenseMap<Value, Value> &cache) {
    auto type = cast<RankedTensorType>(v.getType());
    if (type.getElementType() == element)
      return v;
    if (Value done = cache.lookup(v))
      return done;
    OpBuilder b(&getContext());
    if (Operation *def = v.getDefiningOp())
      b.setInsertionPointAfter(def);
    else
      b.setInsertionPointToStart(cast<BlockArgument>(v).getOwner());
    Value cast = CastOp::create(b, v.getLoc(), type.clone(element), v);
    cache[v] = cast;
    return cast;
  }

  void rewrite(func::FuncOp fn) {
    lowOf_.clear();
    f32Of_.clear();
    Block &body = fn.getBody().front();
    // The kv caches are state the attention steps update in place: stored
    // in the low type when attention runs in it.
    const bool lowCaches = !kept_.contains("attention");
    for (BlockArgument arg : body.getArguments())
      if (lowCaches && isCache(fn, arg.getArgNumber(), /*result=*/false) &&
          isF32Tensor(arg))
        arg.setType(withElement(arg.getType(), low_));

    for (Operation &op : llvm::make_early_inc_range(body)) {
      if (auto param = dyn_cast<ParamOp>(op)) {
        if (lowWeights_.contains(param.getName()) &&
            isF32Tensor(param.getResult()))
          param.getResult().setType(
              withElement(param.getResult().getType(), low_));
        continue;
      }
      if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        for (OpOperand &operand : ret->getOpOperands()) {
          Value v = operand.get();
          bool cache = isCache(fn, operand.getOperandNumber(), /*result=*/true);
          if (cache && lowCaches && isF32Tensor(v))
            operand.set(toLow(v));
          else if (!cache && isLow(v))
            operand.set(toF32(v)); // outputs stay f32
        }
        continue;
      }
      if (runsLow(&op)) {
        Value keyMask;
        if (auto attention = dyn_cast<AttentionOp>(op))
          keyMask = attention.getKeyMask();
        for (OpOperand &operand : op.getOpOperands())
          if (operand.get() != keyMask && isF32Tensor(operand.get()))
            operand.set(toLow(operand.get()));
        // A linear whose result is only an entry's output (logits, maybe
        // gathered from vocabulary-parallel parts) stores its f32
        // accumulation unrounded instead of narrowing then widening.
        if (auto linear = dyn_cast<LinearOp>(op);
            linear && !linear.getResidual() && onlyOutput(linear))
          continue;
        for (OpResult result : op.getResults())
          if (isF32Tensor(result))
            result.setType(withElement(result.getType(), low_));
        continue;
      }
      if (movesData(&op)) {
        // Low when every float element it moves is low; otherwise f32.
        bool allLow = true, anyLow = false;
        for (Value v : op.getOperands()) {
          auto type = dyn_cast<RankedTensorType>(v.getType());
          if (!type || !isa<FloatType>(type.getElementType()))
            continue;
          allLow = allLow && isLow(v);
          anyLow = anyLow || isLow(v);
        }
        if (anyLow && allLow) {
          for (OpResult result : op.getResults())
            if (isF32Tensor(result))
              result.setType(withElement(result.getType(), low_));
          continue;
        }
      }
      // A cast already says its types (one this pass made, on a second
      // run). Everything else computes in f32: low operands are widened.
      if (isa<CastOp>(op))
        continue;
      for (OpOperand &operand : op.getOpOperands())
        if (isLow(operand.get()))
          operand.set(toF32(operand.get()));
    }
    fn.setType(FunctionType::get(&getContext(), body.getArgumentTypes(),
                                 body.getTerminator()->getOperandTypes()));
  }

  Type low_;
  llvm::StringSet<> kept_, lowWeights_;
  DenseMap<Value, Value> lowOf_, f32Of_;
};

} // namespace
} // namespace kiln
