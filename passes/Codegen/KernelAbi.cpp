//===- KernelAbi.cpp - the flat work-range ABI around lowered kernels -----===//
//
// See KilnKernelAbi in Passes.td. The wrapper is LLVM dialect: the kernel it
// calls was lowered with unpacked memref arguments (allocated pointer,
// aligned pointer, offset, sizes, strides per buffer), whose ranks and
// element types the kernel's `kiln.buffers` attribute still records.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace kiln {
#define GEN_PASS_DEF_KILNKERNELABI
#include "passes/Passes.h.inc"
} // namespace kiln

using namespace mlir;

namespace kiln {
namespace {

struct BufferInfo {
  Type element;
  int64_t rank;
  bool split;
};

/// Adds `llvm.func @<symbol>(ptr buffers, ptr shapes, i64 begin, i64 end)`
/// calling the lowered kernel `callee` with unpacked memref descriptors.
LLVM::LLVMFuncOp addAbiWrapper(ModuleOp module, LLVM::LLVMFuncOp callee,
                               const std::string &symbol,
                               const std::vector<BufferInfo> &buffers) {
  MLIRContext *context = module.getContext();
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Location loc = callee.getLoc();
  auto ptr = LLVM::LLVMPointerType::get(context);
  auto i64 = IntegerType::get(context, 64);
  auto type = LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(context),
                                          {ptr, ptr, i64, i64});
  auto wrapper = LLVM::LLVMFuncOp::create(b, loc, symbol, type);
  Block *entry = wrapper.addEntryBlock(b);
  b.setInsertionPointToStart(entry);
  Value bufferArray = entry->getArgument(0), shapes = entry->getArgument(1);
  Value begin = entry->getArgument(2), end = entry->getArgument(3);
  auto constant = [&](int64_t v) {
    return LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v))
        .getResult();
  };

  SmallVector<Value> args;
  int64_t shapeIndex = 0;
  for (auto [i, buffer] : llvm::enumerate(buffers)) {
    Value slot = LLVM::GEPOp::create(b, loc, ptr, ptr, bufferArray,
                                     ArrayRef<LLVM::GEPArg>{int32_t(i)});
    Value data = LLVM::LoadOp::create(b, loc, ptr, slot);
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < buffer.rank; ++d) {
      Value at =
          LLVM::GEPOp::create(b, loc, ptr, i64, shapes,
                              ArrayRef<LLVM::GEPArg>{int32_t(shapeIndex++)});
      sizes.push_back(LLVM::LoadOp::create(b, loc, i64, at));
    }
    SmallVector<Value> strides(buffer.rank);
    Value stride = constant(1);
    for (int64_t d = buffer.rank - 1; d >= 0; --d) {
      strides[d] = stride;
      stride = LLVM::MulOp::create(b, loc, stride, sizes[d]);
    }
    if (buffer.split && buffer.rank > 0) {
      Value skip = LLVM::MulOp::create(b, loc, begin, strides[0]);
      data = LLVM::GEPOp::create(b, loc, ptr, buffer.element, data,
                                 ArrayRef<LLVM::GEPArg>{skip});
      sizes[0] = LLVM::SubOp::create(b, loc, end, begin);
    }
    args.append({data, data, constant(0)});
    args.append(sizes.begin(), sizes.end());
    args.append(strides.begin(), strides.end());
  }
  LLVM::CallOp::create(b, loc, callee, args);
  LLVM::ReturnOp::create(b, loc, ValueRange{});
  return wrapper;
}

struct KilnKernelAbiPass : public impl::KilnKernelAbiBase<KilnKernelAbiPass> {
  using KilnKernelAbiBase::KilnKernelAbiBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<LLVM::LLVMFuncOp> kernels;
    for (auto fn : module.getOps<LLVM::LLVMFuncOp>())
      if (fn->hasAttr("kiln.kernel"))
        kernels.push_back(fn);
    for (LLVM::LLVMFuncOp kernel : kernels) {
      auto types = kernel->getAttrOfType<ArrayAttr>("kiln.buffers");
      auto split = kernel->getAttrOfType<DenseBoolArrayAttr>("kiln.split");
      if (!types || !split ||
          static_cast<int64_t>(types.size()) != split.size()) {
        kernel.emitOpError("needs kiln.buffers and kiln.split of equal "
                           "length");
        return signalPassFailure();
      }
      std::vector<BufferInfo> buffers;
      for (auto [type, cut] : llvm::zip(types, split.asArrayRef())) {
        auto tensor = cast<RankedTensorType>(cast<TypeAttr>(type).getValue());
        buffers.push_back({tensor.getElementType(), tensor.getRank(), cut});
      }
      LLVM::LLVMFuncOp wrapper = addAbiWrapper(
          module, kernel, "kiln_" + kernel.getName().str(), buffers);
      // On the GPU every thread runs the wrapper; `buffers` and `shapes`
      // are then device arrays the runtime fills per call.
      if (gpu)
        wrapper->setAttr("nvvm.kernel", UnitAttr::get(&getContext()));
      // Only the ABI functions are exported from the object.
      kernel.setLinkage(LLVM::Linkage::Internal);
    }
  }
};

} // namespace
} // namespace kiln
