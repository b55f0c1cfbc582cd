//===- CpuObject.h - LLVM dialect -> x86-64 object file -------------------===//
//
// The last step of CPU code generation: translate a module lowered to the
// LLVM dialect into LLVM IR, optimize it with LLVM's O3 pipeline (which
// vectorizes the loops), and emit an x86-64 relocatable object in process
// with an LLVM TargetMachine (generic x86-64, PIC, so objects link into a
// shared library and run on any x86-64 machine).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_CODEGEN_CPUOBJECT_H
#define KILN_PASSES_CODEGEN_CPUOBJECT_H

#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace kiln {

/// Writes `module` (LLVM dialect only) as an object file to `path`; errors
/// are diagnostics on the module.
mlir::LogicalResult emitCpuObject(mlir::ModuleOp module,
                                  const std::string &path);

} // namespace kiln

#endif // KILN_PASSES_CODEGEN_CPUOBJECT_H
