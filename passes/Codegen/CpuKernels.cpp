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

std::vector<CompiledKernel> collectKernels(ModuleOp stepModule) {
  std::vector<CompiledKernel> kernels;
  for (auto fn : stepModule.getOps<func::FuncOp>()) {
    if (!fn->hasAttr("kiln.kernel"))
      continue;
    CompiledKernel kernel;
    kernel.name = fn.getName().str();
    kernel.symbol = "kiln_" + kernel.name;
    if (auto split = fn->getAttrOfType<DenseBoolArrayAttr>("kiln.split"))
      kernel.split.assign(split.asArrayRef().begin(), split.asArrayRef().end());
    kernel.splittable = !kernel.split.empty() && kernel.split.back();
    kernels.push_back(kernel);
  }
  return kernels;
}

LogicalResult compileCpuKernels(ModuleOp stepModule,
                                const std::vector<CpuObjectFile> &objects,
                                int64_t emulateGpuThreads) {
  OwningOpRef<ModuleOp> module = cast<ModuleOp>(stepModule->clone());
  PassManager pm(stepModule.getContext());
  KilnCudaLoweringOptions options;
  options.emulateThreads = emulateGpuThreads;
  if (failed(buildKilnCpuKernelPipeline(pm, options)))
    return stepModule.emitError("cannot build the CPU kernel pipeline");
  if (failed(pm.run(*module)))
    return failure();
  for (const CpuObjectFile &object : objects)
    if (failed(emitCpuObject(*module, object.path, object.cpu)))
      return failure();
  return success();
}

LogicalResult linkSharedObject(Location loc,
                               const std::vector<std::string> &objects,
                               const std::string &sharedObjectPath) {
  auto compiler = llvm::sys::findProgramByName("cc");
  if (!compiler)
    return emitError(loc, "no C compiler driver (cc) to link the kernels with");
  std::vector<std::string> storage = {*compiler, "-shared", "-o",
                                      sharedObjectPath};
  storage.insert(storage.end(), objects.begin(), objects.end());
  storage.push_back("-lm");
  std::vector<llvm::StringRef> args(storage.begin(), storage.end());
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*compiler, args, std::nullopt, {}, 0, 0,
                                     &message);
  if (rc != 0)
    return emitError(loc, "linking " + sharedObjectPath + " failed" +
                              (message.empty() ? "" : ": " + message));
  return success();
}

} // namespace kiln
