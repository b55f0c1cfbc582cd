//===- ModelLoader.h - a Hugging Face folder as kiln IR -------------------===//
//
// What every tool starts from: config.json and the safetensors of a folder,
// the model built as a kiln module (models/), and what the runtime's driver
// needs to know of it. Needs no interpreter and no BLAS.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_COMPILER_MODELLOADER_H
#define KILN_COMPILER_MODELLOADER_H

#include "artifact/ModelInfo.h"
#include "frontend/HfConfig.h"
#include "support/SafeTensors.h"

#include "mlir/IR/BuiltinOps.h"

#include <memory>
#include <string>

namespace kiln {

struct LoadedModel {
  ModelConfig config;
  std::unique_ptr<WeightStore> weights;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

/// Runs a compiler step whose errors are MLIR diagnostics and makes its
/// first error the status kilnc prints: one line, with the location when
/// the error has one, instead of a diagnostic followed by a second "failed"
/// line.
absl::Status diagnosed(mlir::MLIRContext &context,
                       llvm::function_ref<mlir::LogicalResult()> step);

/// kiln-partition for `tp` tensor-parallel ranks, then kiln-pipeline for
/// `pp` stages, over `module` (nothing for 1); an impossible plan is the
/// status, at the op that makes it so.
absl::Status partitionModule(mlir::ModuleOp module, int64_t tp, int64_t pp = 1);

/// Reads config and weights from `dir` and builds the graph; with `tp` >
/// 1, partitions it for that many tensor-parallel ranks (kiln-partition:
/// compiler/ReferenceRun.h runs them as simulated ranks), with `pp` > 1
/// places it on that many pipeline stages (kiln-pipeline: the simulated
/// ranks pass values between stages in place); with `decompose`, runs
/// --kiln-decompose over it.
absl::StatusOr<LoadedModel> loadModel(mlir::MLIRContext &context,
                                      const std::string &dir,
                                      bool decompose = false, int64_t tp = 1,
                                      int64_t pp = 1);

/// What the runtime's driver needs to know of a model with `config`.
ModelInfo modelInfo(const ModelConfig &config);

} // namespace kiln

#endif // KILN_COMPILER_MODELLOADER_H
