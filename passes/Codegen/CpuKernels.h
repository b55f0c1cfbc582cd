//===- CpuKernels.h - kernel functions -> a shared object with a flat ABI -===//
//
// Compiles the kernels of a step list (the private `kiln.kernel` functions
// kiln-outline-kernels made) for the CPU. Every kernel gets the flat ABI of
// DESIGN.md §3.1:
//
//   void kiln_<kernel>(void **buffers, const int64_t *shapes,
//                      int64_t begin, int64_t end);
//
// `buffers` holds one pointer per argument then per result (row-major,
// dense); `shapes` holds every buffer's dims, buffer after buffer; the
// kernel computes rows [begin, end) of its result's dim 0, cutting the
// buffers its `kiln.split` marks (a kernel that cannot be cut runs [0, 1)
// and computes everything). The wrapper is generated in the LLVM dialect
// around the kernel lowered by the CPU pipeline.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_CODEGEN_CPUKERNELS_H
#define KILN_PASSES_CODEGEN_CPUKERNELS_H

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace kiln {

struct CompiledKernel {
  std::string name;        // the kernel function
  std::string symbol;      // the exported ABI function, kiln_<name>
  std::vector<bool> split; // per argument, then per result
  bool splittable = false;
};

/// The kernels of `stepModule` in module order, as the artifact lists them
/// (shared by the CPU and CUDA paths).
std::vector<CompiledKernel> collectKernels(mlir::ModuleOp stepModule);

/// An object file to write for one x86-64 level (CpuObject.h kCpuLevels).
struct CpuObjectFile {
  std::string cpu = "x86-64";
  std::string path;
};

/// Lowers the kernels of `stepModule` (a copy: `stepModule` is left as it
/// is) with the kiln-cpu-kernels pipeline once, then writes an x86-64 object
/// per entry of `objects`. With `emulateGpuThreads` > 0 they go through the
/// CUDA lowering instead, its GPU threads emulated by loops: the GPU
/// distribution of every kernel then runs, and is checked, on the CPU.
/// Errors are MLIR diagnostics.
mlir::LogicalResult compileCpuKernels(mlir::ModuleOp stepModule,
                                      const std::vector<CpuObjectFile> &objects,
                                      int64_t emulateGpuThreads = 0);

/// Links objects into a shared object with the system C compiler driver
/// (and libm, which the kernels call); errors are diagnostics at `loc`.
mlir::LogicalResult linkSharedObject(mlir::Location loc,
                                     const std::vector<std::string> &objects,
                                     const std::string &sharedObjectPath);

} // namespace kiln

#endif // KILN_PASSES_CODEGEN_CPUKERNELS_H
