//===- KilnDialect.cpp - kiln dialect registration and attributes ---------===//
//
// Registers the ops and attributes of the kiln dialect, materializes folded
// constants as `kiln.constant`, and parses/prints `#kiln.rope_llama3`.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnDialect.h"
#include "dialects/kiln/KilnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

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
                                int64_t bits, int64_t group, int64_t axis) {
  if (bits != 8 && bits != 4)
    return emitError() << "quant bits must be 8 or 4, got " << bits;
  if (group <= 0)
    return emitError() << "quant group must be positive, got " << group;
  if (axis != 0 && axis != 1)
    return emitError() << "quant axis must be 0 or 1, got " << axis;
  return success();
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
