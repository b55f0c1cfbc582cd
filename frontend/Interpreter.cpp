//===- Interpreter.cpp - the reference interpreter of kiln IR -------------===//
//
// One evaluation function per op. Shapes are concrete here: every dynamic
// dim of a result is computed from the operands' concrete shapes with the
// same rules the op's verifier applies to static ones, and a mismatch that
// only shows at run time is an error naming the op.
//
//===----------------------------------------------------------------------===//

#include "frontend/Interpreter.h"

#include "dialects/kiln/KilnOps.h"
#include "support/Half.h"
#include "support/Quantize.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

using namespace mlir;

namespace kiln {

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

HostTensor HostTensor::zeros(std::vector<int64_t> shape, Type elementType) {
  HostTensor t;
  t.shape = std::move(shape);
  t.elementType = elementType;
  t.values.assign(t.numElements(), 0.0);
  return t;
}

Interpreter::Interpreter(const WeightStore &weights,
                         InterpreterPrecision precision)
    : weights_(weights), precision_(precision) {}

namespace {

using Tensor = HostTensor;
using TensorPtr = std::shared_ptr<const HostTensor>;
using Shape = std::vector<int64_t>;

std::string formatShape(const Shape &shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

std::string locationOf(Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  op->getLoc().print(os);
  return text;
}

int64_t product(llvm::ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

std::vector<int64_t> stridesOf(const Shape &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/// The lowest finite value of a float type.
double lowestOf(Type type) {
  auto floatType = cast<FloatType>(type);
  return APFloat::getLargest(floatType.getFloatSemantics(), /*Negative=*/true)
      .convertToDouble();
}

} // namespace

/// Evaluates the ops of one function call.
class OpEvaluator {
public:
  OpEvaluator(Interpreter &interpreter) : in_(interpreter) {}

  absl::StatusOr<std::vector<Tensor>> run(func::FuncOp function,
                                          const std::vector<Tensor> &args);

private:
  Interpreter &in_;
  llvm::DenseMap<Value, TensorPtr> values_;
  Operation *current_ = nullptr;

  absl::Status error(const std::string &message) {
    return absl::InvalidArgumentError(
        absl::StrCat(locationOf(current_), ": '",
                     current_->getName().getStringRef().str(), "': ", message));
  }
  const Tensor &get(Value v) { return *values_.lookup(v); }
  /// Rounds to the element type of `result` and binds it.
  void set(Value result, Tensor t);
  double round(Type type, double value) const;

  absl::Status eval(Operation *op);
  absl::Status evalParam(ParamOp op);
  absl::Status evalFused(FusedOp op);
  absl::Status evalConstant(ConstantOp op);
  absl::Status evalBinary(Operation *op, double (*fn)(double, double));
  absl::Status evalCompare(CompareOp op);
  absl::Status evalSelect(SelectOp op);
  absl::Status evalUnary(Operation *op, double (*fn)(double));
  absl::Status evalMatmul(MatmulOp op);
  absl::Status evalLinear(LinearOp op);
  absl::Status evalSoftmax(SoftmaxOp op);
  absl::Status evalNorm(Operation *op, Value input, Value scale, Value bias,
                        double epsilon, bool rms);
  absl::Status evalReduce(ReduceOp op);
  absl::Status evalEmbedding(EmbeddingOp op);
  absl::Status evalReshape(ReshapeOp op);
  absl::Status evalTranspose(TransposeOp op);
  absl::Status evalConcat(ConcatOp op);
  absl::Status evalSlice(SliceOp op);
  absl::Status evalIota(IotaOp op);
  absl::Status evalCausalMask(CausalMaskOp op);
  absl::StatusOr<Tensor> cacheWrite(const Tensor &cache,
                                    const Tensor &positions,
                                    const Tensor &update);
  absl::Status evalAttention(AttentionOp op);
  absl::Status evalRotary(RotaryOp op);
  absl::Status evalRelativePositionBias(RelativePositionBiasOp op);

  /// Broadcasts two shapes NumPy-style or fails.
  absl::StatusOr<Shape> broadcast(const Shape &a, const Shape &b);
  /// Linear index into a tensor of shape `from` for each element of `to`
  /// (trailing-aligned, size-1 dims repeated).
  static std::vector<int64_t> broadcastIndex(const Shape &from,
                                             const Shape &to);
};

double OpEvaluator::round(Type type, double value) const {
  if (type.isF32())
    return in_.precision_ == InterpreterPrecision::F32
               ? static_cast<double>(static_cast<float>(value))
               : value;
  if (type.isBF16())
    return roundToBf16(value);
  if (type.isF16())
    return roundToHalf(value);
  if (type.isInteger(1))
    return value != 0 ? 1 : 0;
  // A float -> int cast of NaN, an infinity or an out-of-range value is
  // unspecified (kiln.cast); the interpreter keeps the non-finite value as
  // its marker instead of converting it, which C++ leaves undefined.
  if ((!std::isfinite(value) || std::fabs(value) >= 9.2e18) &&
      (type.isInteger(32) || type.isInteger(64)))
    return value;
  if (type.isInteger(32))
    return static_cast<double>(
        static_cast<int32_t>(static_cast<int64_t>(std::trunc(value))));
  if (type.isInteger(64))
    return std::trunc(value);
  return value;
}

void OpEvaluator::set(Value result, Tensor t) {
  t.elementType = cast<RankedTensorType>(result.getType()).getElementType();
  if (!t.elementType.isF64() &&
      !(t.elementType.isF32() && in_.precision_ == InterpreterPrecision::F64))
    for (double &v : t.values)
      v = round(t.elementType, v);
  values_[result] = std::make_shared<const Tensor>(std::move(t));
}

absl::StatusOr<Shape> OpEvaluator::broadcast(const Shape &a, const Shape &b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return error(absl::StrCat("shapes ", formatShape(a), " and ",
                                formatShape(b), " do not broadcast"));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> OpEvaluator::broadcastIndex(const Shape &from,
                                                 const Shape &to) {
  size_t rank = to.size(), offset = rank - from.size();
  std::vector<int64_t> fromStrides = stridesOf(from);
  std::vector<int64_t> strides(rank, 0);
  for (size_t i = offset; i < rank; ++i)
    strides[i] = from[i - offset] == 1 ? 0 : fromStrides[i - offset];
  int64_t n = product(to);
  std::vector<int64_t> index(n);
  std::vector<int64_t> counter(rank, 0);
  int64_t linear = 0;
  for (int64_t e = 0; e < n; ++e) {
    index[e] = linear;
    for (int64_t d = static_cast<int64_t>(rank) - 1; d >= 0; --d) {
      linear += strides[d];
      if (++counter[d] < to[d])
        break;
      linear -= strides[d] * to[d];
      counter[d] = 0;
    }
  }
  return index;
}

absl::StatusOr<std::vector<Tensor>>
OpEvaluator::run(func::FuncOp function, const std::vector<Tensor> &args) {
  if (args.size() != function.getNumArguments())
    return absl::InvalidArgumentError(absl::StrCat(
        "@", function.getName().str(), " takes ", function.getNumArguments(),
        " arguments, got ", args.size()));
  for (auto [i, arg] : llvm::enumerate(function.getArguments())) {
    auto type = cast<RankedTensorType>(arg.getType());
    const Tensor &t = args[i];
    bool fits = static_cast<int64_t>(t.shape.size()) == type.getRank() &&
                static_cast<int64_t>(t.values.size()) == t.numElements();
    for (int64_t d = 0; fits && d < type.getRank(); ++d)
      fits = type.isDynamicDim(d) || type.getDimSize(d) == t.shape[d];
    if (!fits)
      return absl::InvalidArgumentError(absl::StrCat(
          "@", function.getName().str(), " argument ", i, " has shape ",
          formatShape(t.shape), ", which does not fit its type"));
    Tensor copy = t;
    copy.elementType = type.getElementType();
    values_[arg] = std::make_shared<const Tensor>(std::move(copy));
  }
  for (Operation &op : function.getBody().front()) {
    current_ = &op;
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      std::vector<Tensor> results;
      for (Value v : ret.getOperands())
        results.push_back(get(v));
      return results;
    }
    if (absl::Status s = eval(&op); !s.ok())
      return s;
    if (in_.observer_)
      if (absl::Status s = in_.observer_(
              &op, [&](Value v) -> const Tensor & { return get(v); });
          !s.ok())
        return s;
  }
  return absl::InternalError("function without a return");
}

/// The body's ops in order, on the inputs: fusion changes how a kernel
/// computes the ops, not what they compute.
absl::Status OpEvaluator::evalFused(FusedOp op) {
  Block &body = op.getBody().front();
  for (auto [input, arg] : llvm::zip(op.getInputs(), body.getArguments()))
    values_[arg] = values_.lookup(input);
  for (Operation &inner : body.without_terminator())
    if (absl::Status s = eval(&inner); !s.ok())
      return s;
  for (auto [result, value] : llvm::zip(
           op.getResults(), cast<YieldOp>(body.getTerminator()).getValues()))
    values_[result] = values_.lookup(value);
  return absl::OkStatus();
}

absl::Status OpEvaluator::eval(Operation *op) {
  using Fn1 = double (*)(double);
  using Fn2 = double (*)(double, double);
  return llvm::TypeSwitch<Operation *, absl::Status>(op)
      .Case([&](ParamOp o) { return evalParam(o); })
      .Case([&](FusedOp o) { return evalFused(o); })
      .Case([&](ConstantOp o) { return evalConstant(o); })
      .Case([&](IotaOp o) { return evalIota(o); })
      .Case([&](AddOp) {
        return evalBinary(op, +[](double a, double b) { return a + b; });
      })
      .Case([&](SubOp) {
        return evalBinary(op, +[](double a, double b) { return a - b; });
      })
      .Case([&](MulOp) {
        return evalBinary(op, +[](double a, double b) { return a * b; });
      })
      .Case([&](DivOp o) {
        Fn2 fn = isa<FloatType>(getElementTypeOrSelf(o.getType()))
                     ? +[](double a, double b) { return a / b; }
                     : +[](double a, double b) {
                         return b == 0 ? 0.0 : std::trunc(a / b);
                       };
        return evalBinary(op, fn);
      })
      .Case([&](MaxOp) {
        return evalBinary(
            op, +[](double a, double b) {
              return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
            });
      })
      .Case([&](MinOp) {
        return evalBinary(
            op, +[](double a, double b) {
              return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
            });
      })
      .Case([&](CompareOp o) { return evalCompare(o); })
      .Case([&](SelectOp o) { return evalSelect(o); })
      .Case([&](NegOp) { return evalUnary(op, +[](double x) { return -x; }); })
      .Case([&](AbsOp) { return evalUnary(op, Fn1(std::fabs)); })
      .Case([&](ExpOp) { return evalUnary(op, Fn1(std::exp)); })
      .Case([&](LogOp) { return evalUnary(op, Fn1(std::log)); })
      .Case([&](SqrtOp) { return evalUnary(op, Fn1(std::sqrt)); })
      .Case([&](RsqrtOp) {
        return evalUnary(op, +[](double x) { return 1.0 / std::sqrt(x); });
      })
      .Case([&](TanhOp) { return evalUnary(op, Fn1(std::tanh)); })
      .Case([&](SinOp) { return evalUnary(op, Fn1(std::sin)); })
      .Case([&](CosOp) { return evalUnary(op, Fn1(std::cos)); })
      .Case([&](ReluOp) {
        return evalUnary(op, +[](double x) { return x > 0 ? x : 0.0; });
      })
      .Case([&](SiluOp) {
        return evalUnary(
            op, +[](double x) { return x / (1.0 + std::exp(-x)); });
      })
      .Case([&](GeluOp o) {
        Fn1 fn = o.getApproximation() == GeluApproximation::Erf
                     ? +[](double x) {
                         return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
                       }
                     : +[](double x) {
                         const double c = std::sqrt(2.0 / M_PI);
                         return 0.5 * x *
                                (1.0 + std::tanh(c * (x + 0.044715 * x * x * x)));
                       };
        return evalUnary(op, fn);
      })
      .Case([&](CastOp) {
        // Rounding to the result type happens in set(); float -> int
        // truncates there too.
        return evalUnary(op, +[](double x) { return x; });
      })
      .Case([&](MatmulOp o) { return evalMatmul(o); })
      .Case([&](LinearOp o) { return evalLinear(o); })
      .Case([&](SoftmaxOp o) { return evalSoftmax(o); })
      .Case([&](LayerNormOp o) {
        return evalNorm(op, o.getInput(), o.getScale(), o.getBias(),
                        o.getEpsilon().convertToDouble(), /*rms=*/false);
      })
      .Case([&](RmsNormOp o) {
        return evalNorm(op, o.getInput(), o.getScale(), nullptr,
                        o.getEpsilon().convertToDouble(), /*rms=*/true);
      })
      .Case([&](ReduceOp o) { return evalReduce(o); })
      .Case([&](EmbeddingOp o) { return evalEmbedding(o); })
      .Case([&](ReshapeOp o) { return evalReshape(o); })
      .Case([&](TransposeOp o) { return evalTranspose(o); })
      .Case([&](ConcatOp o) { return evalConcat(o); })
      .Case([&](SliceOp o) { return evalSlice(o); })
      .Case([&](CausalMaskOp o) { return evalCausalMask(o); })
      .Case([&](CacheWriteOp o) -> absl::Status {
        auto result = cacheWrite(get(o.getCache()), get(o.getPositions()),
                                 get(o.getUpdate()));
        if (!result.ok())
          return result.status();
        set(o.getResult(), std::move(*result));
        return absl::OkStatus();
      })
      .Case([&](AttentionOp o) { return evalAttention(o); })
      .Case<AllReduceOp, AllGatherOp>([&](Operation *o) -> absl::Status {
        if (!in_.collectiveHandler_)
          return error("a collective of a partitioned module: run its "
                       "ranks together (kiln-interpret --tp)");
        auto result = in_.collectiveHandler_(o, get(o->getOperand(0)));
        if (!result.ok())
          return result.status();
        set(o->getResult(0), std::move(*result));
        return absl::OkStatus();
      })
      // Pipeline stages simulated in one program: the receiving stage
      // reads the value where the sending one left it.
      .Case([&](SendRecvOp o) -> absl::Status {
        Tensor value = get(o.getInput());
        set(o.getResult(), std::move(value));
        return absl::OkStatus();
      })
      .Case([&](RotaryOp o) { return evalRotary(o); })
      .Case(
          [&](RelativePositionBiasOp o) { return evalRelativePositionBias(o); })
      .Case([&](func::CallOp call) -> absl::Status {
        std::vector<Tensor> args;
        for (Value v : call.getOperands())
          args.push_back(get(v));
        absl::StatusOr<std::vector<Tensor>> results;
        if (in_.callHandler_) {
          results = in_.callHandler_(call, args);
        } else {
          auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
              call, call.getCalleeAttr());
          if (!callee)
            return error("unknown callee");
          results = OpEvaluator(in_).run(callee, args);
        }
        if (!results.ok())
          return results.status();
        for (auto [value, tensor] : llvm::zip(call.getResults(), *results))
          set(value, std::move(tensor));
        return absl::OkStatus();
      })
      .Default([&](Operation *) {
        return error("the interpreter does not implement this op");
      });
}

//===----------------------------------------------------------------------===//
// Leaves
//===----------------------------------------------------------------------===//

/// A quantized weight's value: each element replaced by what the stored
/// integers and scales give back (support/Quantize.h), with `smooth` the
/// W8A8 factors of its input features (empty for none).
static absl::Status fakeQuantize(QuantAttr quant,
                                 const std::vector<float> &smooth, Tensor &t) {
  const int axis = static_cast<int>(quant.getAxis());
  auto format =
      makeQuantFormat(static_cast<int>(quant.getBits()), t.shape[axis],
                      t.shape[1 - axis], quant.getGroup());
  if (!format.ok())
    return format.status();
  t.values = quantizedValues(*format, t.values, axis,
                             smooth.empty() ? nullptr : smooth.data());
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalParam(ParamOp op) {
  std::string name = op.getName().str();
  auto &cached = in_.params_[storedWeightKey(op)]; // one rank's parts
  if (!cached) {
    auto type = cast<RankedTensorType>(op.getType());
    Tensor t;
    t.shape = Shape(type.getShape());
    t.elementType = type.getElementType();
    // A merged weight is its parts one after another along dim 0.
    std::vector<std::string> sources = {name};
    if (auto parts = op.getParts())
      sources.assign(parts->getAsValueRange<StringAttr>().begin(),
                     parts->getAsValueRange<StringAttr>().end());
    int64_t rows = 0;
    KeepAttr keep = op.getKeepAttr();
    for (const std::string &source : sources) {
      auto view = in_.weights_.get(source);
      if (!view.ok())
        return error(std::string(view.status().message()));
      Shape shape = (*view)->shape;
      std::vector<double> values = (*view)->toDouble();
      if (keep) {
        const int64_t axis = keep.getAxis();
        std::vector<int64_t> indices(keep.getIndices());
        if (axis >= static_cast<int64_t>(shape.size()) ||
            indices.back() >= shape[axis])
          return error(absl::StrCat("tensor '", source, "' has shape ",
                                    formatShape(shape),
                                    ": the kept slices do not fit it"));
        values = keepSlices(values.data(), shape, axis, indices);
        shape[axis] = static_cast<int64_t>(indices.size());
      }
      // A sharded weight is this rank's part of the (kept) tensor.
      ShardAttr shard = op.getShardAttr();
      Shape whole = shape;
      if (shard) {
        const int64_t axis = shard.getAxis();
        if (axis >= static_cast<int64_t>(shape.size()) ||
            (shape[axis] + shard.getPad()) %
                    (shard.getSections() * shard.getParts()) !=
                0)
          return error(absl::StrCat("tensor '", source, "' has shape ",
                                    formatShape(shape),
                                    ": its shard does not divide it"));
        shape[axis] = (shape[axis] + shard.getPad()) / shard.getParts();
      }
      Shape expected(type.getShape());
      if (!shape.empty() && !expected.empty() && sources.size() > 1)
        expected[0] = shape[0];
      if (shape != expected)
        return error(absl::StrCat("tensor '", source, "' has shape ",
                                  formatShape(shape), ", the IR says ",
                                  formatShape(expected)));
      if (PruneAttr prune = op.getPruneAttr())
        applyPrune(pruneSpecOf(prune), values.data(), whole[0], whole[1]);
      if (shard) {
        const int64_t axis = shard.getAxis();
        SmallVector<int64_t> part = shard.indicesFor(in_.rank_, whole[axis]);
        values = keepSlices(values.data(), whole, axis,
                            std::vector<int64_t>(part.begin(), part.end()));
      }
      t.values.insert(t.values.end(), values.begin(), values.end());
      rows += shape.empty() ? 1 : shape[0];
    }
    if (sources.size() > 1 && rows != type.getDimSize(0))
      return error(absl::StrCat("the parts of '", name, "' have ", rows,
                                " rows, the IR says ", type.getDimSize(0)));
    if (QuantAttr quant = op.getQuantAttr())
      if (absl::Status s =
              fakeQuantize(quant, rankSmoothFactors(op, in_.rank_), t);
          !s.ok())
        return error(std::string(s.message()));
    cached = std::make_shared<const Tensor>(std::move(t));
  }
  values_[op.getResult()] = cached;
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalConstant(ConstantOp op) {
  auto attr = dyn_cast<DenseElementsAttr>(op.getValue());
  if (!attr)
    return error("only dense constants are supported");
  Tensor t;
  auto type = cast<RankedTensorType>(attr.getType());
  t.shape = Shape(type.getShape());
  if (isa<FloatType>(type.getElementType())) {
    for (const APFloat &v : attr.getValues<APFloat>())
      t.values.push_back(v.convertToDouble());
  } else {
    bool isBool = type.getElementType().isInteger(1);
    for (const APInt &v : attr.getValues<APInt>())
      t.values.push_back(isBool ? static_cast<double>(v.getBoolValue())
                                : static_cast<double>(v.getSExtValue()));
  }
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalIota(IotaOp op) {
  const Tensor &source = get(op.getSource());
  Tensor t;
  int64_t n = source.shape[op.getDim()];
  t.shape = {n};
  for (int64_t i = 0; i < n; ++i)
    t.values.push_back(static_cast<double>(i));
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

absl::Status OpEvaluator::evalBinary(Operation *op,
                                     double (*fn)(double, double)) {
  const Tensor &a = get(op->getOperand(0));
  const Tensor &b = get(op->getOperand(1));
  auto shape = broadcast(a.shape, b.shape);
  if (!shape.ok())
    return shape.status();
  Tensor t;
  t.shape = *shape;
  int64_t n = product(t.shape);
  t.values.resize(n);
  if (a.shape == t.shape && b.shape == t.shape) {
    for (int64_t i = 0; i < n; ++i)
      t.values[i] = fn(a.values[i], b.values[i]);
  } else {
    std::vector<int64_t> ia = broadcastIndex(a.shape, t.shape);
    std::vector<int64_t> ib = broadcastIndex(b.shape, t.shape);
    for (int64_t i = 0; i < n; ++i)
      t.values[i] = fn(a.values[ia[i]], b.values[ib[i]]);
  }
  set(op->getResult(0), std::move(t));
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalCompare(CompareOp op) {
  double (*fn)(double, double) = nullptr;
  switch (op.getPredicate()) {
  case ComparePredicate::EQ:
    fn = +[](double a, double b) { return double(a == b); };
    break;
  case ComparePredicate::NE:
    fn = +[](double a, double b) { return double(a != b); };
    break;
  case ComparePredicate::LT:
    fn = +[](double a, double b) { return double(a < b); };
    break;
  case ComparePredicate::LE:
    fn = +[](double a, double b) { return double(a <= b); };
    break;
  case ComparePredicate::GT:
    fn = +[](double a, double b) { return double(a > b); };
    break;
  case ComparePredicate::GE:
    fn = +[](double a, double b) { return double(a >= b); };
    break;
  }
  return evalBinary(op, fn);
}

absl::Status OpEvaluator::evalSelect(SelectOp op) {
  const Tensor &c = get(op.getCondition());
  const Tensor &a = get(op.getOnTrue());
  const Tensor &b = get(op.getOnFalse());
  auto values = broadcast(a.shape, b.shape);
  if (!values.ok())
    return values.status();
  auto shape = broadcast(c.shape, *values);
  if (!shape.ok())
    return shape.status();
  Tensor t;
  t.shape = *shape;
  std::vector<int64_t> ic = broadcastIndex(c.shape, t.shape);
  std::vector<int64_t> ia = broadcastIndex(a.shape, t.shape);
  std::vector<int64_t> ib = broadcastIndex(b.shape, t.shape);
  t.values.resize(ic.size());
  for (size_t i = 0; i < ic.size(); ++i)
    t.values[i] = c.values[ic[i]] != 0 ? a.values[ia[i]] : b.values[ib[i]];
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalUnary(Operation *op, double (*fn)(double)) {
  const Tensor &x = get(op->getOperand(0));
  Tensor t;
  t.shape = x.shape;
  t.values.resize(x.values.size());
  for (size_t i = 0; i < x.values.size(); ++i)
    t.values[i] = fn(x.values[i]);
  set(op->getResult(0), std::move(t));
  return absl::OkStatus();
}

//===----------------------------------------------------------------------===//
// Contractions and normalizations
//===----------------------------------------------------------------------===//

absl::Status OpEvaluator::evalMatmul(MatmulOp op) {
  const Tensor &a = get(op.getLhs());
  const Tensor &b = get(op.getRhs());
  size_t ra = a.shape.size(), rb = b.shape.size();
  bool ta = op.getTransposeLhs(), tb = op.getTransposeRhs();
  int64_t m = a.shape[ta ? ra - 1 : ra - 2], k = a.shape[ta ? ra - 2 : ra - 1];
  int64_t kb = b.shape[tb ? rb - 1 : rb - 2], n = b.shape[tb ? rb - 2 : rb - 1];
  if (k != kb)
    return error(absl::StrCat("contraction dims differ: ", formatShape(a.shape),
                              " and ", formatShape(b.shape)));
  Shape batch(a.shape.begin(), a.shape.end() - 2);
  if (rb == ra && Shape(b.shape.begin(), b.shape.end() - 2) != batch)
    return error(absl::StrCat("batch dims differ: ", formatShape(a.shape),
                              " and ", formatShape(b.shape)));
  int64_t batches = product(batch);
  Tensor t;
  t.shape = batch;
  t.shape.push_back(m);
  t.shape.push_back(n);
  t.values.assign(batches * m * n, 0.0);
  for (int64_t i = 0; i < batches; ++i) {
    const double *pa = a.values.data() + i * m * k;
    const double *pb = b.values.data() + (rb == ra ? i * k * n : 0);
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0, pa, ta ? m : k,
                pb, tb ? k : n, 0.0, t.values.data() + i * m * n, n);
  }
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

namespace {
double applyActivation(Activation activation, double x) {
  switch (activation) {
  case Activation::None:
    return x;
  case Activation::Relu:
    return x > 0 ? x : 0.0;
  case Activation::GeluErf:
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  case Activation::GeluTanh:
    return 0.5 * x *
           (1.0 +
            std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
  case Activation::Silu:
    return x / (1.0 + std::exp(-x));
  }
  return x;
}
} // namespace

absl::Status OpEvaluator::evalLinear(LinearOp op) {
  const Tensor &x = get(op.getInput());
  const Tensor &w = get(op.getWeight());
  bool inOut = op.getLayout() == WeightLayout::InOut;
  int64_t k = x.shape.back();
  int64_t n = inOut ? w.shape[1] : w.shape[0];
  if ((inOut ? w.shape[0] : w.shape[1]) != k)
    return error("input features differ from the weight's");
  int64_t m = x.numElements() / k;
  Tensor t;
  t.shape = x.shape;
  t.shape.back() = n;
  t.values.assign(m * n, 0.0);
  // A W8A8 weight (act_bits = 8): the input rows are quantized too.
  const double *input = x.values.data();
  std::vector<double> quantizedInput;
  auto param = op.getWeight().getDefiningOp<ParamOp>();
  if (QuantAttr quant = param ? param.getQuantAttr() : QuantAttr();
      quant && quant.getActBits() == 8) {
    std::vector<float> smooth = rankSmoothFactors(param, in_.rank_);
    quantizedInput = fakeQuantizeActivations(
        input, m, k, smooth.empty() ? nullptr : smooth.data());
    input = quantizedInput.data();
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, inOut ? CblasNoTrans : CblasTrans, m,
              n, k, 1.0, input, k, w.values.data(), inOut ? n : k, 0.0,
              t.values.data(), n);
  const Tensor *bias = op.getBias() ? &get(op.getBias()) : nullptr;
  const Tensor *residual = op.getResidual() ? &get(op.getResidual()) : nullptr;
  if (residual && residual->shape != t.shape)
    return error(absl::StrCat("residual ", formatShape(residual->shape),
                              " differs from the result ",
                              formatShape(t.shape)));
  Activation activation = op.getActivation();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double &v = t.values[i * n + j];
      if (bias)
        v += bias->values[j];
      v = applyActivation(activation, v);
      if (residual)
        v += residual->values[i * n + j];
    }
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalSoftmax(SoftmaxOp op) {
  const Tensor &x = get(op.getInput());
  int64_t dim = op.getDim();
  int64_t size = x.shape[dim];
  int64_t inner = product(Shape(x.shape.begin() + dim + 1, x.shape.end()));
  int64_t outer = product(Shape(x.shape.begin(), x.shape.begin() + dim));
  Tensor t;
  t.shape = x.shape;
  t.values.resize(x.values.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      int64_t base = o * size * inner + i;
      double maxValue = -std::numeric_limits<double>::infinity();
      for (int64_t s = 0; s < size; ++s)
        maxValue = std::max(maxValue, x.values[base + s * inner]);
      double sum = 0;
      for (int64_t s = 0; s < size; ++s) {
        double e = std::exp(x.values[base + s * inner] - maxValue);
        t.values[base + s * inner] = e;
        sum += e;
      }
      for (int64_t s = 0; s < size; ++s)
        t.values[base + s * inner] /= sum;
    }
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalNorm(Operation *op, Value input, Value scale,
                                   Value bias, double epsilon, bool rms) {
  const Tensor &x = get(input);
  const Tensor &g = get(scale);
  const Tensor *b = bias ? &get(bias) : nullptr;
  int64_t h = x.shape.back();
  int64_t rows = h ? x.numElements() / h : 0;
  Tensor t;
  t.shape = x.shape;
  t.values.resize(x.values.size());
  for (int64_t r = 0; r < rows; ++r) {
    const double *row = x.values.data() + r * h;
    double mean = 0;
    if (!rms) {
      for (int64_t i = 0; i < h; ++i)
        mean += row[i];
      mean /= h;
    }
    double var = 0;
    for (int64_t i = 0; i < h; ++i)
      var += (row[i] - mean) * (row[i] - mean);
    var /= h;
    double inv = 1.0 / std::sqrt(var + epsilon);
    for (int64_t i = 0; i < h; ++i) {
      double v = (row[i] - mean) * inv * g.values[i];
      t.values[r * h + i] = b ? v + b->values[i] : v;
    }
  }
  set(op->getResult(0), std::move(t));
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalReduce(ReduceOp op) {
  const Tensor &x = get(op.getInput());
  llvm::ArrayRef<int64_t> dims = op.getDims();
  Shape keptShape = x.shape; // reduced dims set to 1
  for (int64_t d : dims)
    keptShape[d] = 1;
  int64_t outCount = product(keptShape);
  ReduceKind kind = op.getKind();
  double init = kind == ReduceKind::Max   ? -INFINITY
                : kind == ReduceKind::Min ? INFINITY
                                          : 0.0;
  Tensor t;
  t.values.assign(outCount, init);
  std::vector<int64_t> target = broadcastIndex(keptShape, x.shape);
  int64_t count = outCount ? x.numElements() / outCount : 0;
  for (size_t i = 0; i < target.size(); ++i) {
    double &acc = t.values[target[i]];
    double v = x.values[i];
    if (kind == ReduceKind::Max)
      acc = std::isnan(v) ? v : std::max(acc, v);
    else if (kind == ReduceKind::Min)
      acc = std::isnan(v) ? v : std::min(acc, v);
    else
      acc += v;
  }
  if (kind == ReduceKind::Mean)
    for (double &v : t.values)
      v /= count;
  for (int64_t i = 0; i < static_cast<int64_t>(x.shape.size()); ++i)
    if (!llvm::is_contained(dims, i) || op.getKeepDims())
      t.shape.push_back(keptShape[i]);
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

//===----------------------------------------------------------------------===//
// Gather and shape ops
//===----------------------------------------------------------------------===//

absl::Status OpEvaluator::evalEmbedding(EmbeddingOp op) {
  const Tensor &table = get(op.getTable());
  const Tensor &ids = get(op.getIndices());
  int64_t rows = table.shape[0], h = table.shape[1];
  Tensor t;
  t.shape = ids.shape;
  t.shape.push_back(h);
  t.values.resize(ids.values.size() * h);
  for (size_t i = 0; i < ids.values.size(); ++i) {
    double id = ids.values[i];
    if (!(id >= 0 && id < rows))
      return error(
          absl::StrCat("id ", id, " is outside the table's ", rows, " rows"));
    std::copy_n(table.values.begin() + static_cast<int64_t>(id) * h, h,
                t.values.begin() + i * h);
  }
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalReshape(ReshapeOp op) {
  const Tensor &x = get(op.getInput());
  llvm::SmallVector<int64_t> dims = reshapeResultDims(op, x.shape);
  Shape shape(dims.begin(), dims.end());
  if (product(shape) != x.numElements())
    return error(absl::StrCat("cannot reshape ", formatShape(x.shape), " to ",
                              formatShape(shape)));
  Tensor t;
  t.shape = shape;
  t.values = x.values;
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalTranspose(TransposeOp op) {
  const Tensor &x = get(op.getInput());
  llvm::ArrayRef<int64_t> perm = op.getPermutation();
  size_t rank = perm.size();
  Tensor t;
  for (int64_t p : perm)
    t.shape.push_back(x.shape[p]);
  std::vector<int64_t> inStrides = stridesOf(x.shape);
  std::vector<int64_t> strides(rank);
  for (size_t i = 0; i < rank; ++i)
    strides[i] = inStrides[perm[i]];
  int64_t n = x.numElements();
  t.values.resize(n);
  std::vector<int64_t> counter(rank, 0);
  int64_t linear = 0;
  for (int64_t e = 0; e < n; ++e) {
    t.values[e] = x.values[linear];
    for (int64_t d = static_cast<int64_t>(rank) - 1; d >= 0; --d) {
      linear += strides[d];
      if (++counter[d] < t.shape[d])
        break;
      linear -= strides[d] * t.shape[d];
      counter[d] = 0;
    }
  }
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalConcat(ConcatOp op) {
  int64_t dim = op.getDim();
  const Tensor &first = get(op.getInputs().front());
  Tensor t;
  t.shape = first.shape;
  t.shape[dim] = 0;
  for (Value v : op.getInputs()) {
    const Tensor &x = get(v);
    for (size_t d = 0; d < x.shape.size(); ++d)
      if (static_cast<int64_t>(d) != dim && x.shape[d] != first.shape[d])
        return error(absl::StrCat("inputs ", formatShape(first.shape), " and ",
                                  formatShape(x.shape), " differ outside dim ",
                                  dim));
    t.shape[dim] += x.shape[dim];
  }
  int64_t outer = product(Shape(t.shape.begin(), t.shape.begin() + dim));
  int64_t inner = product(Shape(t.shape.begin() + dim + 1, t.shape.end()));
  t.values.reserve(product(t.shape));
  for (int64_t o = 0; o < outer; ++o)
    for (Value v : op.getInputs()) {
      const Tensor &x = get(v);
      int64_t chunk = x.shape[dim] * inner;
      t.values.insert(t.values.end(), x.values.begin() + o * chunk,
                      x.values.begin() + (o + 1) * chunk);
    }
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalSlice(SliceOp op) {
  const Tensor &x = get(op.getInput());
  int64_t dim = op.getDim(), start = op.getStart(), end = op.getEnd(),
          step = op.getStep();
  if (end > x.shape[dim])
    return error(absl::StrCat("slice end ", end, " exceeds size ", x.shape[dim],
                              " of dim ", dim));
  Tensor t;
  t.shape = x.shape;
  t.shape[dim] = (end - start + step - 1) / step;
  int64_t outer = product(Shape(x.shape.begin(), x.shape.begin() + dim));
  int64_t inner = product(Shape(x.shape.begin() + dim + 1, x.shape.end()));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t s = start; s < end; s += step) {
      auto begin = x.values.begin() + (o * x.shape[dim] + s) * inner;
      t.values.insert(t.values.end(), begin, begin + inner);
    }
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

//===----------------------------------------------------------------------===//
// Attention and its building blocks
//===----------------------------------------------------------------------===//

absl::Status OpEvaluator::evalCausalMask(CausalMaskOp op) {
  const Tensor &scores = get(op.getScores());
  const Tensor *offsets = op.getOffsets() ? &get(op.getOffsets()) : nullptr;
  size_t rank = scores.shape.size();
  int64_t sq = scores.shape[rank - 2], sk = scores.shape[rank - 1];
  int64_t perBatch =
      rank >= 3 ? product(Shape(scores.shape.begin() + 1, scores.shape.end()))
                : scores.numElements();
  double lowest = lowestOf(getElementTypeOrSelf(op.getType()));
  Tensor t = scores;
  for (int64_t e = 0; e < t.numElements(); ++e) {
    int64_t j = e % sk, i = (e / sk) % sq;
    int64_t offset =
        offsets ? static_cast<int64_t>(offsets->values[e / perBatch]) : sk - sq;
    if (j > i + offset)
      t.values[e] = lowest;
  }
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

absl::StatusOr<Tensor> OpEvaluator::cacheWrite(const Tensor &cache,
                                               const Tensor &positions,
                                               const Tensor &update) {
  int64_t batch = cache.shape[0], maxSeq = cache.shape[1],
          width = cache.shape[2], rows = update.shape[1];
  if (update.shape[0] != batch || positions.shape[0] != batch ||
      update.shape[2] != width)
    return error(absl::StrCat("cache ", formatShape(cache.shape), ", new rows ",
                              formatShape(update.shape), " and positions ",
                              formatShape(positions.shape), " do not agree"));
  Tensor t = cache;
  for (int64_t b = 0; b < batch; ++b) {
    int64_t start = static_cast<int64_t>(positions.values[b]);
    if (start < 0 || start + rows > maxSeq)
      return error(absl::StrCat("kv cache overflow: sequence ", b,
                                " writes rows [", start, ", ", start + rows,
                                ") of a cache of ", maxSeq));
    std::copy_n(update.values.begin() + b * rows * width, rows * width,
                t.values.begin() + (b * maxSeq + start) * width);
  }
  return t;
}

absl::Status OpEvaluator::evalAttention(AttentionOp op) {
  const Tensor &q = get(op.getQuery());
  Tensor k = get(op.getKey()), v = get(op.getValue());
  const Tensor *positions = nullptr;
  if (op.hasCache()) {
    positions = &get(op.getPositions());
    auto kc = cacheWrite(get(op.getKCache()), *positions, k);
    if (!kc.ok())
      return kc.status();
    auto vc = cacheWrite(get(op.getVCache()), *positions, v);
    if (!vc.ok())
      return vc.status();
    k = std::move(*kc);
    v = std::move(*vc);
  }
  int64_t batch = q.shape[0], sq = q.shape[1], sk = k.shape[1];
  if (k.shape[0] != batch || v.shape != k.shape)
    return error(absl::StrCat("query ", formatShape(q.shape), ", key ",
                              formatShape(k.shape), " and value ",
                              formatShape(v.shape), " do not agree"));
  int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads();
  int64_t d = op.getHeadDim(), group = heads / kvHeads;
  double scale = op.getScaleOrDefault();
  Type element = getElementTypeOrSelf(op.getResult().getType());
  double lowest = lowestOf(element);
  MaskKind kind = op.getMask();
  bool causal = kind == MaskKind::Causal || kind == MaskKind::CausalPadding;
  const Tensor *keyMask = op.getKeyMask() ? &get(op.getKeyMask()) : nullptr;
  const Tensor *bias = op.getBias() ? &get(op.getBias()) : nullptr;
  if (keyMask && (keyMask->shape != Shape{batch, sk}))
    return error(
        absl::StrCat("key_mask ", formatShape(keyMask->shape),
                     " is not [batch, key_len] = ", formatShape({batch, sk})));
  Shape biasShape = {batch, heads, sq, sk};
  std::vector<int64_t> biasIndex;
  if (bias) {
    for (size_t i = 0; i < 4; ++i)
      if (bias->shape[i] != 1 && bias->shape[i] != biasShape[i])
        return error(absl::StrCat("bias ", formatShape(bias->shape),
                                  " does not broadcast to ",
                                  formatShape(biasShape)));
    biasIndex = broadcastIndex(bias->shape, biasShape);
  }

  // Rounds like the decomposed program: the scores, the masked scores and
  // the probabilities are tensors of the element type.
  auto r = [&](double x) { return round(element, x); };
  Tensor out;
  out.shape = q.shape;
  out.values.assign(q.values.size(), 0.0);
  std::vector<double> scores(sk);
  for (int64_t b = 0; b < batch; ++b) {
    int64_t offset =
        positions ? static_cast<int64_t>(positions->values[b]) : sk - sq;
    for (int64_t h = 0; h < heads; ++h) {
      int64_t kvh = h / group;
      for (int64_t i = 0; i < sq; ++i) {
        const double *qi = &q.values[((b * sq + i) * heads + h) * d];
        double maxScore = -INFINITY;
        for (int64_t j = 0; j < sk; ++j) {
          const double *kj = &k.values[((b * sk + j) * kvHeads + kvh) * d];
          double dot = 0;
          for (int64_t e = 0; e < d; ++e)
            dot += qi[e] * kj[e];
          double s = scale == 1.0 ? r(dot) : r(r(dot) * scale);
          if (bias)
            s = r(s +
                  bias->values[biasIndex[((b * heads + h) * sq + i) * sk + j]]);
          if (keyMask)
            s = r(s + r(r(1.0 - keyMask->values[b * sk + j]) * lowest));
          if (causal && j > i + offset)
            s = lowest;
          scores[j] = s;
          maxScore = std::max(maxScore, s);
        }
        double sum = 0;
        for (int64_t j = 0; j < sk; ++j) {
          scores[j] = std::exp(scores[j] - maxScore);
          sum += scores[j];
        }
        double *oi = &out.values[((b * sq + i) * heads + h) * d];
        for (int64_t j = 0; j < sk; ++j) {
          double p = r(scores[j] / sum);
          const double *vj = &v.values[((b * sk + j) * kvHeads + kvh) * d];
          for (int64_t e = 0; e < d; ++e)
            oi[e] += p * vj[e];
        }
      }
    }
  }
  set(op.getResult(), std::move(out));
  if (op.hasCache()) {
    set(op.getUpdatedCaches()[0], std::move(k));
    set(op.getUpdatedCaches()[1], std::move(v));
  }
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalRotary(RotaryOp op) {
  const Tensor &x = get(op.getInput());
  const Tensor &positions = get(op.getPositions());
  int64_t batch = x.shape[0], seq = x.shape[1];
  int64_t heads = op.getNumHeads(), d = x.shape[2] / heads, half = d / 2;
  llvm::SmallVector<float> invFreq = op.computeInverseFrequencies();
  Type element = getElementTypeOrSelf(op.getType());
  bool perBatch = positions.shape.size() == 2;
  Tensor t;
  t.shape = x.shape;
  t.values.resize(x.values.size());
  std::vector<double> cosines(half), sines(half);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s) {
      double pos = positions.values[perBatch ? b * seq + s : s];
      // As transformers: angles in f32, cos/sin cast to the input type.
      for (int64_t i = 0; i < half; ++i) {
        float angle = static_cast<float>(pos) * invFreq[i];
        cosines[i] = round(element, static_cast<float>(std::cos(angle)));
        sines[i] = round(element, static_cast<float>(std::sin(angle)));
      }
      for (int64_t h = 0; h < heads; ++h) {
        const double *xi = &x.values[((b * seq + s) * heads + h) * d];
        double *oi = &t.values[((b * seq + s) * heads + h) * d];
        for (int64_t i = 0; i < half; ++i) {
          oi[i] = round(element, xi[i] * cosines[i]) -
                  round(element, xi[i + half] * sines[i]);
          oi[i + half] = round(element, xi[i + half] * cosines[i]) +
                         round(element, xi[i] * sines[i]);
        }
      }
    }
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

absl::Status OpEvaluator::evalRelativePositionBias(RelativePositionBiasOp op) {
  const Tensor &table = get(op.getTable());
  const Tensor &qp = get(op.getQueryPositions());
  const Tensor &kp = get(op.getKeyPositions());
  int64_t heads = table.shape[1];
  int64_t sq = qp.shape[0], sk = kp.shape[0];
  int64_t buckets = op.getNumBuckets();
  bool bidirectional = op.getBidirectional();
  if (bidirectional)
    buckets /= 2;
  int64_t maxExact = buckets / 2;
  // As T5Attention._relative_position_bucket, with its f32 arithmetic.
  float logRange = static_cast<float>(
      std::log(static_cast<double>(op.getMaxDistance()) / maxExact));
  Tensor t;
  t.shape = {1, heads, sq, sk};
  t.values.resize(heads * sq * sk);
  for (int64_t i = 0; i < sq; ++i)
    for (int64_t j = 0; j < sk; ++j) {
      int64_t relative = static_cast<int64_t>(kp.values[j] - qp.values[i]);
      int64_t bucket = 0;
      if (bidirectional) {
        bucket = relative > 0 ? buckets : 0;
        relative = relative < 0 ? -relative : relative;
      } else {
        relative = relative < 0 ? -relative : 0;
      }
      if (relative < maxExact) {
        bucket += relative;
      } else {
        float scaled = std::log(static_cast<float>(relative) /
                                static_cast<float>(maxExact)) /
                       logRange * static_cast<float>(buckets - maxExact);
        int64_t large = maxExact + static_cast<int64_t>(scaled);
        bucket += std::min(large, buckets - 1);
      }
      for (int64_t h = 0; h < heads; ++h)
        t.values[(h * sq + i) * sk + j] = table.values[bucket * heads + h];
    }
  set(op.getResult(), std::move(t));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<HostTensor>>
Interpreter::run(func::FuncOp function, const std::vector<HostTensor> &args) {
  OpEvaluator evaluator(*this);
  return evaluator.run(function, args);
}

} // namespace kiln
