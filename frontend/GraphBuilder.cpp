//===- GraphBuilder.cpp - building kiln IR for a model --------------------===//

#include "frontend/GraphBuilder.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlir/IR/Verifier.h"

using namespace mlir;

namespace kiln {

namespace {
std::string formatDims(llvm::ArrayRef<int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

/// The MLIR element type of a safetensors float dtype, or null.
Type floatTypeOf(MLIRContext &context, DType dtype) {
  switch (dtype) {
  case DType::F16:
    return Float16Type::get(&context);
  case DType::BF16:
    return BFloat16Type::get(&context);
  case DType::F32:
    return Float32Type::get(&context);
  case DType::F64:
    return Float64Type::get(&context);
  default:
    return nullptr;
  }
}
} // namespace

GraphBuilder::GraphBuilder(MLIRContext &context, const WeightStore &weights)
    : context_(context), weights_(weights),
      b_(UnknownLoc::get(&context), &context) {
  context.loadDialect<KilnDialect, func::FuncDialect>();
  module_ = ModuleOp::create(b_.getLoc());
}

void GraphBuilder::at(const std::string &scope) {
  if (scope.empty()) {
    b_.setLoc(UnknownLoc::get(&context_));
    return;
  }
  b_.setLoc(NameLoc::get(StringAttr::get(&context_, prefix_ + scope)));
}

std::optional<std::string>
GraphBuilder::resolveWeight(const std::string &name) const {
  if (!prefix_.empty() && weights_.contains(prefix_ + name))
    return prefix_ + name;
  if (weights_.contains(name))
    return name;
  return std::nullopt;
}

RankedTensorType GraphBuilder::f32(Shape shape) {
  return RankedTensorType::get(shape, b_.getF32Type());
}
RankedTensorType GraphBuilder::i64(Shape shape) {
  return RankedTensorType::get(shape, b_.getI64Type());
}

std::vector<Value>
GraphBuilder::beginFunction(StringRef name,
                            ArrayRef<std::pair<std::string, Type>> inputs) {
  SmallVector<Type> types;
  for (const auto &input : inputs)
    types.push_back(input.second);
  b_.setInsertionPointToEnd(module_->getBody());
  function_ = func::FuncOp::create(b_, name, b_.getFunctionType(types, {}));
  for (auto [i, input] : llvm::enumerate(inputs))
    function_.setArgAttr(i, "kiln.name", b_.getStringAttr(input.first));
  Block *entry = function_.addEntryBlock();
  b_.setInsertionPointToStart(entry);
  return std::vector<Value>(entry->args_begin(), entry->args_end());
}

void GraphBuilder::endFunction(
    ArrayRef<std::pair<std::string, Value>> outputs) {
  SmallVector<Value> values;
  SmallVector<Type> types;
  for (const auto &output : outputs) {
    values.push_back(output.second);
    types.push_back(output.second.getType());
  }
  func::ReturnOp::create(b_, values);
  function_.setType(b_.getFunctionType(function_.getArgumentTypes(), types));
  for (auto [i, output] : llvm::enumerate(outputs)) {
    function_.setResultAttr(i, "kiln.name", b_.getStringAttr(output.first));
    if (auto role = cacheResults_.find(output.second);
        role != cacheResults_.end())
      function_.setResultAttr(i, "kiln.role", b_.getStringAttr(role->second));
  }
  cacheResults_.clear();
}

void GraphBuilder::fail(const std::string &message) {
  if (status_.ok())
    status_ = absl::InvalidArgumentError(message);
}

absl::StatusOr<OwningOpRef<ModuleOp>> GraphBuilder::finish() {
  if (!status_.ok())
    return status_;
  std::string messages;
  ScopedDiagnosticHandler handler(&context_, [&](Diagnostic &d) {
    messages += d.str() + "\n";
    return success();
  });
  if (failed(verify(*module_)))
    return absl::InternalError(absl::StrCat(
        "the built graph does not verify (a Kiln bug):\n", messages));
  return std::move(module_);
}

Value GraphBuilder::paramAny(ArrayRef<std::string> names, Shape shape) {
  for (const std::string &name : names)
    if (hasWeight(name))
      return param(name, shape);
  return param(names.front(), shape);
}

Value GraphBuilder::param(const std::string &name, Shape shape) {
  if (planType_) {
    Value value = ParamOp::create(b_, RankedTensorType::get(shape, planType_),
                                  prefix_ + name);
    return cast(value, b_.getF32Type());
  }
  std::optional<std::string> resolved = resolveWeight(name);
  Type elementType = b_.getF32Type();
  if (!resolved) {
    fail(absl::StrCat("missing tensor '", prefix_.empty() ? "" : prefix_, name,
                      "'", prefix_.empty() ? "" : " (or without the prefix)",
                      " in ", weights_.source()));
  } else {
    const TensorView *view = *weights_.get(*resolved);
    Type stored = floatTypeOf(context_, view->dtype);
    if (!stored)
      fail(absl::StrCat("tensor '", *resolved, "' in ", view->file,
                        " has dtype ", dtypeName(view->dtype),
                        ", expected a floating-point type (F32, F16, BF16, "
                        "F64)"));
    else if (llvm::ArrayRef<int64_t>(view->shape) != shape)
      fail(absl::StrCat("tensor '", *resolved, "' in ", view->file,
                        " has shape ", formatDims(view->shape), ", expected ",
                        formatDims(shape)));
    else
      elementType = stored;
  }
  Value value = ParamOp::create(b_, RankedTensorType::get(shape, elementType),
                                resolved ? *resolved : name);
  return cast(value, b_.getF32Type());
}

Value GraphBuilder::scalar(double value, Type elementType) {
  if (!elementType)
    elementType = b_.getF32Type();
  auto type = RankedTensorType::get({}, elementType);
  Attribute attr = isa<FloatType>(elementType)
                       ? Attribute(b_.getFloatAttr(elementType, value))
                       : Attribute(b_.getIntegerAttr(
                             elementType, static_cast<int64_t>(value)));
  return ConstantOp::create(b_, DenseElementsAttr::get(type, attr));
}

Value GraphBuilder::iota(Value source, int64_t dim) {
  auto sourceType = llvm::cast<RankedTensorType>(source.getType());
  return IotaOp::create(b_, i64({sourceType.getDimSize(dim)}), source, dim);
}

Value GraphBuilder::add(Value a, Value b) { return AddOp::create(b_, a, b); }
Value GraphBuilder::sub(Value a, Value b) { return SubOp::create(b_, a, b); }
Value GraphBuilder::mul(Value a, Value b) { return MulOp::create(b_, a, b); }
Value GraphBuilder::div(Value a, Value b) { return DivOp::create(b_, a, b); }
Value GraphBuilder::tanh(Value x) { return TanhOp::create(b_, x); }
Value GraphBuilder::relu(Value x) { return ReluOp::create(b_, x); }
Value GraphBuilder::silu(Value x) { return SiluOp::create(b_, x); }
Value GraphBuilder::gelu(Value x, GeluApproximation approximation) {
  return GeluOp::create(b_, approximation, x);
}

Value GraphBuilder::cast(Value x, Type elementType) {
  auto type = llvm::cast<RankedTensorType>(x.getType());
  if (type.getElementType() == elementType)
    return x;
  return CastOp::create(b_, type.clone(elementType), x);
}

Value GraphBuilder::compare(ComparePredicate predicate, Value a, Value b) {
  return CompareOp::create(b_, predicate, a, b);
}
Value GraphBuilder::select(Value condition, Value onTrue, Value onFalse) {
  return SelectOp::create(b_, condition, onTrue, onFalse);
}

Value GraphBuilder::matmul(Value a, Value b, bool transposeA, bool transposeB) {
  return MatmulOp::create(b_, a, b, transposeA, transposeB);
}

Value GraphBuilder::linear(Value x, Value weight, Value bias,
                           WeightLayout layout, Activation activation,
                           Value residual) {
  return LinearOp::create(b_, x, weight, bias, residual, layout, activation);
}

Value GraphBuilder::layerNorm(Value x, Value scale, Value bias,
                              double epsilon) {
  return LayerNormOp::create(b_, x, scale, bias, b_.getF64FloatAttr(epsilon));
}

Value GraphBuilder::rmsNorm(Value x, Value scale, double epsilon) {
  return RmsNormOp::create(b_, x, scale, b_.getF64FloatAttr(epsilon));
}

Value GraphBuilder::softmax(Value x, int64_t dim) {
  return SoftmaxOp::create(b_, x, dim);
}

Value GraphBuilder::embedding(Value table, Value ids) {
  return EmbeddingOp::create(b_, table, ids);
}

Value GraphBuilder::reshape(Value x, Shape shape) {
  auto type = llvm::cast<RankedTensorType>(x.getType());
  return ReshapeOp::create(
      b_, RankedTensorType::get(shape, type.getElementType()), x);
}

Value GraphBuilder::transpose(Value x, ArrayRef<int64_t> permutation) {
  return TransposeOp::create(b_, x, permutation);
}

Value GraphBuilder::slice(Value x, int64_t dim, int64_t start, int64_t end,
                          int64_t step) {
  return SliceOp::create(b_, x, dim, start, end, step);
}

GraphBuilder::AttentionResult
GraphBuilder::attention(Value q, Value k, Value v,
                        const AttentionOptions &options) {
  FloatAttr scale =
      options.scale ? b_.getF64FloatAttr(*options.scale) : FloatAttr();
  auto op = AttentionOp::create(
      b_, q, k, v, options.keyMask, options.bias, options.kCache,
      options.vCache, options.positions, b_.getI64IntegerAttr(options.numHeads),
      b_.getI64IntegerAttr(options.numKvHeads),
      MaskKindAttr::get(&context_, options.mask), scale);
  AttentionResult result;
  result.output = op.getResult();
  if (op.hasCache()) {
    result.kCache = op.getUpdatedCaches()[0];
    result.vCache = op.getUpdatedCaches()[1];
    // The caches the function takes and returns are the executor's to keep
    // between calls: marked here, where attention reads and updates them.
    for (auto [cache, updated, role] :
         {std::tuple{options.kCache, result.kCache, "key_cache"},
          std::tuple{options.vCache, result.vCache, "value_cache"}}) {
      if (auto arg = dyn_cast<BlockArgument>(cache);
          arg && arg.getOwner()->getParentOp() == function_)
        function_.setArgAttr(arg.getArgNumber(), "kiln.role",
                             b_.getStringAttr(role));
      cacheResults_[updated] = role;
    }
  }
  return result;
}

Value GraphBuilder::rotary(Value x, Value positions, int64_t numHeads,
                           double theta, RopeLlama3ScalingAttr scaling) {
  return RotaryOp::create(b_, x, positions, b_.getI64IntegerAttr(numHeads),
                          b_.getF64FloatAttr(theta), scaling);
}

Value GraphBuilder::relativePositionBias(Value table, Value queryPositions,
                                         Value keyPositions, bool bidirectional,
                                         int64_t numBuckets,
                                         int64_t maxDistance) {
  return RelativePositionBiasOp::create(b_, table, queryPositions, keyPositions,
                                        bidirectional, numBuckets, maxDistance);
}

} // namespace kiln
