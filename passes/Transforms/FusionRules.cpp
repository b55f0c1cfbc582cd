//===- FusionRules.cpp - which kiln ops one fused kernel can compute ------===//

#include "passes/Transforms/FusionRules.h"

#include "dialects/kiln/KilnOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace kiln {

std::optional<ReshapeGroups> reshapeGroups(RankedTensorType source,
                                           RankedTensorType target) {
  ReshapeGroups r;
  r.collapse = source.getRank() > target.getRank();
  RankedTensorType wide = r.collapse ? source : target;
  RankedTensorType narrow = r.collapse ? target : source;
  if (source.getRank() == target.getRank()) {
    if (source.getShape() != target.getShape())
      return std::nullopt;
    for (int64_t d = 0; d < source.getRank(); ++d)
      r.groups.push_back({d});
    return r;
  }
  auto groups = reshapeGrouping(wide.getShape(), narrow.getShape());
  if (!groups)
    return std::nullopt;
  for (const ReassociationIndices &group : *groups)
    for (size_t i = 1; i < group.size(); ++i)
      if (wide.isDynamicDim(group[i]))
        return std::nullopt;
  r.groups = std::move(*groups);
  return r;
}

bool isFusible(Operation *op) {
  return llvm::TypeSwitch<Operation *, bool>(op)
      .Case<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, CompareOp, SelectOp,
            NegOp, AbsOp, ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp, SinOp, CosOp,
            ReluOp, SiluOp, GeluOp, CastOp, IotaOp, TransposeOp, SliceOp,
            EmbeddingOp>([](Operation *) { return true; })
      .Case([](ConstantOp o) {
        return cast<RankedTensorType>(o.getType()).hasStaticShape();
      })
      .Case([](ConcatOp o) {
        for (Value input : o.getInputs())
          if (cast<RankedTensorType>(input.getType()).isDynamicDim(o.getDim()))
            return false;
        return true;
      })
      .Case([](ReshapeOp o) {
        return reshapeGroups(cast<RankedTensorType>(o.getInput().getType()),
                             cast<RankedTensorType>(o.getType()))
            .has_value();
      })
      .Default([](Operation *) { return false; });
}

} // namespace kiln
