//===- OutlineKernels.cpp - the step list: one function per kernel op -----===//
//
// Every op of an entry function that is neither a library step (matmul or
// linear -> gemm, attention -> attention, layer/rms norm -> norm) nor a
// weight becomes a call to a
// private kernel function holding that op alone. Kernels are deduplicated by
// their printed body (op, attributes, types), so a 12-layer model compiles each
// distinct kernel once. Each kernel also records which of its buffers a
// work range [begin, end) of the result's dim 0 cuts (`kiln.split`).
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/TypeSwitch.h"

namespace kiln {
#define GEN_PASS_DEF_KILNOUTLINEKERNELS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

bool isLibraryOrLeaf(Operation *op) {
  return isa<ParamOp, MatmulOp, LinearOp, AttentionOp, LayerNormOp, RmsNormOp,
             func::ReturnOp>(op);
}

int64_t rankOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getRank();
}
int64_t dim0Of(Value v) {
  return cast<RankedTensorType>(v.getType()).getDimSize(0);
}

/// Whether each operand, then the result, is cut along dim 0 by a work range
/// over the result's dim 0; all false when the op cannot be split so.
SmallVector<bool> splitFlags(Operation *op) {
  SmallVector<bool> flags(op->getNumOperands() + op->getNumResults(), false);
  Value result = op->getResult(0);
  int64_t rank = rankOf(result);
  if (rank == 0)
    return flags;
  auto splitOperand = [&](unsigned i) { flags[i] = true; };
  // An elementwise operand follows the result's dim 0 unless it is missing
  // that dim or broadcasts a static 1.
  auto elementwise = [&]() {
    for (auto [i, operand] : llvm::enumerate(op->getOperands()))
      if (rankOf(operand) == rank &&
          !(dim0Of(operand) == 1 && dim0Of(result) != 1))
        splitOperand(i);
    return true;
  };
  bool splittable =
      llvm::TypeSwitch<Operation *, bool>(op)
          .Case<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, CompareOp, SelectOp,
                NegOp, AbsOp, ExpOp, LogOp, SqrtOp, RsqrtOp, TanhOp, SinOp,
                CosOp, ReluOp, SiluOp, GeluOp, CastOp>(
              [&](Operation *) { return elementwise(); })
          .Case([&](SoftmaxOp o) {
            if (rank < 2 || o.getDim() == 0)
              return false;
            splitOperand(0);
            return true;
          })
          .Case<LayerNormOp, RmsNormOp>([&](Operation *) {
            if (rank < 2)
              return false;
            splitOperand(0); // scale and bias are whole
            return true;
          })
          .Case([&](ReduceOp o) {
            if (llvm::is_contained(o.getDims(), 0))
              return false;
            splitOperand(0);
            return true;
          })
          .Case([&](EmbeddingOp) {
            splitOperand(1); // ids; the table is whole
            return rank >= 2;
          })
          .Case([&](TransposeOp o) {
            if (o.getPermutation()[0] != 0)
              return false;
            splitOperand(0);
            return true;
          })
          .Case([&](ConcatOp o) {
            if (o.getDim() == 0)
              return false;
            for (unsigned i = 0; i < op->getNumOperands(); ++i)
              splitOperand(i);
            return true;
          })
          .Case([&](SliceOp o) {
            if (o.getDim() == 0)
              return false;
            splitOperand(0);
            return true;
          })
          .Case([&](CausalMaskOp) {
            if (rank < 3)
              return false;
            for (unsigned i = 0; i < op->getNumOperands(); ++i)
              splitOperand(i);
            return true;
          })
          .Case([&](CacheWriteOp) {
            for (unsigned i = 0; i < op->getNumOperands(); ++i)
              splitOperand(i);
            return true;
          })
          .Default([](Operation *) { return false; });
  if (!splittable)
    return SmallVector<bool>(flags.size(), false);
  flags.back() = true;
  return flags;
}

struct KilnOutlineKernelsPass
    : public impl::KilnOutlineKernelsBase<KilnOutlineKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder builder(&getContext());
    llvm::StringMap<func::FuncOp> kernels; // printed body -> kernel
    unsigned counter = 0;

    SmallVector<func::FuncOp> entries;
    for (auto fn : module.getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isExternal())
        entries.push_back(fn);

    for (func::FuncOp entry : entries) {
      SmallVector<Operation *> ops;
      for (Operation &op : entry.getBody().front())
        if (!isLibraryOrLeaf(&op))
          ops.push_back(&op);
      for (Operation *op : ops) {
        if (op->getNumResults() != 1) {
          op->emitOpError("cannot be outlined as a kernel: it has ")
              << op->getNumResults() << " results";
          return signalPassFailure();
        }
        // The candidate kernel: the op alone, operands as arguments.
        builder.setInsertionPoint(entry);
        auto type = builder.getFunctionType(op->getOperandTypes(),
                                            op->getResultTypes());
        auto kernel =
            func::FuncOp::create(builder, op->getLoc(), "kernel", type);
        kernel.setPrivate();
        Block *body = kernel.addEntryBlock();
        OpBuilder inner = OpBuilder::atBlockBegin(body);
        IRMapping mapping;
        mapping.map(op->getOperands(), body->getArguments());
        Operation *clone = inner.clone(*op, mapping);
        func::ReturnOp::create(inner, op->getLoc(), clone->getResults());

        std::string key;
        llvm::raw_string_ostream os(key);
        // Printed while every candidate is still named "kernel", and without
        // locations, so equal ops give equal keys.
        kernel->print(os, OpPrintingFlags()
                              .printGenericOpForm()
                              .useLocalScope()
                              .enableDebugInfo(false));
        func::FuncOp &existing = kernels[key];
        if (existing) {
          kernel.erase();
        } else {
          kernel.setName(
              builder.getStringAttr("kernel_" + std::to_string(counter++) +
                                    "_" + op->getName().stripDialect().str()));
          kernel->setAttr("kiln.kernel", builder.getUnitAttr());
          kernel->setAttr("kiln.split",
                          builder.getDenseBoolArrayAttr(splitFlags(op)));
          SmallVector<Type> buffers(op->getOperandTypes());
          llvm::append_range(buffers, op->getResultTypes());
          kernel->setAttr("kiln.buffers", builder.getTypeArrayAttr(buffers));
          existing = kernel;
        }
        builder.setInsertionPoint(op);
        auto call = func::CallOp::create(builder, op->getLoc(), existing,
                                         op->getOperands());
        op->replaceAllUsesWith(call.getResults());
        op->erase();
      }
    }
  }
};

} // namespace
} // namespace kiln
