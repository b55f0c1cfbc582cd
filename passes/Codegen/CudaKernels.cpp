//===- CudaKernels.cpp - kernel functions -> an sm_90 fatbin --------------===//

#include "passes/Codegen/CudaKernels.h"

#include "passes/Pipelines.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/FileSystem.h"

#include <cstdlib>

using namespace mlir;

namespace kiln {

std::string defaultCudaToolkit() {
  if (const char *home = std::getenv("CUDA_HOME"); home && *home)
    return home;
  return "/usr/local/cuda";
}

FailureOr<OwningOpRef<ModuleOp>> lowerCudaKernels(ModuleOp stepModule) {
  OwningOpRef<ModuleOp> module = cast<ModuleOp>(stepModule->clone());
  PassManager pm(stepModule.getContext());
  if (failed(buildKilnCudaKernelPipeline(pm)))
    return stepModule.emitError("cannot build the CUDA kernel pipeline");
  if (failed(pm.run(*module)))
    return failure();
  return module;
}

FailureOr<CudaBinary> compileCudaKernels(ModuleOp stepModule,
                                         const std::string &toolkit,
                                         bool withPtx) {
  // gpu-module-to-binary only warns about a missing toolkit folder and may
  // find a ptxas elsewhere: name the one we were given, or stop here.
  if (!llvm::sys::fs::can_execute(toolkit + "/bin/ptxas"))
    return emitError(UnknownLoc::get(stepModule.getContext()),
                     "the CUDA toolkit at " + toolkit +
                         " has no bin/ptxas (set --cuda-toolkit or CUDA_HOME)");
  auto container = lowerCudaKernels(stepModule);
  if (failed(container))
    return failure();
  MLIRContext *context = stepModule.getContext();
  auto assemble = [&](const std::string &format) -> FailureOr<std::string> {
    OwningOpRef<ModuleOp> copy = cast<ModuleOp>((**container)->clone());
    PassManager pm(context);
    if (failed(parsePassPipeline("gpu-module-to-binary{toolkit=" + toolkit +
                                     " format=" + format + "}",
                                 pm)) ||
        failed(pm.run(*copy)))
      return emitError(copy->getLoc(),
                       "assembling the GPU kernels failed (" + format +
                           "; is the CUDA toolkit at " + toolkit + "?)");
    std::string out;
    for (auto binary : copy->getOps<gpu::BinaryOp>())
      for (Attribute object : binary.getObjects())
        out = cast<gpu::ObjectAttr>(object).getObject().str();
    if (out.empty())
      return emitError(copy->getLoc(),
                       "gpu-module-to-binary produced no " + format);
    return out;
  };
  CudaBinary binary;
  auto fatbin = assemble("fatbin");
  if (failed(fatbin))
    return failure();
  binary.fatbin = std::move(*fatbin);
  if (withPtx) {
    auto ptx = assemble("isa");
    if (failed(ptx))
      return failure();
    binary.ptx = std::move(*ptx);
  }
  return binary;
}

} // namespace kiln
