//===- kiln-opt.cpp - MlirOptMain with the kiln dialect and passes --------===//
//
// Runs kiln and upstream passes over .mlir files; the driver of the lit
// tests. Registers the kiln dialect, passes and pipelines, the upstream
// passes Kiln's pipelines use (not every upstream pass), and the upstream
// dialects with their interface extensions.
//
//===----------------------------------------------------------------------===//

#include "passes/Registration.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  kiln::registerKilnCompilerDialects(registry);
  kiln::registerKilnCompilerPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Kiln optimizer driver\n", registry));
}
