//===- MapToGpuThreads.cpp - kernel loops as grid-stride loops ------------===//
//
// See KilnMapToGpuThreads in Passes.td. Thread and block ids are NVVM
// special registers; everything else is scf and arith, lowered with the
// rest of the kernel.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"

namespace kiln {
#define GEN_PASS_DEF_KILNMAPTOGPUTHREADS
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

/// The function argument or allocation a memref value views.
Value rootOf(Value v) {
  while (Operation *op = v.getDefiningOp()) {
    if (auto view = dyn_cast<ViewLikeOpInterface>(op))
      v = view.getViewSource();
    else
      break;
  }
  return v;
}

/// The roots a top-level loop reads and writes.
void accesses(Operation *loop, llvm::DenseSet<Value> &reads,
              llvm::DenseSet<Value> &writes) {
  loop->walk([&](Operation *op) {
    auto effects = dyn_cast<MemoryEffectOpInterface>(op);
    if (!effects)
      return;
    SmallVector<MemoryEffects::EffectInstance> list;
    effects.getEffects(list);
    for (auto &e : list) {
      Value v = e.getValue();
      if (!v || !isa<BaseMemRefType>(v.getType()))
        continue;
      if (isa<MemoryEffects::Read>(e.getEffect()))
        reads.insert(rootOf(v));
      if (isa<MemoryEffects::Write>(e.getEffect()))
        writes.insert(rootOf(v));
    }
  });
}

/// Replaces a parallel loop nest (`lbs`, `ubs`, `steps`, body with the
/// induction variables as its leading block arguments) by a grid-stride
/// loop over the flattened iteration space.
/// With `emulateThreads` > 0, the loop runs for that many virtual threads
/// in turn (a CPU check that the distribution covers every iteration
/// once).
void toGridStride(OpBuilder &b, Location loc, ValueRange lbs, ValueRange ubs,
                  ValueRange steps, Block &body, Operation *loop,
                  int64_t emulateThreads) {
  b.setInsertionPoint(loop);
  Type index = b.getIndexType(), i32 = b.getI32Type();
  auto toIndex = [&](Value v) {
    return arith::IndexCastUIOp::create(b, loc, index, v).getResult();
  };
  Value first, stride;
  if (emulateThreads > 0) {
    stride = arith::ConstantIndexOp::create(b, loc, emulateThreads);
    auto threads =
        scf::ForOp::create(b, loc, arith::ConstantIndexOp::create(b, loc, 0),
                           stride, arith::ConstantIndexOp::create(b, loc, 1));
    b.setInsertionPointToStart(threads.getBody());
    first = threads.getInductionVar();
  } else {
    Value tid = toIndex(NVVM::ThreadIdXOp::create(b, loc, i32));
    Value bid = toIndex(NVVM::BlockIdXOp::create(b, loc, i32));
    Value bdim = toIndex(NVVM::BlockDimXOp::create(b, loc, i32));
    Value gdim = toIndex(NVVM::GridDimXOp::create(b, loc, i32));
    first = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, bid, bdim), tid);
    stride = arith::MulIOp::create(b, loc, gdim, bdim);
  }

  SmallVector<Value> counts;
  Value total = arith::ConstantIndexOp::create(b, loc, 1);
  for (auto [lb, ub, step] : llvm::zip(lbs, ubs, steps)) {
    Value count = arith::CeilDivUIOp::create(
        b, loc, arith::SubIOp::create(b, loc, ub, lb), step);
    counts.push_back(count);
    total = arith::MulIOp::create(b, loc, total, count);
  }
  auto grid = scf::ForOp::create(b, loc, first, total, stride);
  b.setInsertionPointToStart(grid.getBody());
  IRMapping map;
  Value linear = grid.getInductionVar();
  // Innermost dim fastest: neighbouring threads, neighbouring elements.
  for (int64_t d = static_cast<int64_t>(counts.size()) - 1; d >= 0; --d) {
    Value position =
        d == 0 ? linear
               : arith::RemUIOp::create(b, loc, linear, counts[d]).getResult();
    if (d > 0)
      linear = arith::DivUIOp::create(b, loc, linear, counts[d]);
    Value iv = arith::AddIOp::create(
        b, loc, lbs[d], arith::MulIOp::create(b, loc, position, steps[d]));
    map.map(body.getArgument(d), iv);
  }
  for (Operation &op : body.without_terminator())
    b.clone(op, map);
}

LogicalResult mapKernel(func::FuncOp fn, int64_t emulateThreads) {
  IRRewriter rewriter(fn.getContext());
  Block &block = fn.getBody().front();
  // Top-level linalg ops (copies, data movement) become parallel loops.
  SmallVector<linalg::LinalgOp> linalgOps;
  for (Operation &op : block)
    if (auto l = dyn_cast<linalg::LinalgOp>(op))
      linalgOps.push_back(l);
  for (linalg::LinalgOp op : linalgOps) {
    rewriter.setInsertionPoint(op);
    if (op.getNumLoops() == 0) {
      // A scalar op: one iteration, which one thread takes.
      Location loc = op.getLoc();
      Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
      Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
      auto single = scf::ParallelOp::create(rewriter, loc, ValueRange{zero},
                                            ValueRange{one}, ValueRange{one});
      op->moveBefore(single.getBody()->getTerminator());
      rewriter.setInsertionPoint(op);
    }
    if (failed(linalg::linalgOpToParallelLoops(rewriter, op)))
      return op->emitOpError("cannot be turned into parallel loops");
    rewriter.eraseOp(op);
  }

  // Loop nests made from linalg ops load their outputs even where the
  // payload ignores them; drop such dead loads before looking for hazards.
  SmallVector<Operation *> dead;
  do {
    dead.clear();
    fn.walk([&](Operation *op) {
      if (isOpTriviallyDead(op))
        dead.push_back(op);
    });
    for (Operation *op : dead)
      rewriter.eraseOp(op);
  } while (!dead.empty());

  SmallVector<Operation *> loops;
  for (Operation &op : block) {
    if (isa<scf::ForallOp, scf::ParallelOp>(op)) {
      loops.push_back(&op);
      continue;
    }
    // Every thread runs what is outside the loops: only side-effect-free
    // ops (index arithmetic, views) and stack temporaries may be there.
    if (!isPure(&op) && !isa<func::ReturnOp, memref::AllocaOp>(op))
      return op.emitOpError("is outside every parallel loop of kernel ")
             << fn.getName() << ": it cannot be distributed over GPU threads";
  }
  // Loops run concurrently: none may read what an earlier one wrote.
  llvm::DenseSet<Value> written;
  for (Operation *loop : loops) {
    llvm::DenseSet<Value> reads, writes;
    accesses(loop, reads, writes);
    for (Value r : reads)
      if (written.contains(r))
        return loop->emitOpError("reads what an earlier loop of kernel ")
               << fn.getName()
               << " wrote: it needs a grid-wide barrier, which GPU kernels "
                  "do not have";
    written.insert(writes.begin(), writes.end());
  }

  OpBuilder b(fn.getContext());
  for (Operation *loop : loops) {
    if (auto forall = dyn_cast<scf::ForallOp>(loop)) {
      if (forall.getNumResults() != 0)
        return forall.emitOpError("still has tensor results");
      b.setInsertionPoint(forall);
      SmallVector<Value> lbs = getValueOrCreateConstantIndexOp(
          b, forall.getLoc(), forall.getMixedLowerBound());
      SmallVector<Value> ubs = getValueOrCreateConstantIndexOp(
          b, forall.getLoc(), forall.getMixedUpperBound());
      SmallVector<Value> steps = getValueOrCreateConstantIndexOp(
          b, forall.getLoc(), forall.getMixedStep());
      toGridStride(b, forall.getLoc(), lbs, ubs, steps, *forall.getBody(),
                   forall, emulateThreads);
    } else {
      auto parallel = cast<scf::ParallelOp>(loop);
      if (parallel.getNumResults() != 0)
        return parallel.emitOpError("reduces across iterations");
      toGridStride(b, parallel.getLoc(), parallel.getLowerBound(),
                   parallel.getUpperBound(), parallel.getStep(),
                   *parallel.getBody(), parallel, emulateThreads);
    }
    loop->erase();
  }
  return success();
}

struct KilnMapToGpuThreadsPass
    : public impl::KilnMapToGpuThreadsBase<KilnMapToGpuThreadsPass> {
  using KilnMapToGpuThreadsBase::KilnMapToGpuThreadsBase;
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>())
      if (fn->hasAttr("kiln.kernel") && !fn.isExternal() &&
          failed(mapKernel(fn, emulateThreads)))
        return signalPassFailure();
  }
};

} // namespace
} // namespace kiln
