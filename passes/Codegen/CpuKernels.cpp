//===- CpuKernels.cpp - kernel functions -> a shared object with a flat ABI //

#include "passes/Codegen/CpuKernels.h"

#include "passes/Codegen/CpuObject.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/Program.h"

using namespace mlir;

namespace kiln {

OwningOpRef<ModuleOp> extractKernels(ModuleOp stepModule,
                                     std::vector<CompiledKernel> &kernels) {
  OwningOpRef<ModuleOp> module = ModuleOp::create(stepModule.getLoc());
  OpBuilder b = OpBuilder::atBlockEnd(module->getBody());
  for (auto fn : stepModule.getOps<func::FuncOp>()) {
    if (!fn->hasAttr("kiln.kernel"))
      continue;
    b.clone(*fn);
    CompiledKernel kernel;
    kernel.name = fn.getName().str();
    kernel.symbol = "kiln_" + kernel.name;
    auto split = fn->getAttrOfType<DenseBoolArrayAttr>("kiln.split");
    kernel.split.assign(split.asArrayRef().begin(), split.asArrayRef().end());
    kernel.splittable = !kernel.split.empty() && kernel.split.back();
    kernels.push_back(kernel);
  }
  return module;
}

bool compileCpuKernels(ModuleOp stepModule, const std::string &objectPath,
                       std::vector<CompiledKernel> &kernels, std::string &error,
                       int64_t emulateGpuThreads) {
  MLIRContext *context = stepModule.getContext();
  OwningOpRef<ModuleOp> module = extractKernels(stepModule, kernels);

  PassManager pm(context);
  buildKilnToLinalgPipeline(pm);
  if (failed(emulateGpuThreads > 0
                 ? buildKilnCudaLoweringPipeline(pm, emulateGpuThreads)
                 : buildKilnCpuLoweringPipeline(pm))) {
    error = "cannot build the CPU lowering pipeline";
    return false;
  }
  pm.addPass(createKilnKernelAbi());
  if (failed(pm.run(*module))) {
    error = "lowering the kernels failed";
    return false;
  }
  return emitCpuObject(*module, objectPath, error);
}

bool linkSharedObject(const std::vector<std::string> &objects,
                      const std::string &sharedObjectPath, std::string &error) {
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
