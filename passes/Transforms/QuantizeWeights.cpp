//===- QuantizeWeights.cpp - int8/int4 kiln.linear weights ---------------===//
//
// See KilnQuantizeWeights in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"
#include "support/Quantize.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringSet.h"

namespace kiln {
#define GEN_PASS_DEF_KILNQUANTIZEWEIGHTS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

constexpr llvm::StringLiteral kQuantError = "kiln.quant_error";
constexpr llvm::StringLiteral kSmooth = "kiln.smooth";

struct KilnQuantizeWeightsPass
    : public impl::KilnQuantizeWeightsBase<KilnQuantizeWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (bits != 8 && bits != 4) {
      getOperation()->emitError()
          << "kiln-quantize-weights: bits must be 8 or 4, got "
          << bits.getValue();
      return signalPassFailure();
    }
    if (group < 0 || group % 32 != 0) {
      getOperation()->emitError() << "kiln-quantize-weights: group must be 0 "
                                     "or a positive multiple of 32, got "
                                  << group.getValue();
      return signalPassFailure();
    }
    if (actBits != 0 && (actBits != 8 || bits != 8 || group != 0)) {
      getOperation()->emitError()
          << "kiln-quantize-weights: act-bits must be 0, or 8 with bits=8 "
             "and group=0 (one scale per output channel), got "
          << actBits.getValue();
      return signalPassFailure();
    }
    excluded_.clear();
    for (const std::string &name : exclude)
      excluded_.insert(name);
    getOperation().walk([&](LinearOp linear) {
      quantize(linear);
      linear->removeAttr(kQuantError);
      linear->removeAttr(kSmooth);
    });
    // Float reads no linear needs any more.
    getOperation().walk([](ParamOp param) {
      if (param->use_empty())
        param->erase();
    });
  }

  /// Points `linear` at a quantized read of its weight, unless the weight
  /// is not a checkpoint tensor, is excluded, or fails the guardrail.
  void quantize(LinearOp linear) {
    auto param = linear.getWeight().getDefiningOp<ParamOp>();
    if (!param || param.getQuantAttr())
      return;
    auto type = cast<RankedTensorType>(param.getType());
    if (type.getRank() != 2 || !isa<FloatType>(type.getElementType()) ||
        excluded_.contains(param.getName()))
      return;
    if (auto error = linear->getAttrOfType<FloatAttr>(kQuantError);
        error && tolerance > 0 && error.getValueAsDouble() > tolerance) {
      linear.emitRemark() << "weight '" << param.getName()
                          << "' stays in float: its output error under "
                          << bits.getValue() << "-bit weights is "
                          << error.getValueAsDouble() << ", over the tolerance "
                          << tolerance.getValue();
      return;
    }
    const bool inOut = linear.getLayout() == WeightLayout::InOut;
    const int64_t k = type.getDimSize(inOut ? 0 : 1);
    const int64_t asked = group ? group.getValue() : defaultQuantGroup(bits);
    const int64_t features = asked <= 0 ? k : std::min(asked, k);
    auto smooth = actBits ? linear->getAttrOfType<DenseFPElementsAttr>(kSmooth)
                          : DenseFPElementsAttr();
    // The whole weight's factors (a row-parallel rank uses its part).
    const int64_t wholeK = wholeInputFeatures(param, inOut ? 0 : 1);
    if (smooth && smooth.getNumElements() != wholeK) {
      linear.emitError() << "kiln.smooth has " << smooth.getNumElements()
                         << " factors for " << wholeK << " input features";
      return signalPassFailure();
    }
    auto quant = QuantAttr::get(&getContext(), bits, features, inOut ? 1 : 0,
                                actBits, smooth);
    OpBuilder b(param);
    auto quantized = ParamOp::create(
        b, param.getLoc(), type, param.getNameAttr(), param.getPartsAttr(),
        param.getKeepAttr(), param.getPruneAttr(), quant, param.getShardAttr());
    linear.getWeightMutable().assign(quantized.getResult());
  }

  llvm::StringSet<> excluded_;
};

} // namespace
} // namespace kiln
