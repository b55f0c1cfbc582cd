//===- CpuKernels.cpp - kernel functions -> a shared object with a flat ABI //

#include "passes/CpuKernels.h"

#include "passes/CpuObject.h"
#include "passes/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Program.h"

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
void addAbiWrapper(ModuleOp module, LLVM::LLVMFuncOp callee,
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
      Value at = LLVM::GEPOp::create(
          b, loc, ptr, i64, shapes,
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
}

} // namespace

bool compileCpuKernels(ModuleOp stepModule, const std::string &objectPath,
                       std::vector<CompiledKernel> &kernels,
                       std::string &error) {
  MLIRContext *context = stepModule.getContext();
  OwningOpRef<ModuleOp> module = ModuleOp::create(stepModule.getLoc());
  OpBuilder b = OpBuilder::atBlockEnd(module->getBody());
  std::map<std::string, std::vector<BufferInfo>> buffers;
  for (auto fn : stepModule.getOps<func::FuncOp>()) {
    if (!fn->hasAttr("kiln.kernel"))
      continue;
    auto clone = cast<func::FuncOp>(b.clone(*fn));
    clone.setPublic();
    CompiledKernel kernel;
    kernel.name = fn.getName().str();
    kernel.symbol = "kiln_" + kernel.name;
    auto split = fn->getAttrOfType<DenseBoolArrayAttr>("kiln.split");
    kernel.split.assign(split.asArrayRef().begin(), split.asArrayRef().end());
    kernel.splittable = !kernel.split.empty() && kernel.split.back();
    SmallVector<Type> types(fn.getArgumentTypes());
    llvm::append_range(types, fn.getResultTypes());
    for (auto [i, t] : llvm::enumerate(types)) {
      auto tensor = cast<RankedTensorType>(t);
      buffers[kernel.name].push_back(
          {tensor.getElementType(), tensor.getRank(), kernel.split[i]});
    }
    kernels.push_back(kernel);
  }

  PassManager pm(context);
  buildKilnToLinalgPipeline(pm);
  if (failed(buildKilnCpuLoweringPipeline(pm))) {
    error = "cannot build the CPU lowering pipeline";
    return false;
  }
  if (failed(pm.run(*module))) {
    error = "lowering the kernels failed";
    return false;
  }
  for (const CompiledKernel &kernel : kernels) {
    auto callee = module->lookupSymbol<LLVM::LLVMFuncOp>(kernel.name);
    if (!callee) {
      error = "kernel " + kernel.name + " vanished while lowering";
      return false;
    }
    addAbiWrapper(*module, callee, kernel.symbol, buffers[kernel.name]);
  }
  return emitCpuObject(*module, objectPath, error);
}

bool linkSharedObject(const std::vector<std::string> &objects,
                      const std::string &sharedObjectPath,
                      std::string &error) {
  auto compiler = llvm::sys::findProgramByName("cc");
  if (!compiler) {
    error = "no C compiler driver (cc) to link the kernels with";
    return false;
  }
  std::vector<std::string> storage = {*compiler, "-shared", "-o",
                                      sharedObjectPath};
  storage.insert(storage.end(), objects.begin(), objects.end());
  storage.push_back("-lm");
  std::vector<llvm::StringRef> args(storage.begin(), storage.end());
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*compiler, args, std::nullopt, {}, 0, 0,
                                     &message);
  if (rc != 0) {
    error = "linking " + sharedObjectPath + " failed" +
            (message.empty() ? "" : ": " + message);
    return false;
  }
  return true;
}

} // namespace kiln
