//===- CudaKernels.cpp - kernel functions -> an sm_90 fatbin --------------===//

#include "passes/Codegen/CudaKernels.h"

#include "passes/Passes.h"
#include "passes/Pipelines.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/SymbolTable.h"
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

namespace {

/// libm functions the lowering may call, and their libdevice names.
constexpr const char *kLibm[] = {
    "sinf",   "cosf",  "tanf",   "expf",   "exp2f", "logf",   "log2f",
    "log1pf", "tanhf", "erff",   "floorf", "ceilf", "roundf", "truncf",
    "sqrtf",  "powf",  "atan2f", "atanf",  "fabsf", "fmaf"};

/// Renames the libm declarations to libdevice's (__nv_*); refuses any
/// other external function (a heap allocation, a runtime helper), which a
/// GPU kernel cannot call.
LogicalResult useLibdevice(ModuleOp module, std::string &error) {
  SmallVector<LLVM::LLVMFuncOp> externals;
  for (auto fn : module.getOps<LLVM::LLVMFuncOp>())
    if (fn.isExternal())
      externals.push_back(fn);
  for (LLVM::LLVMFuncOp fn : externals) {
    StringRef name = fn.getName();
    if (llvm::is_contained(kLibm, name)) {
      std::string device = "__nv_" + name.str();
      if (failed(SymbolTable::replaceAllSymbolUses(
              fn, StringAttr::get(module.getContext(), device), module)))
        return failure();
      fn.setName(device);
      continue;
    }
    error = "a GPU kernel calls " + name.str() +
            ", which device code cannot (a heap temporary the lowering "
            "could not put on the stack?)";
    return failure();
  }
  return success();
}

} // namespace

OwningOpRef<ModuleOp> lowerCudaKernels(ModuleOp stepModule,
                                       std::vector<CompiledKernel> &kernels,
                                       std::string &error) {
  MLIRContext *context = stepModule.getContext();
  OwningOpRef<ModuleOp> module = extractKernels(stepModule, kernels);
  PassManager pm(context);
  buildKilnToLinalgPipeline(pm);
  if (failed(buildKilnCudaLoweringPipeline(pm))) {
    error = "cannot build the CUDA lowering pipeline";
    return nullptr;
  }
  KilnKernelAbiOptions abi;
  abi.gpu = true;
  pm.addPass(createKilnKernelAbi(abi));
  if (failed(pm.run(*module))) {
    error = "lowering the kernels for the GPU failed (see the diagnostics "
            "above)";
    return nullptr;
  }
  if (failed(useLibdevice(*module, error)))
    return nullptr;

  // Everything moves into one gpu.module targeting sm_90 (+PTX 8.0, which
  // CUDA 13's ptxas needs for sm_90).
  context->getOrLoadDialect("nvvm");
  context->getOrLoadDialect<gpu::GPUDialect>();
  Attribute target = parseAttribute(
      "#nvvm.target<O = 3, chip = \"sm_90\", features = \"+ptx80\">", context);
  if (!target) {
    error = "cannot make the NVVM target attribute";
    return nullptr;
  }
  OwningOpRef<ModuleOp> container = ModuleOp::create(module->getLoc());
  (*container)
      ->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                UnitAttr::get(context));
  OpBuilder b = OpBuilder::atBlockEnd(container->getBody());
  auto gpuModule = gpu::GPUModuleOp::create(b, module->getLoc(), "kiln_kernels",
                                            b.getArrayAttr({target}));
  Block *body = gpuModule.getBody();
  for (Operation &op : llvm::make_early_inc_range(*module->getBody()))
    op.moveBefore(body, body->end());
  return container;
}

bool compileCudaKernels(ModuleOp stepModule, const std::string &toolkit,
                        std::vector<CompiledKernel> &kernels,
                        std::string &fatbin, std::string &error,
                        std::string *ptx) {
  // gpu-module-to-binary only warns about a missing toolkit folder and may
  // find a ptxas elsewhere: name the one we were given, or stop here.
  if (!llvm::sys::fs::can_execute(toolkit + "/bin/ptxas")) {
    error = "the CUDA toolkit at " + toolkit +
            " has no bin/ptxas (set --cuda-toolkit or CUDA_HOME)";
    return false;
  }
  OwningOpRef<ModuleOp> container =
      lowerCudaKernels(stepModule, kernels, error);
  if (!container)
    return false;
  MLIRContext *context = stepModule.getContext();
  auto assemble = [&](const std::string &format, std::string &out) -> bool {
    OwningOpRef<ModuleOp> copy = cast<ModuleOp>((*container)->clone());
    PassManager pm(context);
    if (failed(parsePassPipeline("gpu-module-to-binary{toolkit=" + toolkit +
                                     " format=" + format + "}",
                                 pm)) ||
        failed(pm.run(*copy))) {
      error = "assembling the GPU kernels failed (" + format +
              "; is the CUDA toolkit at " + toolkit + "?)";
      return false;
    }
    for (auto binary : copy->getOps<gpu::BinaryOp>())
      for (Attribute object : binary.getObjects())
        out = cast<gpu::ObjectAttr>(object).getObject().str();
    if (out.empty()) {
      error = "gpu-module-to-binary produced no " + format;
      return false;
    }
    return true;
  };
  if (!assemble("fatbin", fatbin))
    return false;
  return !ptx || assemble("isa", *ptx);
}

} // namespace kiln
