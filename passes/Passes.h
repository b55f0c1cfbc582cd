//===- Passes.h - kiln passes ---------------------------------------------===//
//
// Declarations and registration of every kiln pass (generated from
// Passes.td).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_PASSES_H
#define KILN_PASSES_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <string>

namespace kiln {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

class ParamOp;

/// Each weight of `module` once per place it is read: before an entry's
/// layers, in a layer (`layer` names it), or after them, in program order.
/// A tied embedding table comes twice: before (the lookup) and after (the
/// LM head). What kiln-pipeline's cost model and kilnc --plan count.
void forEachPlacedWeight(
    mlir::ModuleOp module,
    llvm::function_ref<void(ParamOp, const std::string &layer,
                            bool afterLayers)>
        fn);

} // namespace kiln

#endif // KILN_PASSES_PASSES_H
