//===- Registration.h - what Kiln's compiler tools register ---------------===//
//
// One place (one heavy translation unit) registers the dialects, interface
// extensions, LLVM IR translations and passes the compiler uses, so tools
// and tests include none of the upstream Init*.h headers themselves.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_REGISTRATION_H
#define KILN_PASSES_REGISTRATION_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace kiln {

/// The kiln dialect, the upstream dialects with their interface models and
/// extensions, and the LLVM IR translations (for emitting objects and for
/// JIT tests).
void registerKilnCompilerDialects(mlir::DialectRegistry &registry);

/// The kiln passes and pipelines, and the upstream passes they name (not
/// every upstream pass). Safe to call more than once.
void registerKilnCompilerPasses();

} // namespace kiln

#endif // KILN_PASSES_REGISTRATION_H
