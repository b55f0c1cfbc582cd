//===- CpuObject.h - LLVM dialect -> x86-64 object file -------------------===//
//
// The last step of CPU code generation: translate a module lowered to the
// LLVM dialect into LLVM IR, optimize it with LLVM's O3 pipeline (which
// vectorizes the loops), and emit an x86-64 relocatable object in process
// with an LLVM TargetMachine (PIC, so objects link into a shared library)
// for one x86-64 level: x86-64 (SSE2, runs anywhere), x86-64-v3 (AVX2 +
// FMA) or x86-64-v4 (AVX-512).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_CODEGEN_CPUOBJECT_H
#define KILN_PASSES_CODEGEN_CPUOBJECT_H

#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace kiln {

/// The x86-64 levels kernels are compiled for, lowest first.
inline constexpr const char *kCpuLevels[] = {"x86-64", "x86-64-v3",
                                             "x86-64-v4"};

/// Writes `module` (LLVM dialect only) as an object file for the LLVM CPU
/// `cpu` (one of kCpuLevels) to `path`; errors are diagnostics on the
/// module.
mlir::LogicalResult emitCpuObject(mlir::ModuleOp module,
                                  const std::string &path,
                                  const std::string &cpu = "x86-64");

} // namespace kiln

#endif // KILN_PASSES_CODEGEN_CPUOBJECT_H
