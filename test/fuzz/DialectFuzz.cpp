//===- DialectFuzz.cpp - the kiln dialect's parser and verifier on any text
//===//
//
// The input is parsed as a module of kiln and func ops (what kiln-opt and a
// `.mlir` file from someone else give the compiler). Parsing runs the
// verifier; a module that passes must print, and its printed form must
// parse again and print the same: no input may crash the parser, the
// custom attribute parsers or the verifiers, and none may make the printer
// write what the parser refuses. Diagnostics are swallowed.
//
// MLIR's own libraries are not instrumented (Debian's build): coverage
// guidance sees the kiln dialect's code (its attribute and type parsers,
// custom op syntax, verifiers and folds reachable from parsing), which is
// what this target is for.
//
//===----------------------------------------------------------------------===//

#include "dialects/kiln/KilnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/raw_ostream.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

std::string printed(mlir::ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  return text;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // A context per input: attribute and type uniquing would otherwise grow
  // without bound over a long run.
  mlir::DialectRegistry registry;
  registry.insert<kiln::KilnDialect, mlir::func::FuncDialect>();
  mlir::MLIRContext context(registry, mlir::MLIRContext::Threading::DISABLED);
  context.loadAllAvailableDialects();
  mlir::ScopedDiagnosticHandler quiet(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  // A null-terminated copy: MLIR's lexer reads its buffer up to the
  // terminating '\0' (as a file's MemoryBuffer guarantees), and libFuzzer's
  // bytes have none.
  std::string text(reinterpret_cast<const char *>(data), size);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  if (!module)
    return 0;
  std::string first = printed(*module);
  mlir::OwningOpRef<mlir::ModuleOp> again =
      mlir::parseSourceString<mlir::ModuleOp>(first, &context);
  if (!again)
    __builtin_trap(); // the printer wrote what the parser refuses
  if (printed(*again) != first)
    __builtin_trap(); // printing is not a fixed point
  return 0;
}
