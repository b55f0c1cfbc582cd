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
#include "passes/Transforms/FusionRules.h"

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
             AllReduceOp, AllGatherOp, SendRecvOp, func::ReturnOp>(op);
}

int64_t rankOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getRank();
}
int64_t dim0Of(Value v) {
  return cast<RankedTensorType>(v.getType()).getDimSize(0);
}

/// How a fused region's values are read when the kernel computes rows
/// [begin, end) of its result's dim 0: `Row` values are read at the same
/// row (cut like the result), `Whole` ones at indices that do not follow
/// the row (broadcast operands, an embedding's table).
enum class RowUse { Row, Whole };

/// Split flags of a kiln.fused kernel: each input is cut when the region
/// reads it only row by row, kept whole when it reads it only otherwise;
/// all false when an input is read both ways, or an op's index follows the
/// row in a way a cut would change (an iota along the rows, a reshape or
/// transpose that moves dim 0).
SmallVector<bool> fusedSplitFlags(FusedOp op) {
  SmallVector<bool> none(op->getNumOperands() + op->getNumResults(), false);
  Block &body = op.getBody().front();
  auto yielded = cast<YieldOp>(body.getTerminator()).getValues();
  if (rankOf(yielded.front()) == 0)
    return none;
  DenseMap<Value, unsigned> uses; // bit 0: Row, bit 1: Whole
  SmallVector<std::pair<Value, RowUse>> work;
  for (Value v : yielded)
    work.push_back({v, RowUse::Row});
  while (!work.empty()) {
    auto [v, use] = work.pop_back_val();
    unsigned bit = use == RowUse::Row ? 1 : 2;
    if (uses[v] & bit)
      continue;
    uses[v] |= bit;
    Operation *def = v.getDefiningOp();
    if (!def)
      continue;
    auto push = [&](Value operand, RowUse u) { work.push_back({operand, u}); };
    if (use == RowUse::Whole) {
      for (Value operand : def->getOperands())
        push(operand, RowUse::Whole);
      continue;
    }
    bool ok = llvm::TypeSwitch<Operation *, bool>(def)
                  .Case([&](ConstantOp) { return true; })
                  .Case([&](IotaOp) { return false; })
                  .Case([&](SliceOp o) {
                    push(o.getInput(), RowUse::Row);
                    return o.getDim() != 0;
                  })
                  .Case([&](ConcatOp o) {
                    for (Value input : o.getInputs())
                      push(input, RowUse::Row);
                    return o.getDim() != 0;
                  })
                  .Case([&](TransposeOp o) {
                    push(o.getInput(), RowUse::Row);
                    return o.getPermutation()[0] == 0;
                  })
                  .Case([&](ReshapeOp o) {
                    auto groups = reshapeGroups(
                        cast<RankedTensorType>(o.getInput().getType()),
                        cast<RankedTensorType>(o.getType()));
                    push(o.getInput(), RowUse::Row);
                    return groups && groups->groups.front().size() == 1;
                  })
                  .Case([&](EmbeddingOp o) {
                    push(o.getTable(), RowUse::Whole);
                    push(o.getIndices(), RowUse::Row);
                    return rankOf(o.getIndices()) >= 1;
                  })
                  .Default([&](Operation *) {
                    // Elementwise: same-rank operands that do not broadcast dim
                    // 0 follow the row.
                    Value result = def->getResult(0);
                    for (Value operand : def->getOperands()) {
                      bool row = rankOf(operand) == rankOf(result) &&
                                 !(dim0Of(operand) == 1 && dim0Of(result) != 1);
                      push(operand, row ? RowUse::Row : RowUse::Whole);
                    }
                    return true;
                  });
    if (!ok)
      return none;
  }
  SmallVector<bool> flags;
  for (BlockArgument arg : body.getArguments()) {
    unsigned u = uses.lookup(arg);
    if (u == 3)
      return none;
    flags.push_back(u == 1);
  }
  flags.append(op->getNumResults(), true);
  return flags;
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
  if (auto fused = dyn_cast<FusedOp>(op))
    return fusedSplitFlags(fused);
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

/// A kernel's name after its op; a fused kernel after the op it yields
/// ("fused_add").
std::string kernelName(Operation *op) {
  if (auto fused = dyn_cast<FusedOp>(op)) {
    Operation *root = cast<YieldOp>(fused.getBody().front().getTerminator())
                          .getValues()
                          .front()
                          .getDefiningOp();
    return root ? "fused_" + root->getName().stripDialect().str() : "fused";
  }
  return op->getName().stripDialect().str();
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
        if (op->getNumResults() != 1 && !isa<FusedOp>(op)) {
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
          kernel.setName(builder.getStringAttr(
              "kernel_" + std::to_string(counter++) + "_" + kernelName(op)));
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
