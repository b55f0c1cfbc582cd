//===- CopiesToLinalg.cpp - memref.copy -> linalg.copy --------------------===//
//
// Bufferization emits memref.copy, which finalize-memref-to-llvm turns into
// a call to `memrefCopy` from MLIR's C runner utils whenever a layout is
// strided (slices of the kv cache are). Generated kernels must not depend on
// that library, so copies become linalg.copy and then plain loops with the
// rest of the linalg ops.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"

namespace kiln {
#define GEN_PASS_DEF_KILNCOPIESTOLINALG
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

struct KilnCopiesToLinalgPass
    : public impl::KilnCopiesToLinalgBase<KilnCopiesToLinalgPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation()->walk([&](memref::CopyOp op) { copies.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (memref::CopyOp copy : copies) {
      rewriter.setInsertionPoint(copy);
      rewriter.replaceOpWithNewOp<linalg::CopyOp>(copy, copy.getSource(),
                                                  copy.getTarget());
    }
  }
};

} // namespace
} // namespace kiln
