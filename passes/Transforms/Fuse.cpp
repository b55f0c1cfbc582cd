//===- Fuse.cpp - elementwise and index-map chains into kiln.fused --------===//
//
// See KilnFuse in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnOps.h"
#include "passes/Passes.h"
#include "passes/Transforms/FusionRules.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

namespace kiln {
#define GEN_PASS_DEF_KILNFUSE
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

/// The fusible ops `op` reads, transitively, in one block: what cloning it
/// into a consumer's region duplicates.
int64_t coneSize(Operation *op, int64_t limit) {
  llvm::SetVector<Operation *> cone;
  SmallVector<Operation *> work = {op};
  while (!work.empty() && static_cast<int64_t>(cone.size()) <= limit) {
    Operation *o = work.pop_back_val();
    if (!cone.insert(o))
      continue;
    for (Value v : o->getOperands())
      if (Operation *def = v.getDefiningOp();
          def && def->getBlock() == op->getBlock() && isFusible(def))
        work.push_back(def);
  }
  return cone.size();
}

bool allUsersFusible(Operation *op) {
  for (Operation *user : op->getUsers())
    if (!isFusible(user) || user->getBlock() != op->getBlock())
      return false;
  return !op->use_empty();
}

struct KilnFusePass : public impl::KilnFuseBase<KilnFusePass> {
  using Base::Base;

  void runOnOperation() override {
    getOperation()->walk([&](func::FuncOp fn) {
      if (fn.isExternal())
        return;
      Block &block = fn.getBody().front();
      duplicateSharedProducers(block);
      formRegions(block);
      mergeSiblings(block);
    });
  }

  /// A fusible op read by several fusible ops is cloned for each (when its
  /// cone is small), so every consumer's region can compute it: recomputing
  /// a few flops per element is far cheaper than writing and reading the
  /// tensor (rotary's cos/sin tables, position ids).
  void duplicateSharedProducers(Block &block) {
    SmallVector<Operation *> ops;
    for (Operation &op : block)
      ops.push_back(&op);
    for (Operation *op : llvm::reverse(ops)) {
      if (!isFusible(op) || op->hasOneUse() || !allUsersFusible(op) ||
          coneSize(op, maxDuplicated) > maxDuplicated)
        continue;
      OpBuilder b(op);
      SmallVector<OpOperand *> uses;
      for (OpOperand &use : op->getUses())
        uses.push_back(&use);
      for (OpOperand *use : llvm::drop_begin(uses)) {
        Operation *copy = b.clone(*op);
        use->set(copy->getResult(0));
      }
    }
  }

  /// Each fusible op whose result is not read by exactly one fusible op is
  /// a root; its region is every fusible op that feeds it through
  /// single-use results. A root with nothing to fuse stays as it is.
  void formRegions(Block &block) {
    SmallVector<Operation *> roots;
    for (Operation &op : block)
      if (isFusible(&op) && op.getNumResults() == 1 &&
          !(op.hasOneUse() && isFusible(*op.getUsers().begin()) &&
            op.getUsers().begin()->getBlock() == &block))
        roots.push_back(&op);
    for (Operation *root : roots) {
      llvm::SetVector<Operation *> members;
      SmallVector<Operation *> work = {root};
      while (!work.empty()) {
        Operation *op = work.pop_back_val();
        if (!members.insert(op))
          continue;
        for (Value v : op->getOperands()) {
          Operation *def = v.getDefiningOp();
          if (def && def->getBlock() == &block && isFusible(def) &&
              def->hasOneUse() && static_cast<int64_t>(members.size()) < maxOps)
            work.push_back(def);
        }
      }
      if (members.size() < 2)
        continue;
      wrap(root, members);
    }
  }

  /// Whether `op` is one kernel after fusion: a region, or a fusible op
  /// left alone.
  static bool isKernel(Operation *op) {
    return isa<FusedOp>(op) || (isFusible(op) && op->getNumResults() == 1);
  }
  static ArrayRef<int64_t> shapeOf(Operation *op) {
    return cast<RankedTensorType>(op->getResult(0).getType()).getShape();
  }

  /// Sibling kernels that read a common input and write results of one
  /// shape become one multi-result kiln.fused: one launch over one index
  /// space (GPT-2's q, k and v slices of the fused projection). They are
  /// merged at the last one's place, so every use of the others' results
  /// must come after it.
  void mergeSiblings(Block &block) {
    SmallVector<Operation *> kernels;
    for (Operation &op : block)
      if (isKernel(&op))
        kernels.push_back(&op);
    llvm::DenseSet<Operation *> merged;
    for (size_t i = 0; i < kernels.size(); ++i) {
      if (merged.contains(kernels[i]))
        continue;
      SmallVector<Operation *> group = {kernels[i]};
      llvm::SetVector<Value> inputs(kernels[i]->operand_begin(),
                                    kernels[i]->operand_end());
      for (size_t j = i + 1; j < kernels.size(); ++j) {
        Operation *next = kernels[j];
        if (merged.contains(next) || shapeOf(next) != shapeOf(group.front()))
          continue;
        if (llvm::none_of(next->getOperands(),
                          [&](Value v) { return inputs.contains(v); }))
          continue;
        bool usesAfter = llvm::all_of(group, [&](Operation *member) {
          return llvm::all_of(member->getUsers(), [&](Operation *user) {
            return user->getBlock() == &block && user != next &&
                   next->isBeforeInBlock(user);
          });
        });
        if (!usesAfter)
          continue;
        group.push_back(next);
        inputs.insert(next->operand_begin(), next->operand_end());
      }
      if (group.size() < 2)
        continue;
      for (Operation *op : group)
        merged.insert(op);
      mergeGroup(group, inputs);
    }
  }

  void mergeGroup(ArrayRef<Operation *> group,
                  const llvm::SetVector<Value> &inputs) {
    SmallVector<Location> locations;
    SmallVector<Type> types;
    for (Operation *op : group) {
      locations.push_back(op->getLoc());
      llvm::append_range(types, op->getResultTypes());
    }
    OpBuilder b(group.back());
    Location loc = b.getFusedLoc(locations);
    auto fused = FusedOp::create(b, loc, types, inputs.getArrayRef());
    Block *body = b.createBlock(&fused.getBody());
    IRMapping outer; // inputs -> block arguments
    for (Value input : inputs)
      outer.map(input, body->addArgument(input.getType(), input.getLoc()));
    b.setInsertionPointToEnd(body);
    SmallVector<Value> yielded;
    for (Operation *op : group) {
      if (auto region = dyn_cast<FusedOp>(op)) {
        Block &inner = region.getBody().front();
        IRMapping mapping;
        for (auto [arg, input] :
             llvm::zip(inner.getArguments(), region.getInputs()))
          mapping.map(arg, outer.lookup(input));
        for (Operation &nested : inner.without_terminator())
          b.clone(nested, mapping);
        for (Value v : cast<YieldOp>(inner.getTerminator()).getValues())
          yielded.push_back(mapping.lookup(v));
      } else {
        yielded.push_back(b.clone(*op, outer)->getResult(0));
      }
    }
    YieldOp::create(b, loc, yielded);
    unsigned next = 0;
    for (Operation *op : group)
      for (Value result : op->getResults())
        result.replaceAllUsesWith(fused.getResult(next++));
    for (Operation *op : group)
      op->erase();
  }

  /// Moves `members` (in block order) into a kiln.fused at `root`'s place.
  void wrap(Operation *root, const llvm::SetVector<Operation *> &members) {
    SmallVector<Operation *> ordered(members.begin(), members.end());
    llvm::sort(ordered, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });
    llvm::SetVector<Value> inputs;
    SmallVector<Location> locations;
    for (Operation *op : ordered) {
      locations.push_back(op->getLoc());
      for (Value v : op->getOperands())
        if (!members.contains(v.getDefiningOp()))
          inputs.insert(v);
    }
    OpBuilder b(root);
    Location loc = b.getFusedLoc(locations);
    auto fused = FusedOp::create(
        b, loc, TypeRange{root->getResult(0).getType()}, inputs.getArrayRef());
    Block *body = b.createBlock(&fused.getBody());
    IRMapping mapping;
    for (Value input : inputs)
      mapping.map(input, body->addArgument(input.getType(), input.getLoc()));
    b.setInsertionPointToEnd(body);
    for (Operation *op : ordered)
      b.clone(*op, mapping);
    YieldOp::create(b, loc, ValueRange{mapping.lookup(root->getResult(0))});
    root->getResult(0).replaceAllUsesWith(fused.getResult(0));
    for (Operation *op : llvm::reverse(ordered))
      op->erase();
  }
};

} // namespace
} // namespace kiln
