//===- WrapGpuModule.cpp - lowered kernels into one gpu.module ------------===//
//
// See KilnWrapGpuModule in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;

namespace kiln {
#define GEN_PASS_DEF_KILNWRAPGPUMODULE
#include "passes/Passes.h.inc"

namespace {

struct KilnWrapGpuModulePass
    : public impl::KilnWrapGpuModuleBase<KilnWrapGpuModulePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = &getContext();
    // Parsed rather than built, so the attribute's defaults (triple, O
    // level) stay upstream's; a quote or backslash would end the string.
    auto quotable = [](const std::string &s) {
      return s.find_first_of("\"\\") == std::string::npos;
    };
    Attribute target;
    if (quotable(chip) && quotable(features))
      target = parseAttribute("#nvvm.target<O = 3, chip = \"" + chip +
                                  "\", features = \"" + features + "\">",
                              context);
    if (!target) {
      module.emitError() << "cannot make an NVVM target for chip '" << chip
                         << "' and features '" << features << "'";
      return signalPassFailure();
    }
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(context));
    SmallVector<Operation *> ops;
    for (Operation &op : *module.getBody())
      ops.push_back(&op);
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    auto gpuModule = gpu::GPUModuleOp::create(
        b, module.getLoc(), "kiln_kernels", b.getArrayAttr({target}));
    Block *body = gpuModule.getBody();
    for (Operation *op : ops)
      op->moveBefore(body, body->end());
  }
};

} // namespace
} // namespace kiln
