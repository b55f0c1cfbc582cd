//===- WeightNarrowing.cpp - gemm weights stored in half precision --------===//

#include "passes/StepList/WeightNarrowing.h"

#include "dialects/kiln/KilnOps.h"
#include "support/Half.h"
#include "support/SafeTensors.h"

using namespace mlir;

namespace kiln {

std::set<std::string> gemmOnlyWeights(ModuleOp stepModule) {
  std::set<std::string> gemmOnly, other;
  stepModule.walk([&](ParamOp param) {
    std::string name = param.getName().str();
    for (OpOperand &use : param->getUses()) {
      bool rhs = use.getOperandNumber() == 1 &&
                 isa<MatmulOp, LinearOp>(use.getOwner());
      (rhs ? gemmOnly : other).insert(name);
    }
  });
  for (const std::string &name : other)
    gemmOnly.erase(name);
  return gemmOnly;
}

std::vector<uint16_t> narrowWeight(const TensorView &weight, bool bf16) {
  std::vector<uint16_t> narrowed;
  narrowed.reserve(weight.numElements());
  for (float x : weight.toFloat())
    narrowed.push_back(bf16 ? floatToBf16(x) : floatToHalf(x));
  return narrowed;
}

} // namespace kiln
