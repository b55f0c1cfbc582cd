//===- KilnOps.cpp - kiln op verifiers and result-type inference ----------===//
//
// Each op's shape rules live in one function, `infer<Op>Type`, which either
// returns the result type or reports the first broken rule through an
// `emitError` callback. The op's verifier calls it with `emitOpError` (so
// messages are located and name the op); `inferReturnTypes` calls it with a
// plain located (or, without a location, silent) diagnostic. The
// InferTypeOpInterface check then compares the declared result types with
// the inferred ones after the verifier has passed.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

using namespace mlir;
using namespace kiln;

namespace {

using EmitErrorFn = llvm::function_ref<InFlightDiagnostic()>;

/// Diagnostics for inferReturnTypes (which the parser calls for ops whose
/// result type is not spelled): worded as emitOpError words them when a
/// location is known, discarded otherwise.
InFlightDiagnostic emitOptional(std::optional<Location> loc, StringRef opName) {
  if (!loc)
    return InFlightDiagnostic();
  InFlightDiagnostic diag = mlir::emitError(*loc);
  diag << "'" << opName << "' op ";
  return diag;
}

/// Shape printed as [2, ?, 768] in messages.
std::string formatShape(ArrayRef<int64_t> shape) {
  std::string out = "[";
  llvm::raw_string_ostream os(out);
  llvm::interleaveComma(shape, os, [&](int64_t d) {
    if (ShapedType::isDynamic(d))
      os << "?";
    else
      os << d;
  });
  os << "]";
  return out;
}

/// Two dims may describe the same size (equal, or at least one dynamic).
bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// The more precise of two compatible dims.
int64_t mergeDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) ? b : a;
}

/// Normalizes a dim index in [0, rank) or reports it.
LogicalResult checkDim(EmitErrorFn emitError, StringRef what, int64_t dim,
                       int64_t rank) {
  if (dim < 0 || dim >= rank)
    return emitError() << what << " " << dim << " is out of range for rank "
                       << rank;
  return success();
}

LogicalResult checkSameElementType(EmitErrorFn emitError, StringRef aName,
                                   Type a, StringRef bName, Type b) {
  Type ea = getElementTypeOrSelf(a), eb = getElementTypeOrSelf(b);
  if (ea != eb)
    return emitError() << aName << " element type " << ea << " differs from "
                       << bName << " element type " << eb;
  return success();
}

LogicalResult checkRank(EmitErrorFn emitError, StringRef what,
                        RankedTensorType type, int64_t rank, StringRef layout) {
  if (type.getRank() != rank)
    return emitError() << what << " must be " << layout << " (rank " << rank
                       << "), got " << type;
  return success();
}

/// NumPy broadcast of two shapes, or a report naming both.
FailureOr<SmallVector<int64_t>> broadcastShapes(EmitErrorFn emitError,
                                                ArrayRef<int64_t> a,
                                                ArrayRef<int64_t> b) {
  SmallVector<int64_t> out;
  if (!OpTrait::util::getBroadcastedShape(a, b, out)) {
    emitError() << "shapes " << formatShape(a) << " and " << formatShape(b)
                << " are not broadcastable";
    return failure();
  }
  return out;
}

Type typeOrNull(Value value) { return value ? value.getType() : Type(); }

template <typename T>
LogicalResult inferredOne(FailureOr<T> type,
                          SmallVectorImpl<Type> &inferredReturnTypes) {
  if (failed(type))
    return failure();
  inferredReturnTypes.push_back(*type);
  return success();
}

} // namespace

/// Defines OP::verify() and OP::inferReturnTypes() from one expression,
/// INFER, that computes the result type from `op` (the op, or its adaptor:
/// both have the same getters) and reports through `emitError`. The verifier
/// words messages as emitOpError does; inference without a location is
/// silent.
#define KILN_VERIFY_AND_INFER(OP, INFER)                                       \
  LogicalResult OP::verify() {                                                 \
    OP op = *this;                                                             \
    auto emitError = [&] { return emitOpError(); };                            \
    return success(succeeded(INFER));                                          \
  }                                                                            \
  LogicalResult OP::inferReturnTypes(MLIRContext *,                            \
                                     std::optional<Location> loc, Adaptor op,  \
                                     SmallVectorImpl<Type> &out) {             \
    auto emitError = [&] { return emitOptional(loc, getOperationName()); };    \
    return inferredOne(INFER, out);                                            \
  }

//===----------------------------------------------------------------------===//
// custom<BroadcastTypes>: `T` when lhs, rhs and result share one type,
// otherwise `L, R -> Res`.
//===----------------------------------------------------------------------===//

static ParseResult parseBroadcastTypes(OpAsmParser &parser, Type &lhs,
                                       Type &rhs, Type &result) {
  if (parser.parseType(lhs))
    return failure();
  if (failed(parser.parseOptionalComma())) {
    rhs = result = lhs;
    return success();
  }
  return failure(parser.parseType(rhs) || parser.parseArrow() ||
                 parser.parseType(result));
}

static void printBroadcastTypes(OpAsmPrinter &printer, Operation *, Type lhs,
                                Type rhs, Type result) {
  if (lhs == rhs && rhs == result) {
    printer << lhs;
    return;
  }
  printer << lhs << ", " << rhs << " -> " << result;
}

//===----------------------------------------------------------------------===//
// ParamOp, IotaOp
//===----------------------------------------------------------------------===//

LogicalResult FusedOp::verify() {
  Block &body = getBody().front();
  if (body.getNumArguments() != getInputs().size())
    return emitOpError("body takes ")
           << body.getNumArguments() << " arguments for " << getInputs().size()
           << " inputs";
  for (auto [input, arg] : llvm::zip(getInputs(), body.getArguments()))
    if (input.getType() != arg.getType())
      return emitOpError("body argument of type ")
             << arg.getType() << " for an input of type " << input.getType();
  auto yield = body.empty() ? nullptr : dyn_cast<YieldOp>(body.back());
  if (!yield)
    return emitOpError("body must end in kiln.yield");
  if (yield.getValues().getTypes() != getResultTypes())
    return emitOpError("yields ") << yield.getValues().getTypes()
                                  << ", the results are " << getResultTypes();
  if (getNumResults() == 0)
    return emitOpError("has no result");
  for (Type t : getResultTypes())
    if (cast<RankedTensorType>(t).getShape() !=
        cast<RankedTensorType>(getResultTypes().front()).getShape())
      return emitOpError("results differ in shape: ")
             << getResultTypes().front() << " and " << t;
  return success();
}

LogicalResult ParamOp::verify() {
  if (getName().empty())
    return emitOpError("needs a non-empty parameter name");
  if (!getType().hasStaticShape())
    return emitOpError("parameter '")
           << getName() << "' must have a static shape, got " << getType();
  if (auto parts = getParts()) {
    if (parts->empty() || getType().getRank() == 0)
      return emitOpError("parts must name at least one tensor of rank >= 1");
    for (Attribute part : *parts)
      if (cast<StringAttr>(part).getValue().empty())
        return emitOpError("needs non-empty part names");
  }
  if (KeepAttr keep = getKeepAttr()) {
    if (getParts())
      return emitOpError("keep cannot be combined with parts");
    if (keep.getAxis() >= getType().getRank())
      return emitOpError("keep axis ")
             << keep.getAxis() << " is out of range for " << getType();
    // Kept, then sharded (kilnc --prune with --tp): the type is one
    // rank's part of the kept slices.
    ShardAttr shard = getShardAttr();
    const int64_t kept =
        getType().getDimSize(keep.getAxis()) *
        (shard && shard.getAxis() == keep.getAxis() ? shard.getParts() : 1);
    if (static_cast<int64_t>(keep.getIndices().size()) != kept) {
      InFlightDiagnostic diag = emitOpError("keep lists ")
                                << keep.getIndices().size() << " indices, but "
                                << "dim " << keep.getAxis() << " of "
                                << getType() << " has "
                                << getType().getDimSize(keep.getAxis());
      if (kept != getType().getDimSize(keep.getAxis()))
        diag << " in each of its " << shard.getParts() << " shard parts";
      return diag;
    }
  }
  if (ShardAttr shard = getShardAttr()) {
    if (shard.getAxis() >= getType().getRank())
      return emitOpError("shard axis ")
             << shard.getAxis() << " is out of range for " << getType();
    if (getType().getDimSize(shard.getAxis()) % shard.getSections() != 0)
      return emitOpError("shard sections (")
             << shard.getSections() << ") do not divide dim " << shard.getAxis()
             << " of " << getType();
  }
  if (PruneAttr prune = getPruneAttr()) {
    if (getType().getRank() != 2 || !isa<FloatType>(getType().getElementType()))
      return emitOpError("a pruned weight must be a 2-D float tensor, got ")
             << getType();
    if (prune.isSemiStructured() &&
        getType().getDimSize(prune.getAxis()) % prune.getM() != 0)
      return emitOpError("prune groups of ")
             << prune.getM() << " do not divide dim " << prune.getAxis()
             << " of " << getType();
    if (DenseF32ArrayAttr scale = prune.getScale()) {
      // One factor per input feature of the (kept) tensor, which a shard
      // along that dim cuts after pruning.
      int64_t features = wholeInputFeatures(*this, prune.getAxis());
      if (static_cast<int64_t>(scale.size()) != features)
        return emitOpError("prune scale has ")
               << scale.size() << " factors for " << features
               << " input features";
    }
    for (Operation *user : getResult().getUsers()) {
      auto linear = dyn_cast<LinearOp>(user);
      if (!linear || linear.getInput() == getResult() ||
          linear.getWeight() != getResult())
        return emitOpError("pruned weight '")
               << getName() << "' may only be the weight of kiln.linear ops";
      int64_t inAxis = linear.getLayout() == WeightLayout::InOut ? 0 : 1;
      if ((prune.isSemiStructured() || prune.getScale()) &&
          prune.getAxis() != inAxis)
        return emitOpError("prune axis ")
               << prune.getAxis() << " is not the input-feature dim (" << inAxis
               << ") of its linear's layout";
    }
  }
  if (QuantAttr quant = getQuantAttr()) {
    if (getType().getRank() != 2 || !isa<FloatType>(getType().getElementType()))
      return emitOpError("a quantized weight must be a 2-D float tensor, got ")
             << getType();
    int64_t features = getType().getDimSize(1 - quant.getAxis());
    if (quant.getGroup() % 32 != 0 && quant.getGroup() < features)
      return emitOpError("quant group ")
             << quant.getGroup() << " is neither a multiple of 32 nor all "
             << features << " input features";
    // A row-parallel rank quantizes its part with its part of the factors.
    if (DenseFPElementsAttr smooth = quant.getSmooth();
        smooth && smooth.getNumElements() !=
                      wholeInputFeatures(*this, 1 - quant.getAxis()))
      return emitOpError("quant smooth has ")
             << smooth.getNumElements() << " factors for "
             << wholeInputFeatures(*this, 1 - quant.getAxis())
             << " input features";
    for (Operation *user : getResult().getUsers()) {
      auto linear = dyn_cast<LinearOp>(user);
      if (!linear || linear.getInput() == getResult() ||
          linear.getWeight() != getResult())
        return emitOpError("quantized weight '")
               << getName() << "' may only be the weight of kiln.linear ops";
      int64_t outAxis = linear.getLayout() == WeightLayout::InOut ? 1 : 0;
      if (quant.getAxis() != outAxis)
        return emitOpError("quant axis ")
               << quant.getAxis() << " is not the output-channel dim ("
               << outAxis << ") of its linear's layout";
    }
  }
  return success();
}

LogicalResult IotaOp::verify() {
  auto source = cast<RankedTensorType>(getSource().getType());
  if (failed(checkDim([&] { return emitOpError(); }, "dim", getDim(),
                      source.getRank())))
    return failure();
  auto result = cast<RankedTensorType>(getType());
  if (result.getRank() != 1)
    return emitOpError("result must be 1-D, got ") << result;
  if (!dimsCompatible(result.getDimSize(0), source.getDimSize(getDim())))
    return emitOpError("result size ")
           << result.getDimSize(0) << " differs from size "
           << source.getDimSize(getDim()) << " of source dim " << getDim();
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

static FailureOr<RankedTensorType>
inferBroadcastType(EmitErrorFn emitError, Type lhs, Type rhs,
                   Type resultElement = nullptr) {
  auto l = cast<RankedTensorType>(lhs), r = cast<RankedTensorType>(rhs);
  if (failed(checkSameElementType(emitError, "lhs", l, "rhs", r)))
    return failure();
  auto shape = broadcastShapes(emitError, l.getShape(), r.getShape());
  if (failed(shape))
    return failure();
  return RankedTensorType::get(*shape, resultElement ? resultElement
                                                     : l.getElementType());
}

KILN_VERIFY_AND_INFER(AddOp,
                      inferBroadcastType(emitError, op.getLhs().getType(),
                                         op.getRhs().getType()))
KILN_VERIFY_AND_INFER(SubOp,
                      inferBroadcastType(emitError, op.getLhs().getType(),
                                         op.getRhs().getType()))
KILN_VERIFY_AND_INFER(MulOp,
                      inferBroadcastType(emitError, op.getLhs().getType(),
                                         op.getRhs().getType()))
KILN_VERIFY_AND_INFER(DivOp,
                      inferBroadcastType(emitError, op.getLhs().getType(),
                                         op.getRhs().getType()))
KILN_VERIFY_AND_INFER(MaxOp,
                      inferBroadcastType(emitError, op.getLhs().getType(),
                                         op.getRhs().getType()))
KILN_VERIFY_AND_INFER(MinOp,
                      inferBroadcastType(emitError, op.getLhs().getType(),
                                         op.getRhs().getType()))

KILN_VERIFY_AND_INFER(
    CompareOp,
    inferBroadcastType(emitError, op.getLhs().getType(), op.getRhs().getType(),
                       IntegerType::get(op.getLhs().getContext(), 1)))

static FailureOr<RankedTensorType> inferSelectType(EmitErrorFn emitError,
                                                   Type condition, Type onTrue,
                                                   Type onFalse) {
  auto values = inferBroadcastType(emitError, onTrue, onFalse);
  if (failed(values))
    return failure();
  auto shape =
      broadcastShapes(emitError, cast<RankedTensorType>(condition).getShape(),
                      values->getShape());
  if (failed(shape))
    return failure();
  return RankedTensorType::get(*shape, values->getElementType());
}

KILN_VERIFY_AND_INFER(SelectOp,
                      inferSelectType(emitError, op.getCondition().getType(),
                                      op.getOnTrue().getType(),
                                      op.getOnFalse().getType()))

//===----------------------------------------------------------------------===//
// MatmulOp
//===----------------------------------------------------------------------===//

static FailureOr<RankedTensorType> inferMatmulType(EmitErrorFn emitError,
                                                   Type lhsType, Type rhsType,
                                                   bool transposeLhs,
                                                   bool transposeRhs) {
  auto lhs = cast<RankedTensorType>(lhsType);
  auto rhs = cast<RankedTensorType>(rhsType);
  if (lhs.getRank() < 2)
    return emitError() << "lhs must have rank >= 2, got " << lhs;
  if (rhs.getRank() != lhs.getRank() && rhs.getRank() != 2)
    return emitError() << "rhs rank " << rhs.getRank()
                       << " must equal the lhs rank " << lhs.getRank()
                       << " or be 2 (shared by every batch)";
  if (failed(checkSameElementType(emitError, "lhs", lhs, "rhs", rhs)))
    return failure();

  int64_t lr = lhs.getRank(), rr = rhs.getRank();
  int64_t m = lhs.getDimSize(transposeLhs ? lr - 1 : lr - 2);
  int64_t kl = lhs.getDimSize(transposeLhs ? lr - 2 : lr - 1);
  int64_t kr = rhs.getDimSize(transposeRhs ? rr - 1 : rr - 2);
  int64_t n = rhs.getDimSize(transposeRhs ? rr - 2 : rr - 1);
  if (!dimsCompatible(kl, kr))
    return emitError() << "contraction dims differ: lhs "
                       << formatShape(lhs.getShape()) << " has K = " << kl
                       << ", rhs " << formatShape(rhs.getShape())
                       << " has K = " << kr;

  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < lr - 2; ++i) {
    int64_t b = lhs.getDimSize(i);
    if (rr == lr) {
      if (!dimsCompatible(b, rhs.getDimSize(i)))
        return emitError() << "batch dim " << i << " differs: lhs "
                           << formatShape(lhs.getShape()) << ", rhs "
                           << formatShape(rhs.getShape());
      b = mergeDims(b, rhs.getDimSize(i));
    }
    shape.push_back(b);
  }
  shape.push_back(m);
  shape.push_back(n);
  return RankedTensorType::get(shape, lhs.getElementType());
}

KILN_VERIFY_AND_INFER(MatmulOp,
                      inferMatmulType(emitError, op.getLhs().getType(),
                                      op.getRhs().getType(),
                                      op.getTransposeLhs(),
                                      op.getTransposeRhs()))

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

static FailureOr<RankedTensorType>
inferLinearType(EmitErrorFn emitError, Type inputType, Type weightType,
                Type biasType, Type residualType, WeightLayout layout) {
  auto input = cast<RankedTensorType>(inputType);
  auto weight = cast<RankedTensorType>(weightType);
  if (input.getRank() < 2)
    return emitError() << "input must have rank >= 2 ([..., tokens, "
                          "features]), got "
                       << input;
  if (failed(
          checkRank(emitError, "weight", weight, 2,
                    layout == WeightLayout::InOut ? "[in, out]" : "[out, in]")))
    return failure();
  if (failed(checkSameElementType(emitError, "input", input, "weight", weight)))
    return failure();
  bool inOut = layout == WeightLayout::InOut;
  int64_t k = input.getShape().back();
  int64_t wk = weight.getDimSize(inOut ? 0 : 1);
  int64_t n = weight.getDimSize(inOut ? 1 : 0);
  if (!dimsCompatible(k, wk))
    return emitError() << "input features " << k << " differ from the "
                       << "weight's in_features " << wk << " (layout "
                       << stringifyWeightLayout(layout) << ", weight "
                       << formatShape(weight.getShape()) << ")";
  SmallVector<int64_t> shape(input.getShape());
  shape.back() = n;
  auto result = RankedTensorType::get(shape, input.getElementType());
  if (biasType) {
    auto bias = cast<RankedTensorType>(biasType);
    if (bias.getRank() != 1 || !dimsCompatible(bias.getDimSize(0), n))
      return emitError() << "bias must be [" << n << "], got " << bias;
    if (failed(checkSameElementType(emitError, "bias", bias, "input", input)))
      return failure();
  }
  if (residualType && residualType != result)
    return emitError() << "residual type " << residualType
                       << " must equal the result type " << result;
  return result;
}

/// The inferred type (the input's element type), or the same shape in f32
/// for a bf16/f16 product stored unrounded.
bool LinearOp::isCompatibleReturnTypes(TypeRange inferred, TypeRange actual) {
  if (inferred.size() != 1 || actual.size() != 1)
    return false;
  if (inferred.front() == actual.front())
    return true;
  auto want = dyn_cast<RankedTensorType>(inferred.front());
  auto got = dyn_cast<RankedTensorType>(actual.front());
  return want && got && want.getShape() == got.getShape() &&
         (want.getElementType().isBF16() || want.getElementType().isF16()) &&
         got.getElementType().isF32();
}

KILN_VERIFY_AND_INFER(LinearOp,
                      inferLinearType(emitError, op.getInput().getType(),
                                      op.getWeight().getType(),
                                      typeOrNull(op.getBias()),
                                      typeOrNull(op.getResidual()),
                                      op.getLayout()))

//===----------------------------------------------------------------------===//
// SoftmaxOp, LayerNormOp, RmsNormOp, ReduceOp
//===----------------------------------------------------------------------===//

LogicalResult SoftmaxOp::verify() {
  return checkDim([&] { return emitOpError(); }, "dim", getDim(),
                  getInput().getType().getRank());
}

static LogicalResult checkNormOperand(EmitErrorFn emitError, StringRef name,
                                      RankedTensorType input, Type operand) {
  auto type = cast<RankedTensorType>(operand);
  int64_t h = input.getShape().back();
  if (type.getRank() != 1 || !dimsCompatible(type.getDimSize(0), h))
    return emitError() << name << " must be [" << h
                       << "] (the normalized last dim), got " << type;
  return checkSameElementType(emitError, name, type, "input", input);
}

static FailureOr<RankedTensorType> inferNormType(EmitErrorFn emitError,
                                                 Type inputType, Type scaleType,
                                                 Type biasType,
                                                 double epsilon) {
  auto input = cast<RankedTensorType>(inputType);
  if (input.getRank() < 1)
    return emitError() << "input must have rank >= 1";
  if (failed(checkNormOperand(emitError, "scale", input, scaleType)))
    return failure();
  if (biasType && failed(checkNormOperand(emitError, "bias", input, biasType)))
    return failure();
  if (!(epsilon >= 0) || !std::isfinite(epsilon))
    return emitError() << "epsilon must be finite and non-negative, got "
                       << epsilon;
  return input;
}

KILN_VERIFY_AND_INFER(LayerNormOp,
                      inferNormType(emitError, op.getInput().getType(),
                                    op.getScale().getType(),
                                    typeOrNull(op.getBias()),
                                    op.getEpsilon().convertToDouble()))

KILN_VERIFY_AND_INFER(RmsNormOp,
                      inferNormType(emitError, op.getInput().getType(),
                                    op.getScale().getType(), Type(),
                                    op.getEpsilon().convertToDouble()))

static FailureOr<RankedTensorType> inferReduceType(EmitErrorFn emitError,
                                                   Type inputType,
                                                   ArrayRef<int64_t> dims,
                                                   bool keepDims) {
  auto input = cast<RankedTensorType>(inputType);
  if (dims.empty())
    return emitError() << "needs at least one dim to reduce";
  for (auto [i, d] : llvm::enumerate(dims)) {
    if (failed(checkDim(emitError, "reduced dim", d, input.getRank())))
      return failure();
    if (i > 0 && d <= dims[i - 1])
      return emitError() << "reduced dims must be distinct and increasing, "
                            "got "
                         << formatShape(dims);
  }
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < input.getRank(); ++i) {
    if (!llvm::is_contained(dims, i))
      shape.push_back(input.getDimSize(i));
    else if (keepDims)
      shape.push_back(1);
  }
  return RankedTensorType::get(shape, input.getElementType());
}

KILN_VERIFY_AND_INFER(ReduceOp,
                      inferReduceType(emitError, op.getInput().getType(),
                                      op.getDims(), op.getKeepDims()))

//===----------------------------------------------------------------------===//
// EmbeddingOp
//===----------------------------------------------------------------------===//

static FailureOr<RankedTensorType>
inferEmbeddingType(EmitErrorFn emitError, Type tableType, Type indicesType) {
  auto table = cast<RankedTensorType>(tableType);
  auto indices = cast<RankedTensorType>(indicesType);
  if (failed(checkRank(emitError, "table", table, 2, "[vocab, hidden]")))
    return failure();
  SmallVector<int64_t> shape(indices.getShape());
  shape.push_back(table.getDimSize(1));
  return RankedTensorType::get(shape, table.getElementType());
}

KILN_VERIFY_AND_INFER(EmbeddingOp,
                      inferEmbeddingType(emitError, op.getTable().getType(),
                                         op.getIndices().getType()))

//===----------------------------------------------------------------------===//
// ReshapeOp
//===----------------------------------------------------------------------===//

namespace kiln {
/// FNV-1a of `values`' bits: stable across runs, unlike llvm::hash_value,
/// so an artifact's weight names are too.
template <typename T> static uint64_t fnv1a(ArrayRef<T> values) {
  uint64_t hash = 1469598103934665603ull;
  for (T value : values) {
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    hash = (hash ^ bits) * 1099511628211ull;
  }
  return hash;
}

std::string storedWeightKey(ParamOp op) {
  std::string key = op.getName().str();
  if (KeepAttr keep = op.getKeepAttr()) {
    const uint64_t hash = fnv1a(keep.getIndices());
    key += "#keep" + std::to_string(keep.getAxis()) + "x" +
           std::to_string(keep.getIndices().size()) + "h" +
           std::to_string(hash);
  }
  if (PruneAttr prune = op.getPruneAttr()) {
    std::string text;
    llvm::raw_string_ostream os(text);
    if (DenseF32ArrayAttr scale = prune.getScale()) {
      // The factors by their hash: a key, not a copy of them.
      os << PruneAttr::get(op.getContext(), prune.getN(), prune.getM(),
                           prune.getAxis(),
                           prune.getFraction().convertToDouble(),
                           prune.getThreshold().convertToDouble())
         << "s" << fnv1a(scale.asArrayRef());
    } else {
      os << prune;
    }
    key += "#" + text.substr(text.find('<'));
  }
  if (ShardAttr shard = op.getShardAttr())
    key += "#shard" + std::to_string(shard.getAxis()) + "s" +
           std::to_string(shard.getSections()) + "p" +
           std::to_string(shard.getParts()) + "r" +
           std::to_string(shard.getReplicas()) +
           (shard.getPad() ? "d" + std::to_string(shard.getPad()) : "");
  if (QuantAttr quant = op.getQuantAttr()) {
    key += "#int" + std::to_string(quant.getBits()) + "g" +
           std::to_string(quant.getGroup());
    if (DenseFPElementsAttr smooth = quant.getSmooth())
      key += "s" + std::to_string(static_cast<size_t>(
                       llvm::hash_value(smooth.getRawData())));
  }
  return key;
}

int64_t wholeInputFeatures(ParamOp op, int64_t inAxis) {
  int64_t features = op.getType().getDimSize(inAxis);
  if (ShardAttr shard = op.getShardAttr(); shard && shard.getAxis() == inAxis)
    features = features * shard.getParts() - shard.getPad();
  return features;
}

SmallVector<int64_t> rankInputFeatures(ParamOp op, int64_t inAxis,
                                       int64_t rank) {
  const int64_t local = op.getType().getDimSize(inAxis);
  if (ShardAttr shard = op.getShardAttr(); shard && shard.getAxis() == inAxis)
    return shard.indicesFor(rank, wholeInputFeatures(op, inAxis));
  SmallVector<int64_t> all(local);
  std::iota(all.begin(), all.end(), 0);
  return all;
}

std::vector<float> rankFactors(ArrayRef<float> whole,
                               ArrayRef<int64_t> features) {
  std::vector<float> part;
  const auto count = static_cast<int64_t>(whole.size());
  for (int64_t j : features)
    part.push_back(j < count ? whole[j] : 1.0f); // pad: zero weights
  return part;
}

std::vector<float> rankSmoothFactors(ParamOp op, int64_t rank) {
  QuantAttr quant = op.getQuantAttr();
  DenseFPElementsAttr smooth = quant ? quant.getSmooth() : nullptr;
  if (!smooth)
    return {};
  std::vector<float> whole(smooth.getValues<float>().begin(),
                           smooth.getValues<float>().end());
  return rankFactors(whole, rankInputFeatures(op, 1 - quant.getAxis(), rank));
}

/// Whether `source` can be reshaped to `target` (see ReshapeOp).
std::optional<SmallVector<ReassociationIndices>>
reshapeGrouping(ArrayRef<int64_t> wide, ArrayRef<int64_t> narrow) {
  if (auto groups = getReassociationIndicesForCollapse(wide, narrow))
    return groups;
  SmallVector<ReassociationIndices> groups;
  size_t w = 0;
  for (int64_t size : narrow) {
    ReassociationIndices group;
    if (ShapedType::isDynamic(size)) {
      // Static dims up to and including the next dynamic one.
      while (true) {
        if (w == wide.size())
          return std::nullopt;
        bool dynamic = ShapedType::isDynamic(wide[w]);
        group.push_back(w++);
        if (dynamic)
          break;
      }
    } else {
      // Static dims whose product is exactly `size`.
      int64_t product = 1;
      do {
        if (w == wide.size() || ShapedType::isDynamic(wide[w]))
          return std::nullopt;
        product *= wide[w];
        group.push_back(w++);
      } while (product < size);
      if (product != size)
        return std::nullopt;
    }
    groups.push_back(std::move(group));
  }
  for (; w < wide.size(); ++w) {
    if (wide[w] != 1 || groups.empty())
      return std::nullopt;
    groups.back().push_back(w);
  }
  return groups;
}

bool isValidReshape(RankedTensorType source, RankedTensorType target) {
  if (source.getElementType() != target.getElementType())
    return false;
  if (source.hasStaticShape() && target.hasStaticShape())
    return source.getNumElements() == target.getNumElements();
  if (source.getShape() == target.getShape())
    return true;
  if (source.getRank() == target.getRank())
    return false;
  // Merging dims always determines the merged size.
  if (source.getRank() > target.getRank())
    return reshapeGrouping(source.getShape(), target.getShape()).has_value();
  // Splitting a dim determines the parts only if at most one is dynamic.
  auto groups = reshapeGrouping(target.getShape(), source.getShape());
  if (!groups)
    return false;
  return llvm::all_of(*groups, [&](const ReassociationIndices &group) {
    return llvm::count_if(
               group, [&](int64_t d) { return target.isDynamicDim(d); }) <= 1;
  });
}
} // namespace kiln

SmallVector<int64_t> kiln::reshapeResultDims(ReshapeOp op,
                                             ArrayRef<int64_t> sourceDims) {
  auto source = cast<RankedTensorType>(op.getInput().getType());
  auto target = cast<RankedTensorType>(op.getType());
  SmallVector<int64_t> shape(target.getShape());
  if (target.hasStaticShape())
    return shape;
  if (source.getShape() == target.getShape())
    return SmallVector<int64_t>(sourceDims);
  if (source.getRank() > target.getRank()) {
    if (auto groups = reshapeGrouping(source.getShape(), target.getShape()))
      for (auto [i, group] : llvm::enumerate(*groups)) {
        int64_t n = 1;
        for (int64_t d : group)
          n *= sourceDims[d];
        shape[i] = n;
      }
    return shape;
  }
  if (auto groups = reshapeGrouping(target.getShape(), source.getShape()))
    for (auto [i, group] : llvm::enumerate(*groups)) {
      int64_t known = 1;
      for (int64_t d : group)
        if (!target.isDynamicDim(d))
          known *= target.getDimSize(d);
      for (int64_t d : group)
        if (target.isDynamicDim(d))
          shape[d] = known ? sourceDims[i] / known : 0;
    }
  return shape;
}

LogicalResult ReshapeOp::verify() {
  auto source = cast<RankedTensorType>(getInput().getType());
  auto target = cast<RankedTensorType>(getType());
  if (failed(checkSameElementType([&] { return emitOpError(); }, "input",
                                  source, "result", target)))
    return failure();
  if (isValidReshape(source, target))
    return success();
  if (source.hasStaticShape() && target.hasStaticShape())
    return emitOpError("element count differs: ")
           << formatShape(source.getShape()) << " has "
           << source.getNumElements() << ", " << formatShape(target.getShape())
           << " has " << target.getNumElements();
  return emitOpError("cannot reshape ")
         << formatShape(source.getShape()) << " to "
         << formatShape(target.getShape())
         << ": with dynamic dims a reshape must merge adjacent dims, or split "
            "a dim into parts of which at most one is dynamic";
}

//===----------------------------------------------------------------------===//
// TransposeOp, ConcatOp, SliceOp
//===----------------------------------------------------------------------===//

static FailureOr<RankedTensorType>
inferTransposeType(EmitErrorFn emitError, Type inputType,
                   ArrayRef<int64_t> permutation) {
  auto input = cast<RankedTensorType>(inputType);
  int64_t rank = input.getRank();
  llvm::SmallBitVector seen(rank);
  bool valid = static_cast<int64_t>(permutation.size()) == rank;
  for (int64_t p : permutation) {
    if (!valid || p < 0 || p >= rank || seen.test(p)) {
      valid = false;
      break;
    }
    seen.set(p);
  }
  if (!valid)
    return emitError() << "permutation " << formatShape(permutation)
                       << " is not a permutation of the " << rank << " dims of "
                       << input;
  SmallVector<int64_t> shape;
  for (int64_t p : permutation)
    shape.push_back(input.getDimSize(p));
  return RankedTensorType::get(shape, input.getElementType());
}

KILN_VERIFY_AND_INFER(TransposeOp,
                      inferTransposeType(emitError, op.getInput().getType(),
                                         op.getPermutation()))

static FailureOr<RankedTensorType>
inferConcatType(EmitErrorFn emitError, TypeRange inputs, int64_t dim) {
  if (inputs.empty())
    return emitError() << "needs at least one input";
  auto first = cast<RankedTensorType>(inputs.front());
  if (failed(checkDim(emitError, "dim", dim, first.getRank())))
    return failure();
  SmallVector<int64_t> shape(first.getShape());
  for (auto [i, type] : llvm::enumerate(inputs.drop_front())) {
    auto t = cast<RankedTensorType>(type);
    if (t.getRank() != first.getRank())
      return emitError() << "input " << i + 1 << " has rank " << t.getRank()
                         << ", input 0 has rank " << first.getRank();
    if (failed(checkSameElementType(emitError, "input 0", first,
                                    "input " + std::to_string(i + 1), t)))
      return failure();
    for (int64_t d = 0; d < t.getRank(); ++d) {
      if (d == dim) {
        shape[d] = ShapedType::isDynamic(shape[d]) || t.isDynamicDim(d)
                       ? ShapedType::kDynamic
                       : shape[d] + t.getDimSize(d);
        continue;
      }
      if (!dimsCompatible(shape[d], t.getDimSize(d)))
        return emitError() << "input " << i + 1 << " "
                           << formatShape(t.getShape())
                           << " differs from input 0 "
                           << formatShape(first.getShape()) << " in dim " << d
                           << " (only dim " << dim << " may differ)";
      shape[d] = mergeDims(shape[d], t.getDimSize(d));
    }
  }
  return RankedTensorType::get(shape, first.getElementType());
}

KILN_VERIFY_AND_INFER(ConcatOp,
                      inferConcatType(emitError, op.getInputs().getTypes(),
                                      op.getDim()))

static FailureOr<RankedTensorType> inferSliceType(EmitErrorFn emitError,
                                                  Type inputType, int64_t dim,
                                                  int64_t start, int64_t end,
                                                  int64_t step) {
  auto input = cast<RankedTensorType>(inputType);
  if (failed(checkDim(emitError, "dim", dim, input.getRank())))
    return failure();
  if (start < 0 || end <= start)
    return emitError() << "needs 0 <= start < end, got [" << start << " : "
                       << end << "]";
  if (step < 1)
    return emitError() << "step must be positive, got " << step;
  int64_t size = input.getDimSize(dim);
  if (!ShapedType::isDynamic(size) && end > size)
    return emitError() << "end " << end << " exceeds size " << size
                       << " of dim " << dim;
  SmallVector<int64_t> shape(input.getShape());
  shape[dim] = (end - start + step - 1) / step;
  return RankedTensorType::get(shape, input.getElementType());
}

KILN_VERIFY_AND_INFER(SliceOp,
                      inferSliceType(emitError, op.getInput().getType(),
                                     op.getDim(), op.getStart(), op.getEnd(),
                                     op.getStep()))

//===----------------------------------------------------------------------===//
// AllReduceOp, AllGatherOp, SendRecvOp
//===----------------------------------------------------------------------===//

static LogicalResult checkGroup(EmitErrorFn emitError, int64_t ranks) {
  if (ranks < 2)
    return emitError() << "needs a group of at least 2 ranks, got " << ranks;
  return success();
}

LogicalResult AllReduceOp::verify() {
  return checkGroup([&] { return emitOpError(); }, getRanks());
}

static FailureOr<RankedTensorType>
inferAllGatherType(EmitErrorFn emitError, Type inputType, int64_t ranks) {
  auto input = cast<RankedTensorType>(inputType);
  if (failed(checkGroup(emitError, ranks)))
    return failure();
  if (input.getRank() == 0)
    return emitError() << "needs an input of rank >= 1";
  SmallVector<int64_t> shape(input.getShape());
  if (ShapedType::isDynamic(shape.back()))
    return emitError() << "needs a static last dim";
  shape.back() *= ranks;
  return RankedTensorType::get(shape, input.getElementType());
}

KILN_VERIFY_AND_INFER(AllGatherOp,
                      inferAllGatherType(emitError, op.getInput().getType(),
                                         op.getRanks()))

LogicalResult SendRecvOp::verify() {
  if (getFrom() < 0 || getTo() <= getFrom() || getTo() >= 64)
    return emitOpError() << "passes values from a stage to a later one "
                            "(of at most 64), got from "
                         << getFrom() << " to " << getTo();
  return success();
}

//===----------------------------------------------------------------------===//
// CausalMaskOp, CacheWriteOp
//===----------------------------------------------------------------------===//

static FailureOr<RankedTensorType>
inferCausalMaskType(EmitErrorFn emitError, Type scoresType, Type offsetsType) {
  auto scores = cast<RankedTensorType>(scoresType);
  if (scores.getRank() < 2)
    return emitError() << "scores must be [..., q_len, k_len], got " << scores;
  if (offsetsType) {
    auto offsets = cast<RankedTensorType>(offsetsType);
    if (scores.getRank() < 3)
      return emitError() << "with offsets, scores must be [batch, ..., "
                            "q_len, k_len], got "
                         << scores;
    if (offsets.getRank() != 1 ||
        !dimsCompatible(offsets.getDimSize(0), scores.getDimSize(0)))
      return emitError() << "offsets must be [batch] = ["
                         << formatShape(scores.getShape().take_front())
                         << "], got " << offsets;
  }
  return scores;
}

KILN_VERIFY_AND_INFER(CausalMaskOp,
                      inferCausalMaskType(emitError, op.getScores().getType(),
                                          typeOrNull(op.getOffsets())))

/// Checks a cache [B, S_max, W] against the new rows [B, S, W] and the
/// per-sequence positions [B].
static LogicalResult checkCacheOperands(EmitErrorFn emitError,
                                        StringRef cacheName,
                                        RankedTensorType cache,
                                        RankedTensorType update,
                                        RankedTensorType positions) {
  if (failed(
          checkRank(emitError, cacheName, cache, 3, "[batch, max_seq, width]")))
    return failure();
  if (update.getRank() != 3 ||
      !dimsCompatible(update.getDimSize(0), cache.getDimSize(0)) ||
      !dimsCompatible(update.getDimSize(2), cache.getDimSize(2)))
    return emitError() << "new rows " << formatShape(update.getShape())
                       << " do not fit " << cacheName << " "
                       << formatShape(cache.getShape())
                       << " (expected [batch, seq, width])";
  if (!cache.isDynamicDim(1) && !update.isDynamicDim(1) &&
      update.getDimSize(1) > cache.getDimSize(1))
    return emitError() << update.getDimSize(1) << " new rows exceed the "
                       << cache.getDimSize(1) << " rows of " << cacheName;
  if (failed(checkSameElementType(emitError, cacheName, cache, "new rows",
                                  update)))
    return failure();
  if (positions.getRank() != 1 ||
      !dimsCompatible(positions.getDimSize(0), cache.getDimSize(0)))
    return emitError() << "positions must be [batch] = ["
                       << formatShape(cache.getShape().take_front())
                       << "], got " << positions;
  return success();
}

static FailureOr<RankedTensorType> inferCacheWriteType(EmitErrorFn emitError,
                                                       Type cache,
                                                       Type positions,
                                                       Type update) {
  if (failed(checkCacheOperands(
          emitError, "cache", cast<RankedTensorType>(cache),
          cast<RankedTensorType>(update), cast<RankedTensorType>(positions))))
    return failure();
  return cast<RankedTensorType>(cache);
}

KILN_VERIFY_AND_INFER(CacheWriteOp,
                      inferCacheWriteType(emitError, op.getCache().getType(),
                                          op.getPositions().getType(),
                                          op.getUpdate().getType()))

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

namespace {
/// The operands and attributes of kiln.attention, independent of whether
/// they come from an op or an adaptor.
struct AttentionOperands {
  RankedTensorType query, key, value;
  RankedTensorType keyMask, bias, kCache, vCache, positions; // may be null
  int64_t numHeads, numKvHeads;
  MaskKind mask;
  std::optional<double> scale;

  template <typename OpOrAdaptor>
  static AttentionOperands from(OpOrAdaptor op) {
    auto typeOf = [](Value v) {
      return v ? cast<RankedTensorType>(v.getType()) : RankedTensorType();
    };
    AttentionOperands a;
    a.query = typeOf(op.getQuery());
    a.key = typeOf(op.getKey());
    a.value = typeOf(op.getValue());
    a.keyMask = typeOf(op.getKeyMask());
    a.bias = typeOf(op.getBias());
    a.kCache = typeOf(op.getKCache());
    a.vCache = typeOf(op.getVCache());
    a.positions = typeOf(op.getPositions());
    a.numHeads = op.getNumHeads();
    a.numKvHeads = op.getNumKvHeads();
    a.mask = op.getMask();
    if (auto scale = op.getScale())
      a.scale = scale->convertToDouble();
    return a;
  }
};
} // namespace

static bool isCausal(MaskKind kind) {
  return kind == MaskKind::Causal || kind == MaskKind::CausalPadding;
}
static bool isPadding(MaskKind kind) {
  return kind == MaskKind::Padding || kind == MaskKind::CausalPadding;
}

static LogicalResult inferAttentionTypes(EmitErrorFn emitError,
                                         const AttentionOperands &a,
                                         SmallVectorImpl<Type> &results) {
  const char *packed = "[batch, seq, heads * head_dim]";
  if (failed(checkRank(emitError, "query", a.query, 3, packed)) ||
      failed(checkRank(emitError, "key", a.key, 3, packed)) ||
      failed(checkRank(emitError, "value", a.value, 3, packed)))
    return failure();
  if (a.numHeads <= 0 || a.numKvHeads <= 0)
    return emitError() << "num_heads (" << a.numHeads << ") and num_kv_heads ("
                       << a.numKvHeads << ") must be positive";
  if (a.numHeads % a.numKvHeads != 0)
    return emitError() << "num_heads (" << a.numHeads
                       << ") must be a multiple of num_kv_heads ("
                       << a.numKvHeads << ")";
  int64_t qHidden = a.query.getDimSize(2);
  if (ShapedType::isDynamic(qHidden))
    return emitError() << "query hidden size must be static, got " << a.query;
  if (qHidden % a.numHeads != 0)
    return emitError() << "query hidden size " << qHidden
                       << " is not divisible by num_heads " << a.numHeads;
  int64_t headDim = qHidden / a.numHeads;
  int64_t kvHidden = a.numKvHeads * headDim;
  if (a.key.getDimSize(2) != kvHidden)
    return emitError() << "key hidden size " << a.key.getDimSize(2)
                       << " must be num_kv_heads * head_dim = " << a.numKvHeads
                       << " * " << headDim << " = " << kvHidden;
  if (a.value.getDimSize(2) != kvHidden)
    return emitError() << "value hidden size " << a.value.getDimSize(2)
                       << " must be num_kv_heads * head_dim = " << kvHidden;
  if (failed(checkSameElementType(emitError, "query", a.query, "key", a.key)) ||
      failed(
          checkSameElementType(emitError, "query", a.query, "value", a.value)))
    return failure();
  int64_t batch = a.query.getDimSize(0);
  for (RankedTensorType t : {a.key, a.value}) {
    if (!dimsCompatible(t.getDimSize(0), batch))
      return emitError() << "batch sizes differ: query "
                         << formatShape(a.query.getShape()) << ", "
                         << formatShape(t.getShape());
    batch = mergeDims(batch, t.getDimSize(0));
  }
  if (!dimsCompatible(a.key.getDimSize(1), a.value.getDimSize(1)))
    return emitError() << "key and value lengths differ: "
                       << formatShape(a.key.getShape()) << " vs "
                       << formatShape(a.value.getShape());

  // The keys attended over: the cache when there is one.
  int64_t keyLen = mergeDims(a.key.getDimSize(1), a.value.getDimSize(1));
  bool anyCache = a.kCache || a.vCache || a.positions;
  if (anyCache) {
    if (!a.kCache || !a.vCache || !a.positions)
      return emitError() << "a kv cache needs k_cache, v_cache and "
                            "positions together";
    if (!isCausal(a.mask))
      return emitError() << "a kv cache needs a causal mask kind, got '"
                         << stringifyMaskKind(a.mask) << "'";
    if (failed(checkCacheOperands(emitError, "k_cache", a.kCache, a.key,
                                  a.positions)) ||
        failed(checkCacheOperands(emitError, "v_cache", a.vCache, a.value,
                                  a.positions)))
      return failure();
    if (a.kCache != a.vCache)
      return emitError() << "k_cache " << a.kCache << " and v_cache "
                         << a.vCache << " must have the same type";
    keyLen = a.kCache.getDimSize(1);
  }

  if (isPadding(a.mask) != static_cast<bool>(a.keyMask)) {
    if (a.keyMask)
      return emitError() << "key_mask given but mask kind '"
                         << stringifyMaskKind(a.mask) << "' does not use one";
    return emitError() << "mask kind '" << stringifyMaskKind(a.mask)
                       << "' needs a key_mask operand";
  }
  if (a.keyMask) {
    if (a.keyMask.getRank() != 2 ||
        !dimsCompatible(a.keyMask.getDimSize(0), batch) ||
        !dimsCompatible(a.keyMask.getDimSize(1), keyLen))
      return emitError() << "key_mask must be [batch, key_len] = "
                         << formatShape({batch, keyLen}) << ", got "
                         << a.keyMask;
  }
  if (a.bias) {
    SmallVector<int64_t> full = {batch, a.numHeads, a.query.getDimSize(1),
                                 keyLen};
    bool fits = a.bias.getRank() == 4;
    for (int64_t d = 0; fits && d < 4; ++d) {
      int64_t b = a.bias.getDimSize(d);
      fits = b == 1 || dimsCompatible(b, full[d]);
    }
    if (!fits)
      return emitError() << "bias " << formatShape(a.bias.getShape())
                         << " does not broadcast to [batch, num_heads, "
                            "q_len, k_len] = "
                         << formatShape(full);
    if (failed(
            checkSameElementType(emitError, "bias", a.bias, "query", a.query)))
      return failure();
  }
  if (a.scale && (!(*a.scale > 0) || !std::isfinite(*a.scale)))
    return emitError() << "scale must be positive and finite, got " << *a.scale;

  results.push_back(a.query);
  if (anyCache) {
    results.push_back(a.kCache);
    results.push_back(a.vCache);
  }
  return success();
}

LogicalResult AttentionOp::verify() {
  SmallVector<Type> expected;
  if (failed(inferAttentionTypes([&] { return emitOpError(); },
                                 AttentionOperands::from(*this), expected)))
    return failure();
  size_t caches = getUpdatedCaches().size();
  if (caches != expected.size() - 1)
    return emitOpError("returns ")
           << caches << " updated caches but "
           << (hasCache() ? "has a kv cache (expected 2)"
                          : "has no kv cache (expected 0)");
  return success();
}

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  return inferAttentionTypes(
      [&] { return emitOptional(loc, getOperationName()); },
      AttentionOperands::from(adaptor), inferred);
}

int64_t AttentionOp::getHeadDim() {
  return getQuery().getType().getDimSize(2) / getNumHeads();
}

double AttentionOp::getScaleOrDefault() {
  if (auto scale = getScale())
    return scale->convertToDouble();
  return 1.0 / std::sqrt(static_cast<double>(getHeadDim()));
}

//===----------------------------------------------------------------------===//
// RotaryOp
//===----------------------------------------------------------------------===//

static FailureOr<RankedTensorType>
inferRotaryType(EmitErrorFn emitError, Type inputType, Type positionsType,
                int64_t numHeads, double theta) {
  auto input = cast<RankedTensorType>(inputType);
  auto positions = cast<RankedTensorType>(positionsType);
  if (failed(checkRank(emitError, "input", input, 3,
                       "[batch, seq, heads * head_dim]")))
    return failure();
  if (numHeads <= 0)
    return emitError() << "num_heads must be positive, got " << numHeads;
  int64_t hidden = input.getDimSize(2);
  if (ShapedType::isDynamic(hidden) || hidden % numHeads != 0 ||
      (hidden / numHeads) % 2 != 0)
    return emitError() << "hidden size " << formatShape({hidden})
                       << " must be num_heads (" << numHeads
                       << ") times an even head_dim";
  ArrayRef<int64_t> expected = input.getShape().take_front(2);
  ArrayRef<int64_t> got = positions.getShape();
  bool fits = (got.size() == 2 && dimsCompatible(got[0], expected[0]) &&
               dimsCompatible(got[1], expected[1])) ||
              (got.size() == 1 && dimsCompatible(got[0], expected[1]));
  if (!fits)
    return emitError() << "positions must be [batch, seq] = "
                       << formatShape(expected) << " or [seq], got "
                       << positions;
  if (!(theta > 0) || !std::isfinite(theta))
    return emitError() << "theta must be positive and finite, got " << theta;
  return input;
}

KILN_VERIFY_AND_INFER(RotaryOp,
                      inferRotaryType(emitError, op.getInput().getType(),
                                      op.getPositions().getType(),
                                      op.getNumHeads(),
                                      op.getTheta().convertToDouble()))

SmallVector<float> RotaryOp::computeInverseFrequencies() {
  int64_t headDim = getInput().getType().getDimSize(2) / getNumHeads();
  float theta = static_cast<float>(getTheta().convertToDouble());
  // As transformers' _compute_default_rope_parameters, in f32:
  // 1 / theta^(arange(0, D, 2) / D).
  SmallVector<float> invFreq;
  for (int64_t i = 0; i < headDim; i += 2)
    invFreq.push_back(1.0f / std::pow(theta, static_cast<float>(i) /
                                                 static_cast<float>(headDim)));
  auto scaling = getScalingAttr();
  if (!scaling)
    return invFreq;
  // As transformers' _compute_llama3_parameters.
  const float pi = 3.14159265358979323846f;
  float factor = scaling.getFactor().convertToDouble();
  float low = scaling.getLowFreqFactor().convertToDouble();
  float high = scaling.getHighFreqFactor().convertToDouble();
  float oldContext =
      static_cast<float>(scaling.getOriginalMaxPositionEmbeddings());
  float lowFreqWavelen = oldContext / low;
  float highFreqWavelen = oldContext / high;
  for (float &f : invFreq) {
    float wavelen = 2 * pi / f;
    float scaled = wavelen > lowFreqWavelen ? f / factor : f;
    float smooth = (oldContext / wavelen - low) / (high - low);
    float smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
    bool medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    f = medium ? smoothed : scaled;
  }
  return invFreq;
}

//===----------------------------------------------------------------------===//
// RelativePositionBiasOp
//===----------------------------------------------------------------------===//

static FailureOr<RankedTensorType>
inferRelativePositionBiasType(EmitErrorFn emitError, Type tableType,
                              Type queryType, Type keyType, bool bidirectional,
                              int64_t numBuckets, int64_t maxDistance) {
  auto table = cast<RankedTensorType>(tableType);
  auto query = cast<RankedTensorType>(queryType);
  auto key = cast<RankedTensorType>(keyType);
  if (failed(checkRank(emitError, "table", table, 2, "[num_buckets, heads]")))
    return failure();
  if (table.getDimSize(0) != numBuckets)
    return emitError() << "table has " << table.getDimSize(0)
                       << " rows but num_buckets is " << numBuckets;
  // T5: bidirectional halves the buckets; half of the rest are exact.
  int64_t maxExact = (bidirectional ? numBuckets / 2 : numBuckets) / 2;
  if (maxExact < 1)
    return emitError() << "num_buckets " << numBuckets << " is too small"
                       << (bidirectional ? " for bidirectional bucketing" : "")
                       << " (needs at least " << (bidirectional ? 4 : 2) << ")";
  if (maxDistance <= maxExact)
    return emitError() << "max_distance " << maxDistance
                       << " must exceed the exact-bucket range " << maxExact;
  if (failed(checkRank(emitError, "query_positions", query, 1, "[q_len]")) ||
      failed(checkRank(emitError, "key_positions", key, 1, "[k_len]")))
    return failure();
  return RankedTensorType::get(
      {1, table.getDimSize(1), query.getDimSize(0), key.getDimSize(0)},
      table.getElementType());
}

KILN_VERIFY_AND_INFER(RelativePositionBiasOp,
                      inferRelativePositionBiasType(
                          emitError, op.getTable().getType(),
                          op.getQueryPositions().getType(),
                          op.getKeyPositions().getType(), op.getBidirectional(),
                          op.getNumBuckets(), op.getMaxDistance()))

#define GET_OP_CLASSES
#include "dialects/kiln/KilnOps.cpp.inc"
