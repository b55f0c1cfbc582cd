//===- KilnDialect.cpp - kiln dialect registration and attributes ---------===//
//
// Registers the ops and attributes of the kiln dialect, materializes folded
// constants as `kiln.constant`, and parses/prints `#kiln.rope_llama3`.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnDialect.h"

#include "dialects/kiln/KilnOps.h"
#include "support/Shard.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace kiln;

#include "dialects/kiln/KilnDialect.cpp.inc"
#include "dialects/kiln/KilnEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/kiln/KilnAttrs.cpp.inc"

void KilnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/kiln/KilnOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/kiln/KilnAttrs.cpp.inc"
      >();
}

Operation *KilnDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                            Type type, Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, elements);
}

//===----------------------------------------------------------------------===//
// #kiln.rope_llama3<factor = F, low_freq_factor = F, high_freq_factor = F,
//                   original_max_position_embeddings = N>
//===----------------------------------------------------------------------===//

Attribute RopeLlama3ScalingAttr::parse(AsmParser &parser, Type) {
  double factor = 0, low = 0, high = 0;
  int64_t originalMax = 0;
  auto parseField = [&](StringRef name, auto &value) -> ParseResult {
    return failure(parser.parseKeyword(name) || parser.parseEqual() ||
                   parser.parseFloat(value));
  };
  if (parser.parseLess() || parseField("factor", factor) ||
      parser.parseComma() || parseField("low_freq_factor", low) ||
      parser.parseComma() || parseField("high_freq_factor", high) ||
      parser.parseComma() ||
      parser.parseKeyword("original_max_position_embeddings") ||
      parser.parseEqual() || parser.parseInteger(originalMax) ||
      parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                    parser.getContext(), llvm::APFloat(factor),
                    llvm::APFloat(low), llvm::APFloat(high), originalMax);
}

void RopeLlama3ScalingAttr::print(AsmPrinter &printer) const {
  printer << "<factor = ";
  printer.printFloat(getFactor());
  printer << ", low_freq_factor = ";
  printer.printFloat(getLowFreqFactor());
  printer << ", high_freq_factor = ";
  printer.printFloat(getHighFreqFactor());
  printer << ", original_max_position_embeddings = "
          << getOriginalMaxPositionEmbeddings() << ">";
}

LogicalResult QuantAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t bits, int64_t group, int64_t axis,
                                int64_t actBits, DenseFPElementsAttr smooth) {
  if (bits != 8 && bits != 4)
    return emitError() << "quant bits must be 8 or 4, got " << bits;
  if (group <= 0)
    return emitError() << "quant group must be positive, got " << group;
  if (axis != 0 && axis != 1)
    return emitError() << "quant axis must be 0 or 1, got " << axis;
  if (actBits != 0 && actBits != 8)
    return emitError() << "quant act_bits must be 0 (weights only) or 8, got "
                       << actBits;
  if (actBits && bits != 8)
    return emitError() << "quant act_bits = 8 needs 8-bit weights, got "
                       << bits;
  if (smooth) {
    if (!actBits)
      return emitError() << "quant smooth factors need act_bits = 8";
    if (smooth.getType().getRank() != 1 || !smooth.getElementType().isF32())
      return emitError() << "quant smooth must be a 1-D f32 tensor, got "
                         << smooth.getType();
    for (float s : smooth.getValues<float>())
      if (!(s > 0) || !std::isfinite(s))
        return emitError() << "quant smooth factors must be positive and "
                              "finite, got "
                           << s;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// #kiln.prune<n = N, m = M, axis = A> | <fraction = F> | <threshold = T>
//===----------------------------------------------------------------------===//

Attribute PruneAttr::parse(AsmParser &parser, Type) {
  int64_t n = 0, m = 0, axis = 0;
  double fraction = 0, threshold = 0;
  DenseF32ArrayAttr scale;
  auto error = [&] { return parser.emitError(parser.getNameLoc()); };
  if (parser.parseLess())
    return {};
  bool magnitude = false;
  if (succeeded(parser.parseOptionalKeyword("fraction"))) {
    magnitude = true;
    if (parser.parseEqual() || parser.parseFloat(fraction))
      return {};
  } else if (succeeded(parser.parseOptionalKeyword("threshold"))) {
    magnitude = true;
    if (parser.parseEqual() || parser.parseFloat(threshold))
      return {};
  } else if (parser.parseKeyword("n") || parser.parseEqual() ||
             parser.parseInteger(n) || parser.parseComma() ||
             parser.parseKeyword("m") || parser.parseEqual() ||
             parser.parseInteger(m) || parser.parseComma() ||
             parser.parseKeyword("axis") || parser.parseEqual() ||
             parser.parseInteger(axis)) {
    return {};
  }
  // Activation-aware: unstructured names its input-feature axis first.
  if (succeeded(parser.parseOptionalComma())) {
    if (magnitude && (parser.parseKeyword("axis") || parser.parseEqual() ||
                      parser.parseInteger(axis) || parser.parseComma()))
      return {};
    Attribute parsed;
    if (parser.parseKeyword("scale") || parser.parseEqual() ||
        parser.parseAttribute(parsed))
      return {};
    scale = dyn_cast<DenseF32ArrayAttr>(parsed);
    if (!scale) {
      parser.emitError(parser.getNameLoc(),
                       "prune scale must be an array<f32: ...>");
      return {};
    }
  }
  if (parser.parseGreater())
    return {};
  return getChecked(error, parser.getContext(), n, m, axis,
                    llvm::APFloat(fraction), llvm::APFloat(threshold), scale);
}

void PruneAttr::print(AsmPrinter &printer) const {
  if (isSemiStructured()) {
    printer << "<n = " << getN() << ", m = " << getM()
            << ", axis = " << getAxis();
  } else {
    const bool bound = !getThreshold().isZero();
    printer << (bound ? "<threshold = " : "<fraction = ");
    printer.printFloat(bound ? getThreshold() : getFraction());
    if (getScale())
      printer << ", axis = " << getAxis();
  }
  if (getScale()) {
    printer << ", scale = ";
    printer.printAttribute(getScale());
  }
  printer << ">";
}

LogicalResult PruneAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t n, int64_t m, int64_t axis,
                                llvm::APFloat fractionValue,
                                llvm::APFloat thresholdValue,
                                DenseF32ArrayAttr scale) {
  double fraction = fractionValue.convertToDouble();
  double threshold = thresholdValue.convertToDouble();
  if (scale) {
    if (axis != 0 && axis != 1)
      return emitError() << "prune axis must be 0 or 1, got " << axis;
    for (float s : scale.asArrayRef())
      if (!(s >= 0) || std::isinf(s))
        return emitError() << "prune scale factors must be finite and >= 0, "
                              "got "
                           << s;
  }
  if (m > 0) {
    if (n <= 0 || n >= m)
      return emitError() << "prune needs 0 < n < m, got n = " << n
                         << ", m = " << m;
    if (axis != 0 && axis != 1)
      return emitError() << "prune axis must be 0 or 1, got " << axis;
    if (fraction != 0 || threshold != 0)
      return emitError() << "n:m pruning takes no fraction or threshold";
    return success();
  }
  if (n != 0 || m != 0)
    return emitError() << "prune needs 0 < n < m, got n = " << n
                       << ", m = " << m;
  if (!(fraction >= 0 && fraction < 1))
    return emitError() << "prune fraction must be in [0, 1), got " << fraction;
  if (!(threshold >= 0) || std::isinf(threshold))
    return emitError() << "prune threshold must be finite and >= 0, got "
                       << threshold;
  if (fraction != 0 && threshold != 0)
    return emitError() << "prune takes a fraction or a threshold, not both";
  return success();
}

//===----------------------------------------------------------------------===//
// #kiln.keep<axis = A, indices = [I, ...]>
//===----------------------------------------------------------------------===//

Attribute KeepAttr::parse(AsmParser &parser, Type) {
  int64_t axis = 0;
  SmallVector<int64_t> indices;
  if (parser.parseLess() || parser.parseKeyword("axis") ||
      parser.parseEqual() || parser.parseInteger(axis) || parser.parseComma() ||
      parser.parseKeyword("indices") || parser.parseEqual() ||
      parser.parseCommaSeparatedList(
          AsmParser::Delimiter::Square,
          [&] { return parser.parseInteger(indices.emplace_back()); }) ||
      parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                    parser.getContext(), axis, indices);
}

void KeepAttr::print(AsmPrinter &printer) const {
  printer << "<axis = " << getAxis() << ", indices = [";
  llvm::interleaveComma(getIndices(), printer);
  printer << "]>";
}

LogicalResult KeepAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               int64_t axis, ArrayRef<int64_t> indices) {
  if (axis < 0)
    return emitError() << "keep axis must be >= 0, got " << axis;
  if (indices.empty())
    return emitError() << "keep needs at least one index";
  for (size_t i = 0; i < indices.size(); ++i)
    if (indices[i] < 0 || (i > 0 && indices[i] <= indices[i - 1]))
      return emitError() << "keep indices must be ascending and >= 0";
  return success();
}

LogicalResult ShardAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t axis, int64_t sections, int64_t parts,
                                int64_t replicas, int64_t pad) {
  if (axis < 0)
    return emitError() << "shard axis must be >= 0, got " << axis;
  if (sections < 1 || parts < 1 || replicas < 1)
    return emitError() << "shard sections, parts and replicas must be >= 1";
  if (parts * replicas < 2)
    return emitError() << "a shard needs a group of at least 2 ranks";
  if (pad < 0 || pad >= parts || (pad > 0 && sections != 1))
    return emitError() << "shard pad must be in [0, parts) and needs one "
                          "section, got pad "
                       << pad << " with " << parts << " parts and " << sections
                       << " sections";
  return success();
}

SmallVector<int64_t> ShardAttr::indicesFor(int64_t rank,
                                           int64_t wholeSize) const {
  std::vector<int64_t> indices = shardIndices(
      rank, wholeSize, getSections(), getParts(), getReplicas(), getPad());
  return SmallVector<int64_t>(indices.begin(), indices.end());
}

LogicalResult RopeLlama3ScalingAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, llvm::APFloat factorValue,
    llvm::APFloat lowFreqFactorValue, llvm::APFloat highFreqFactorValue,
    int64_t originalMaxPositionEmbeddings) {
  double factor = factorValue.convertToDouble();
  double lowFreqFactor = lowFreqFactorValue.convertToDouble();
  double highFreqFactor = highFreqFactorValue.convertToDouble();
  if (!(factor > 0))
    return emitError() << "rope_llama3 factor must be positive, got " << factor;
  if (!(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor))
    return emitError() << "rope_llama3 needs 0 < low_freq_factor < "
                          "high_freq_factor, got "
                       << lowFreqFactor << " and " << highFreqFactor;
  if (originalMaxPositionEmbeddings <= 0)
    return emitError()
           << "rope_llama3 original_max_position_embeddings must be "
              "positive, got "
           << originalMaxPositionEmbeddings;
  return success();
}
