//===- CudaKernels.h - kernel functions -> an sm_90 fatbin ----------------===//
//
// Compiles the kernels of a step list for NVIDIA GPUs: the same kernel
// functions as the CPU path (CpuKernels.h), tiled and fused into scf.forall
// loops, bufferized with stack temporaries, distributed over GPU threads as
// grid-stride loops, lowered to the LLVM dialect with NVVM special
// registers, given the same flat ABI as on the CPU
//
//   __global__ void kiln_<kernel>(void **buffers, const int64_t *shapes,
//                                 int64_t begin, int64_t end)
//
// (`buffers` and `shapes` point to device memory), math through libdevice,
// then assembled in process by upstream's gpu-module-to-binary with ptxas
// from the CUDA toolkit into a fatbin holding sm_90 SASS and PTX. Any launch
// size computes the whole result: the runtime picks the grid.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_CODEGEN_CUDAKERNELS_H
#define KILN_PASSES_CODEGEN_CUDAKERNELS_H

#include "passes/Codegen/CpuKernels.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace kiln {

/// The CUDA toolkit to assemble with: $CUDA_HOME, else /usr/local/cuda.
std::string defaultCudaToolkit();

struct CudaBinary {
  std::string fatbin; // sm_90 SASS and PTX
  std::string ptx;    // when asked for
};

/// Lowers the kernels of `stepModule` to NVVM and assembles them for sm_90
/// with the toolkit's ptxas. Errors are MLIR diagnostics.
mlir::FailureOr<CudaBinary> compileCudaKernels(mlir::ModuleOp stepModule,
                                               const std::string &toolkit,
                                               bool withPtx = false);

/// Only the lowering (the kiln-cuda-kernels pipeline on a copy of
/// `stepModule`), for inspection: a module holding one gpu.module of
/// LLVM/NVVM dialect kernels.
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
lowerCudaKernels(mlir::ModuleOp stepModule);

} // namespace kiln

#endif // KILN_PASSES_CODEGEN_CUDAKERNELS_H
