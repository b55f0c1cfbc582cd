//===- KilnTestUtil.h - helpers shared by the kiln unit tests -------------===//
//
// A context with the kiln dialect loaded, parsing into absl::StatusOr (so a
// malformed module is a Status carrying the diagnostics, as the runtime and
// tools report errors), and verification that returns the diagnostics text.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_SUPPORT_KILNTESTUTIL_H
#define KILN_TEST_SUPPORT_KILNTESTUTIL_H

#include "dialects/kiln/KilnOps.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <string>

namespace kiln::test {

inline void loadDialects(mlir::MLIRContext &context) {
  context.loadDialect<kiln::KilnDialect, mlir::func::FuncDialect>();
}

/// Parses `source`; a parse or verifier error becomes InvalidArgument with
/// every diagnostic's message.
inline absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>>
parseKiln(mlir::MLIRContext &context, const std::string &source) {
  std::string messages;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    messages += d.str() + "\n";
    return mlir::success();
  });
  auto module = mlir::parseSourceString<mlir::ModuleOp>(source, &context);
  if (!module)
    return absl::InvalidArgumentError(messages);
  return module;
}

/// Runs the verifier on `op`; returns "" when it passes, else the messages.
inline std::string verifyMessages(mlir::Operation *op) {
  std::string messages;
  mlir::ScopedDiagnosticHandler handler(op->getContext(),
                                        [&](mlir::Diagnostic &d) {
                                          messages += d.str() + "\n";
                                          return mlir::success();
                                        });
  if (mlir::succeeded(mlir::verify(op)))
    return "";
  return messages.empty() ? "verification failed without a message" : messages;
}

} // namespace kiln::test

#endif // KILN_TEST_SUPPORT_KILNTESTUTIL_H
