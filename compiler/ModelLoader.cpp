//===- ModelLoader.cpp - a Hugging Face folder as kiln IR -----------------===//

#include "compiler/ModelLoader.h"

#include "models/Models.h"
#include "passes/Passes.h"
#include "support/Status.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace kiln {

absl::Status diagnosed(MLIRContext &context,
                       llvm::function_ref<LogicalResult()> step) {
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    if (d.getSeverity() != DiagnosticSeverity::Error || !message.empty())
      return success();
    llvm::raw_string_ostream os(message);
    if (!isa<UnknownLoc>(d.getLocation()))
      os << d.getLocation() << ": ";
    os << d.str();
    return success();
  });
  if (succeeded(step()))
    return absl::OkStatus();
  return absl::InvalidArgumentError(
      message.empty() ? "a compiler step failed without saying why" : message);
}

absl::Status partitionModule(ModuleOp module, int64_t tp, int64_t pp) {
  if (tp <= 1 && pp <= 1)
    return absl::OkStatus();
  PassManager pm(module.getContext());
  KilnPartitionOptions partition;
  partition.tp = tp;
  pm.addPass(createKilnPartition(partition));
  KilnPipelineOptions pipeline;
  pipeline.pp = pp;
  pm.addPass(createKilnPipeline(pipeline));
  return diagnosed(*module.getContext(), [&] { return pm.run(module); });
}

absl::StatusOr<LoadedModel> loadModel(MLIRContext &context,
                                      const std::string &dir, bool decompose,
                                      int64_t tp, int64_t pp) {
  LoadedModel model;
  auto config = loadModelConfig(dir);
  if (!config.ok())
    return config.status();
  model.config = std::move(*config);
  auto weights = WeightStore::openFolder(dir);
  if (!weights.ok())
    return weights.status();
  model.weights = std::move(*weights);
  auto module = buildModel(context, model.config, *model.weights);
  if (!module.ok())
    return module.status();
  model.module = std::move(*module);
  KILN_RETURN_IF_ERROR(partitionModule(*model.module, tp, pp));
  if (decompose) {
    PassManager pm(&context);
    pm.addPass(createKilnDecompose());
    if (failed(pm.run(*model.module)))
      return absl::InternalError("--kiln-decompose failed");
  }
  return model;
}

kiln::ModelInfo modelInfo(const ModelConfig &c) {
  kiln::ModelInfo m;
  m.family = c.family;
  m.architecture = architectureName(c.architecture);
  m.vocabSize = c.vocabSize;
  m.typeVocabSize = c.typeVocabSize;
  m.padId = c.padIdOrZero();
  m.eosIds = c.eosIds;
  // RoBERTa's positions start past the pad id; T5's are relative.
  m.positionLimit = c.maxPositions;
  if (c.family == Family::Roberta)
    m.positionLimit = c.maxPositions - c.padIdOrZero() - 1;
  if (c.family == Family::T5)
    m.positionLimit = 0;
  m.decoderStartId = c.decoderStartId.value_or(-1);
  return m;
}

} // namespace kiln
