//===- Pipelines.h - kiln pass pipelines -----------------------------------===//
//
// Pipelines are library functions shared by kilnc, kiln-opt (registered by
// name) and tests.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_PIPELINES_H
#define KILN_PASSES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace kiln {

/// kiln graph -> linalg on tensors: --kiln-decompose, --canonicalize,
/// --kiln-to-linalg, --canonicalize, --cse.
void buildKilnToLinalgPipeline(mlir::OpPassManager &pm);

/// Registers the pipelines with the pass registry (kiln-opt).
void registerKilnPipelines();

} // namespace kiln

#endif // KILN_PASSES_PIPELINES_H
