//===- Compile.cpp - a Hugging Face folder to what kilnc writes -----------===//

#include "compiler/Compile.h"

#include "compiler/ModelLoader.h"
#include "compiler/Pruning.h"
#include "dialects/kiln/KilnOps.h"
#include "passes/Codegen/CpuKernels.h"
#include "passes/Codegen/CpuObject.h"
#include "passes/Codegen/CudaKernels.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"
#include "passes/Registration.h"
#include "passes/StepList/ArtifactExport.h"
#include "passes/Transforms/Prune.h"
#include "support/Files.h"
#include "support/Prune.h"
#include "support/Status.h"
#include "support/Tokenizer.h"

#include "absl/strings/str_join.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>

namespace kiln {

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::Status invalid(const std::string &message) {
  return absl::InvalidArgumentError(message);
}

/// The options made whole (emit and stage derived) and checked.
absl::StatusOr<CompileOptions> resolve(CompileOptions o) {
  if (o.emit.empty())
    o.emit = llvm::StringRef(o.output).ends_with(".kiln") ? "kiln" : "mlir";
  if (o.target != "cpu" && o.target != "cuda")
    return invalid("--target must be cpu or cuda, got '" + o.target + "'");
  if (o.target == "cuda" && o.emit == "object")
    return invalid("--emit object is CPU code; use --emit kernels or kiln "
                   "with --target cuda");
  if (o.emit != "mlir" && o.emit != "object" && o.emit != "kernels" &&
      o.emit != "kiln")
    return invalid("--emit must be mlir, kernels, object or kiln, got '" +
                   o.emit + "'");
  if (o.emit == "object")
    o.stage = "llvm";
  if (o.emit == "kernels" || o.emit == "kiln")
    o.stage = "steps";
  if (o.gemmDtype != "f32" && o.gemmDtype != "bf16" && o.gemmDtype != "f16")
    return invalid("--gemm-dtype must be f32, bf16 or f16, got '" +
                   o.gemmDtype + "'");
  if (o.gemmDtype != "f32" && o.emit != "kiln")
    return invalid("--gemm-dtype applies to --emit kiln");
  if (o.precision == "f16")
    o.precision = "fp16";
  if (o.precision == "f32")
    o.precision = "fp32";
  if (o.precision != "fp32" && o.precision != "bf16" && o.precision != "fp16")
    return invalid("--precision must be fp32, bf16 or fp16, got '" +
                   o.precision + "'");
  if (o.precision != "fp32" && o.gemmDtype != "f32")
    return invalid("--gemm-dtype narrows the gemm weights of an fp32 build; "
                   "--precision " +
                   o.precision + " already stores them in " + o.precision);
  if (o.precision != "fp32" && o.stage != "steps")
    return invalid("--precision applies to the step list: --emit kiln, "
                   "--emit kernels or --stage steps");
  if (o.precision != "fp32" && o.target == "cuda")
    return invalid("--precision " + o.precision +
                   " is built for the CPU so far; the CUDA executor runs "
                   "fp32 activations (use --gemm-dtype for half-precision "
                   "gemm weights on the GPU)");
  if (o.quantize != "none" && o.quantize != "w8a16" && o.quantize != "w4a16" &&
      o.quantize != "w8a8")
    return invalid("--quantize must be none, w8a16, w4a16 or w8a8, got '" +
                   o.quantize + "'");
  if (o.quantize == "w8a8") {
    if (o.quantGroup != 0)
      return invalid("--quantize w8a8 scales each output channel once (its "
                     "int32 sums are scaled after the whole product); "
                     "--quant-group does not apply");
    if (!(o.smoothAlpha <= 1))
      return invalid("--smooth-alpha must be in [0, 1] (or off)");
  }
  if (o.quantize != "none") {
    if (o.stage != "steps")
      return invalid("--quantize applies to the step list: --emit kiln, "
                     "--emit kernels or --stage steps");
    if (o.gemmDtype != "f32")
      return invalid("--quantize stores the gemm weights as integers; "
                     "--gemm-dtype cannot narrow them too");
    if (o.quantGroup < 0 || o.quantGroup % 32 != 0)
      return invalid("--quant-group must be a positive multiple of 32, got " +
                     std::to_string(o.quantGroup));
    if (o.quantTolerance < 0)
      o.quantTolerance = defaultQuantTolerance(o.quantize);
  }
  auto pruning = parsePruneRequest(o.prune);
  if (!pruning.ok())
    return pruning.status();
  if (pruning->any()) {
    if (o.stage != "steps")
      return invalid("--prune applies to the step list: --emit kiln, "
                     "--emit kernels or --stage steps");
  }
  if (o.pruneScope != "layer" && o.pruneScope != "global")
    return invalid("--prune-scope must be layer or global, got '" +
                   o.pruneScope + "'");
  if (o.externalWeights && o.emit != "kiln")
    return invalid("--external-weights applies to --emit kiln");
  if (o.stage != "kiln" && o.stage != "decomposed" && o.stage != "linalg" &&
      o.stage != "llvm" && o.stage != "steps" && o.stage != "gpu")
    return invalid("--stage must be kiln, decomposed, linalg, llvm, steps or "
                   "gpu, got '" +
                   o.stage + "'");
  if (o.emit != "mlir" && o.output == "-")
    return invalid("--emit " + o.emit + " needs -o FILE");
  if (o.optLevel < 0 || o.optLevel > 1)
    return invalid("-O must be 0 or 1");
  if (o.cpus.empty())
    return invalid("--cpu needs at least one x86-64 level");
  for (const std::string &cpu : o.cpus)
    if (llvm::find(kCpuLevels, cpu) == std::end(kCpuLevels))
      return invalid("--cpu: '" + cpu +
                     "' is not an x86-64 level (x86-64, x86-64-v3, "
                     "x86-64-v4)");
  if (o.maxBatch < 1 || o.maxSeq < 0)
    return invalid("--max-batch must be >= 1 and --max-seq >= 0");
  if (o.tp < 1 || o.pp < 1 || o.dp < 1 || o.tp > 1024 || o.pp > 1024 ||
      o.dp > 1024 || o.tp * o.pp * o.dp > 1024)
    return invalid("--tp, --pp and --dp must each be >= 1, with a world "
                   "size (their product) of at most 1024 ranks");
  if (o.pp > 64)
    return invalid("--pp: at most 64 pipeline stages");
  if ((o.tp > 1 || o.pp > 1 || o.dp > 1) && o.stage != "steps")
    return invalid("--tp, --pp and --dp apply to the step list: --emit "
                   "kiln, --emit kernels or --stage steps");
  return o;
}

/// Step-list counts for the report and the progress line.
struct StepCounts {
  int64_t kernelSteps = 0, gemmSteps = 0, attentionSteps = 0, normSteps = 0,
          uniqueKernels = 0, arenaBytes = 0, cacheBytes = 0;
  llvm::json::Object arenas;
  /// Per entry: kernel/gemm/attention/norm steps and the activation bytes
  /// its steps read and write per call (see activationBytes).
  llvm::json::Object entries;
};

/// Bytes of a tensor value at the plan's limits: a dynamic dim 0 is the
/// batch, any other dynamic dim the sequence (or cache) length.
int64_t tensorBytes(mlir::Value v, int64_t maxBatch, int64_t maxSeq) {
  auto type = mlir::dyn_cast<mlir::RankedTensorType>(v.getType());
  if (!type)
    return 0;
  int64_t n = 1;
  for (int64_t d = 0; d < type.getRank(); ++d)
    n *= type.isDynamicDim(d) ? (d == 0 ? maxBatch : maxSeq)
                              : type.getDimSize(d);
  return n * std::max<int64_t>(1, type.getElementTypeBitWidth() / 8);
}

StepCounts countSteps(mlir::ModuleOp module, int64_t maxBatch, int64_t maxSeq) {
  StepCounts c;
  module->walk([&](mlir::func::FuncOp fn) {
    if (fn->hasAttr("kiln.kernel")) {
      ++c.uniqueKernels;
      return;
    }
    int64_t kernel = 0, gemm = 0, attention = 0, norm = 0, bytes = 0;
    fn.walk([&](mlir::Operation *op) {
      bool isKernel = mlir::isa<mlir::func::CallOp>(op);
      bool isGemm = mlir::isa<MatmulOp, LinearOp>(op);
      bool isAttention = mlir::isa<AttentionOp>(op);
      bool isNorm = mlir::isa<LayerNormOp, RmsNormOp>(op);
      kernel += isKernel;
      gemm += isGemm;
      attention += isAttention;
      norm += isNorm;
      // Activation traffic: every step's tensor operands and results that
      // are not weights (a gemm's weight is read once however it is
      // fused).
      if (!(isKernel || isGemm || isAttention || isNorm))
        return;
      for (mlir::Value v : op->getOperands())
        if (!mlir::isa_and_nonnull<ParamOp>(v.getDefiningOp()))
          bytes += tensorBytes(v, maxBatch, maxSeq);
      for (mlir::Value v : op->getResults())
        bytes += tensorBytes(v, maxBatch, maxSeq);
    });
    c.kernelSteps += kernel;
    c.gemmSteps += gemm;
    c.attentionSteps += attention;
    c.normSteps += norm;
    if (fn.isPublic())
      c.entries[fn.getName()] = llvm::json::Object{{"kernel", kernel},
                                                   {"gemm", gemm},
                                                   {"attention", attention},
                                                   {"norm", norm},
                                                   {"activation_bytes", bytes}};
    if (auto bytes = fn->getAttrOfType<mlir::IntegerAttr>("kiln.arena_bytes")) {
      c.arenas[fn.getName()] = bytes.getInt();
      c.arenaBytes = std::max<int64_t>(c.arenaBytes, bytes.getInt());
    }
    if (auto bytes = fn->getAttrOfType<mlir::IntegerAttr>("kiln.cache_bytes"))
      c.cacheBytes = std::max<int64_t>(c.cacheBytes, bytes.getInt());
  });
  return c;
}

/// `text` to standard output ("-") or, whole or not at all, to `path`.
absl::Status writeText(const std::string &path, llvm::StringRef text) {
  if (path == "-") {
    llvm::outs() << text;
    llvm::outs().flush();
    return absl::OkStatus();
  }
  return writeFileAtomically(path, std::string_view(text.data(), text.size()));
}

/// The folder's tokenizer as tokenizer.json (its own, or made from
/// vocab.txt or vocab.json and merges.txt: tokenizerJson), when kiln-run
/// can use it (a tokenizer Kiln reads); "" otherwise, with a note that says
/// why.
absl::StatusOr<std::string> embeddedTokenizer(const std::string &modelDir,
                                              int64_t modelVocab,
                                              llvm::raw_ostream &progress) {
  const std::string path = modelDir + "/tokenizer.json";
  auto json = tokenizerJson(modelDir);
  if (absl::IsNotFound(json.status()))
    return std::string();
  std::string text = json.ok() ? *json : std::string();
  std::string unusable;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      json.ok() ? Tokenizer::parse(text, llvm::sys::fs::exists(path) ? path
                                                                     : modelDir)
                : json.status();
  if (!tokenizer.ok())
    unusable = std::string(tokenizer.status().message());
  else if ((*tokenizer)->vocabSize() > modelVocab)
    unusable = llvm::formatv("it has {0} tokens, the model's vocabulary {1}",
                             (*tokenizer)->vocabSize(), modelVocab)
                   .str();
  if (!unusable.empty()) {
    progress << "kilnc: note: the tokenizer is not embedded (" << unusable
             << "); kiln-run takes this model's --input-ids only\n";
    return std::string();
  }
  progress << "kilnc: embedding the tokenizer (" << (*tokenizer)->vocabSize()
           << " tokens)\n";
  return text;
}

} // namespace

absl::StatusOr<CompileReport> compileModel(const CompileOptions &given) {
  auto resolved = resolve(given);
  if (!resolved.ok())
    return resolved.status();
  const CompileOptions &o = *resolved;
  // `gpu` is the step list's kernels lowered for the GPU (a gpu.module of
  // LLVM/NVVM dialect kernels), what ptxas is given.
  const bool gpuStage = o.stage == "gpu";
  const std::string stage = gpuStage ? "steps" : o.stage;
  llvm::raw_ostream &progress = o.progress ? *o.progress : llvm::nulls();

  llvm::json::Array stages;
  auto record = [&](const std::string &name, double seconds) {
    progress << llvm::formatv("kilnc: {0,-28} {1,8:f3} s\n", name, seconds);
    stages.push_back(llvm::json::Object{{"stage", name}, {"seconds", seconds}});
  };

  mlir::DialectRegistry registry;
  registerKilnCompilerDialects(registry);
  registerKilnCompilerPasses();
  mlir::MLIRContext context(registry);
  auto start = Clock::now();
  progress << "kilnc: reading " << o.modelDir << "\n";
  auto model = loadModel(context, o.modelDir);
  if (!model.ok())
    return model.status();
  record("read config, weights; build", secondsSince(start));
  const int64_t seqLimit =
      o.maxSeq
          ? o.maxSeq
          : (model->config.maxPositions ? model->config.maxPositions : 512);

  const bool guardRanges =
      stage == "steps" && o.precision == "fp16" && o.rangeGuard;
  if (guardRanges && !o.recordRanges)
    return absl::InternalError("the fp16 range guard needs a range recorder "
                               "(CompileOptions::recordRanges)");
  const bool guardQuant =
      stage == "steps" && o.quantize != "none" && o.quantGuard;
  // W8A8's SmoothQuant factors come from the same calibration, guardrail
  // or not.
  const bool smoothQuant =
      stage == "steps" && o.quantize == "w8a8" && o.smoothAlpha >= 0;
  const bool calibrateQuant = guardQuant || smoothQuant;
  if (calibrateQuant && !o.recordQuantErrors)
    return absl::InternalError(
        "the quantization calibration (the guardrail, W8A8's SmoothQuant "
        "factors) needs a recorder (CompileOptions::recordQuantErrors)");
  const int quantBits = quantSchemeBits(o.quantize);
  const PruneRequest pruning = *parsePruneRequest(o.prune); // resolve checked
  // Pruning's analyses read the checkpoint: FFN neuron scores, and the one
  // magnitude bound of global scope.
  double globalThreshold = 0;
  // With --calibration, every pruning score weighs the weights by the
  // activations they multiply (recordInputNorms): head and FFN scores,
  // and Wanda's |w| * ||x_j|| for unstructured:F and n:m.
  std::string pruneCalibration;
  if (stage == "steps" && pruning.any() && !o.calibrationIds.empty()) {
    if (!o.recordInputNorms)
      return absl::InternalError("activation-aware pruning needs a recorder "
                                 "(CompileOptions::recordInputNorms)");
    auto calibrated = Clock::now();
    auto tokens = o.recordInputNorms(*model, seqLimit, o.calibrationIds);
    if (!tokens.ok())
      return tokens.status();
    record("calibrate pruning", secondsSince(calibrated));
    progress << "kilnc: pruning scores are activation-aware: input norms "
                "over "
             << *tokens << " calibration tokens\n";
    std::vector<std::string> sequences;
    for (const std::vector<int64_t> &ids : o.calibrationIds)
      sequences.push_back(absl::StrJoin(ids, ","));
    pruneCalibration = absl::StrJoin(sequences, ";");
  }
  if (stage == "steps" && pruning.structured()) {
    auto ffns = recordNeuronScores(*model->module, *model->weights);
    if (!ffns.ok())
      return ffns.status();
    auto attentions = recordHeadScores(*model->module, *model->weights);
    if (!attentions.ok())
      return attentions.status();
    if (pruning.ffn > 0)
      progress << "kilnc: ffn:" << llvm::formatv("{0:f2}", pruning.ffn)
               << " prunes " << ffns->scored << " FFN blocks"
               << (pruneCalibration.empty()
                       ? ""
                       : " (" + std::to_string(ffns->activationAware) +
                             " scored by activations)")
               << "\n";
    if (pruning.heads > 0)
      progress << "kilnc: heads:" << llvm::formatv("{0:f2}", pruning.heads)
               << " prunes " << attentions->scored << " of "
               << attentions->total << " attention ops of the entry points"
               << (pruneCalibration.empty()
                       ? ""
                       : " (" + std::to_string(attentions->activationAware) +
                             " scored by activations)")
               << (attentions->scored < attentions->total
                       ? " (the others stay whole: a bias other than T5's "
                         "relative-position bias, or projections read "
                         "elsewhere)"
                       : "")
               << "\n";
  }
  // The norms serve the scores, and kiln-prune-weights, which removes
  // them; without it the IR after the passes does not carry them either.
  if (!pruning.inPlace())
    model->module->walk(
        [](LinearOp linear) { linear->removeAttr(kInputNorms); });
  if (stage == "steps" && pruning.fraction > 0 && o.pruneScope == "global") {
    auto threshold = globalPruneThreshold(*model->module, *model->weights,
                                          pruning.fraction, {});
    if (!threshold.ok())
      return threshold.status();
    globalThreshold = *threshold;
    progress << "kilnc: global pruning bound: |w| < "
             << llvm::formatv("{0:e3}", globalThreshold) << " prunes "
             << llvm::formatv("{0:f3}", pruning.fraction)
             << " of all prunable weights\n";
  }
  // The step-list options, with or without the graph fusions.
  auto stepOptions = [&](KilnStepListOptions &s, bool fuse) {
    s.tp = o.tp;
    s.pp = o.pp;
    s.maxBatch = o.maxBatch;
    s.maxSeq = seqLimit;
    s.fuse = fuse;
    s.precision = o.precision;
    s.keepF32 = o.keepF32;
    if (o.quantize != "none") {
      s.quantBits = quantBits;
      s.quantGroup = o.quantGroup;
      s.quantActBits = o.quantize == "w8a8" ? 8 : 0;
      s.quantTolerance = guardQuant ? o.quantTolerance : 0.0;
    }
    setPruneOptions(pruning, globalThreshold, s);
  };
  auto configure = [&](mlir::PassManager &p) {
    return o.configurePassManager ? o.configurePassManager(p)
                                  : absl::OkStatus();
  };
  const absl::Status pipelineFailed = absl::InvalidArgumentError(
      "the pipeline failed (see the diagnostics above)");
  KilnStepListOptions steps;
  mlir::PassManager pm(&context);
  KILN_RETURN_IF_ERROR(configure(pm));
  if (stage == "decomposed")
    pm.addPass(createKilnDecompose());
  else if (stage == "linalg" || stage == "llvm")
    buildKilnToLinalgPipeline(pm);
  else if (stage == "steps") {
    stepOptions(steps, o.optLevel > 0);
    if (guardRanges)
      steps.rangeLimit = kFp16RangeLimit;
    if (guardRanges || calibrateQuant) {
      // Calibration runs between the graph passes and the rest.
      buildKilnGraphPipeline(pm, steps);
    } else {
      buildKilnStepListPipeline(pm, steps);
    }
  }
  if (stage == "llvm") {
    model->module->walk([&](mlir::func::FuncOp fn) {
      fn->setAttr("llvm.emit_c_interface", mlir::UnitAttr::get(&context));
    });
    if (mlir::failed(buildKilnCpuLoweringPipeline(pm)))
      return absl::InternalError("cannot build the CPU lowering pipeline");
  }
  // The same step list without fusion, for the report's comparison (the
  // graph passes take milliseconds).
  std::optional<StepCounts> unfused;
  if (stage == "steps" && o.optLevel > 0) {
    mlir::OwningOpRef<mlir::ModuleOp> copy =
        mlir::cast<mlir::ModuleOp>((*model->module)->clone());
    mlir::PassManager plain(&context);
    KilnStepListOptions plainSteps;
    stepOptions(plainSteps, /*fuse=*/false);
    buildKilnStepListPipeline(plain, plainSteps);
    // Only for the report: its errors are the main pipeline's, said there.
    mlir::ScopedDiagnosticHandler quiet(
        &context, [](mlir::Diagnostic &) { return mlir::success(); });
    if (mlir::succeeded(plain.run(*copy)))
      unfused = countSteps(*copy, o.maxBatch, seqLimit);
  }
  start = Clock::now();
  // A pass's error (an impossible partitioning, say) is kilnc's one line.
  KILN_RETURN_IF_ERROR(
      diagnosed(context, [&] { return pm.run(*model->module); }));
  if (guardRanges) {
    KILN_RETURN_IF_ERROR(o.recordRanges(*model, seqLimit));
    int64_t hot = 0;
    model->module->walk([&](mlir::Operation *op) {
      if (auto r = op->getAttrOfType<mlir::DenseF64ArrayAttr>("kiln.max_abs"))
        hot += llvm::any_of(r.asArrayRef(),
                            [](double v) { return v > kFp16RangeLimit; });
    });
    progress << "kilnc: fp16 range guard: " << hot << " ops reach past |x| = "
             << static_cast<int64_t>(kFp16RangeLimit)
             << " on the calibration run; the library steps reading or "
                "writing them stay f32\n";
  }
  llvm::json::Array quantLayers;
  std::vector<std::string> quantFloat;
  if (calibrateQuant) {
    auto calibrated = Clock::now();
    QuantCalibration calibration;
    calibration.bits = quantBits;
    calibration.group = o.quantGroup;
    calibration.actBits = o.quantize == "w8a8" ? 8 : 0;
    calibration.smoothAlpha = o.smoothAlpha;
    calibration.ids = o.calibrationIds;
    KILN_RETURN_IF_ERROR(o.recordQuantErrors(*model, seqLimit, calibration));
    record("calibrate quantization", secondsSince(calibrated));
    int64_t kept = 0, layers = 0;
    llvm::StringSet<> seen; // each entry reads the weight: report it once
    model->module->walk([&](LinearOp linear) {
      auto error = linear->getAttrOfType<mlir::FloatAttr>("kiln.quant_error");
      auto param = linear.getWeight().getDefiningOp<ParamOp>();
      if (!error || !param || !seen.insert(param.getName()).second)
        return;
      const double e = error.getValueAsDouble();
      const bool fallback = guardQuant && e > o.quantTolerance;
      ++layers;
      kept += fallback;
      if (fallback)
        quantFloat.push_back(param.getName().str());
      if (fallback)
        progress << "kilnc: " << param.getName()
                 << " stays in float: " << o.quantize
                 << " gives its output a relative error of "
                 << llvm::formatv("{0:e2}", e) << " on the calibration "
                 << "inputs, over --quant-tolerance "
                 << llvm::formatv("{0:e2}", o.quantTolerance) << "\n";
      quantLayers.push_back(llvm::json::Object{
          {"weight", param.getName().str()},
          {"fp32_bytes", param.getType().getNumElements() * 4},
          {"error",
           std::isfinite(e) ? llvm::json::Value(e) : llvm::json::Value("inf")},
          {"quantized", !fallback}});
    });
    if (guardQuant)
      progress << "kilnc: quantization guardrail: " << layers - kept << " of "
               << layers << " linear layers quantized (" << o.quantize << "), "
               << kept << " kept in float\n";
  }
  if (guardRanges || calibrateQuant) {
    mlir::PassManager tail(&context);
    KILN_RETURN_IF_ERROR(configure(tail));
    buildKilnStepListTail(tail, steps);
    if (mlir::failed(tail.run(*model->module)))
      return pipelineFailed;
  }
  record(stage == "kiln" ? std::string("graph (no passes)")
                         : "pipeline to " + stage,
         secondsSince(start));
  StepCounts counts = countSteps(*model->module, o.maxBatch, seqLimit);

  ExportSummary summary;
  mlir::ModuleOp module = *model->module;
  if (o.emit == "object") {
    start = Clock::now();
    KILN_RETURN_IF_ERROR(
        diagnosed(context, [&] { return emitCpuObject(module, o.output); }));
    record("x86-64 object", secondsSince(start));
  } else if (o.emit == "kernels" || o.emit == "kiln") {
    start = Clock::now();
    progress << "kilnc: compiling " << counts.uniqueKernels
             << " unique kernels (" << counts.kernelSteps
             << " kernel steps) for "
             << (o.target == "cuda" ? "sm_90" : "x86-64") << "\n";
    std::vector<CompiledKernel> kernels = collectKernels(module);
    std::vector<KernelBinary> binaries;
    if (o.target == "cuda") {
      std::string toolkit =
          o.cudaToolkit.empty() ? defaultCudaToolkit() : o.cudaToolkit;
      CudaBinary cuda;
      KILN_RETURN_IF_ERROR(diagnosed(context, [&] {
        auto compiled = compileCudaKernels(module, toolkit, !o.ptxPath.empty());
        if (succeeded(compiled))
          cuda = std::move(*compiled);
        return mlir::LogicalResult(compiled);
      }));
      if (!o.ptxPath.empty())
        KILN_RETURN_IF_ERROR(writeText(o.ptxPath, cuda.ptx));
      if (o.emit == "kernels")
        KILN_RETURN_IF_ERROR(writeText(o.output, cuda.fatbin));
      binaries.push_back({"", std::move(cuda.fatbin)});
      record("kernels -> sm_90 fatbin", secondsSince(start));
    }
    if (o.target == "cpu") {
      // One library per x86-64 level; --emit kernels writes the first.
      std::vector<std::string> cpus = o.cpus;
      if (o.emit == "kernels")
        cpus.resize(1);
      std::vector<CpuObjectFile> objects;
      for (const std::string &cpu : cpus)
        objects.push_back({cpu, o.output + "." + cpu + ".o"});
      absl::Status compiled = diagnosed(context, [&] {
        return compileCpuKernels(module, objects, o.emulateGpuThreads);
      });
      record("kernels -> x86-64 objects (" + llvm::join(cpus, ", ") + ")",
             secondsSince(start));
      start = Clock::now();
      for (const CpuObjectFile &object : objects) {
        std::string library = o.emit == "kernels"
                                  ? o.output
                                  : o.output + "." + object.cpu + ".so";
        absl::Status linked = compiled;
        if (linked.ok())
          linked = diagnosed(context, [&] {
            return linkSharedObject(module.getLoc(), {object.path}, library);
          });
        llvm::sys::fs::remove(object.path);
        if (!linked.ok()) {
          for (const CpuObjectFile &other : objects)
            llvm::sys::fs::remove(other.path);
          return linked;
        }
        if (o.emit == "kiln") {
          auto bytes = readFile(library);
          llvm::sys::fs::remove(library);
          if (!bytes.ok())
            return bytes.status();
          binaries.push_back({object.cpu, std::move(*bytes)});
        }
      }
      record("link shared objects", secondsSince(start));
    }
    if (o.emit == "kiln") {
      start = Clock::now();
      const ModelConfig &c = model->config;
      ExportOptions options;
      options.target = o.target;
      options.maxBatch = o.maxBatch;
      options.maxSeq = seqLimit;
      options.externalWeights = o.externalWeights;
      options.dataParallel = o.dp;
      options.gemmDtype = o.gemmDtype;
      options.precision = o.precision;
      options.keepF32 = o.keepF32;
      options.rangeLimit = static_cast<double>(steps.rangeLimit);
      options.quantize = o.quantize;
      options.quantGroup = o.quantGroup;
      options.quantFloat = quantFloat;
      options.prune = pruning.any() ? o.prune : "none";
      options.pruneThreshold = globalThreshold;
      options.pruneCalibration = pruneCalibration;
      options.cacheWidth = c.numKvHeads * c.headDim;
      options.cacheLayers = c.family == Family::T5 ? c.numDecoderLayers
                            : c.isDecoderOnly()    ? c.numLayers
                                                   : 0;
      KILN_ASSIGN_OR_RETURN(
          options.tokenizerJson,
          embeddedTokenizer(o.modelDir, c.vocabSize, progress));
      KILN_RETURN_IF_ERROR(diagnosed(context, [&] {
        auto written = writeArtifact(module, kernels, binaries, modelInfo(c),
                                     *model->weights, options, o.output);
        if (succeeded(written))
          summary = *written;
        return mlir::LogicalResult(written);
      }));
      record(o.externalWeights ? "pack artifact (external weights)"
                               : "pack artifact with weights",
             secondsSince(start));
      if (!summary.pruned.empty()) {
        int64_t zeros = 0, elements = 0, compressed = 0, rows = 0, bytes = 0,
                dense = 0;
        for (const ExportSummary::Pruned &p : summary.pruned) {
          elements += p.elements;
          zeros += p.zeros;
          compressed += p.storage == "2:4 compressed";
          rows += p.storage == "sparse rows";
          bytes += p.bytes;
          dense += p.denseBytes;
        }
        progress << "kilnc: pruned " << summary.pruned.size()
                 << " linear weights to "
                 << llvm::formatv("{0:f1}", 100.0 * zeros / elements)
                 << "% zeros; " << compressed << " stored 2:4 compressed, "
                 << rows << " as sparse rows (from "
                 << static_cast<int>(sparseRowsThreshold(o.maxBatch) * 100)
                 << "% zeros), the rest dense; their bytes "
                 << llvm::formatv("{0:f1}", bytes / 1048576.0) << " MiB of "
                 << llvm::formatv("{0:f1}", dense / 1048576.0)
                 << " MiB dense\n";
        const bool twoFour = pruning.m == 4 && pruning.n == 2;
        if (o.target == "cuda" && twoFour)
          progress << "kilnc: "
                   << (o.gemmDtype != "f32"
                           ? "the CUDA executor compresses the 2:4 " +
                                 o.gemmDtype +
                                 " weights for cuSPARSELt at load (where "
                                 "libcusparseLt is installed)\n"
                           : std::string("2:4 weights stay dense on the GPU "
                                         "in f32 (cuSPARSELt's 2:4 kernels "
                                         "are bf16/f16: --gemm-dtype bf16)\n"));
      }
      if (o.tp > 1 || o.dp > 1 || o.pp > 1) {
        progress << "kilnc: " << o.tp * o.pp * o.dp
                 << " ranks (tensor parallel " << o.tp << " x pipeline " << o.pp
                 << " x data parallel " << o.dp << "): ";
        if (o.pp > 1) {
          progress << "MiB of weights per rank by stage:";
          for (int64_t bytes : summary.stageWeightBytes)
            progress << " " << llvm::formatv("{0:f1}", bytes / 1048576.0);
          progress << "\n";
        } else {
          progress << llvm::formatv("{0:f1}", summary.weightBytes / 1048576.0)
                   << " MiB of weights per rank\n";
        }
      }
      progress << "kilnc: wrote " << o.output << " ("
               << llvm::formatv("{0:f1}", summary.artifactBytes / 1048576.0)
               << " MiB)\n";
    }
  }
  mlir::OwningOpRef<mlir::ModuleOp> gpuKernels;
  if (gpuStage && o.emit == "mlir") {
    start = Clock::now();
    KILN_RETURN_IF_ERROR(diagnosed(context, [&] {
      auto lowered = lowerCudaKernels(module);
      if (succeeded(lowered))
        gpuKernels = std::move(*lowered);
      return mlir::LogicalResult(lowered);
    }));
    record("kernels -> NVVM", secondsSince(start));
  }
  std::string irPath = o.emit == "mlir" ? o.output : o.stepsPath;
  if (!irPath.empty()) {
    std::string ir;
    llvm::raw_string_ostream os(ir);
    if (gpuKernels)
      gpuKernels->print(os);
    else
      model->module->print(os);
    os << "\n";
    KILN_RETURN_IF_ERROR(writeText(irPath, ir));
  }

  int64_t kilnOps = 0, linalgOps = 0, weightBytes = 0;
  model->module->walk([&](mlir::Operation *op) {
    if (op->getDialect() && op->getDialect()->getNamespace() == "kiln")
      ++kilnOps;
    if (mlir::isa<mlir::linalg::LinalgOp>(op))
      ++linalgOps;
  });
  for (const std::string &name : model->weights->names())
    weightBytes += static_cast<int64_t>((*model->weights->get(name))->bytes);
  llvm::json::Object report{
      {"model", o.modelDir},         {"stage", stage},
      {"kiln_ops", kilnOps},         {"linalg_ops", linalgOps},
      {"weight_bytes", weightBytes}, {"compile_seconds", std::move(stages)}};
  if (stage == "steps") {
    report["unique_kernels"] = counts.uniqueKernels;
    report["steps"] = llvm::json::Object{{"kernel", counts.kernelSteps},
                                         {"gemm", counts.gemmSteps},
                                         {"attention", counts.attentionSteps},
                                         {"norm", counts.normSteps}};
    report["entries"] = std::move(counts.entries);
    report["opt_level"] = o.optLevel;
    report["precision"] = o.precision;
    report["keep_f32"] = llvm::json::Array(o.keepF32);
    report["range_limit"] = static_cast<double>(steps.rangeLimit);
    report["quantize"] = o.quantize;
    if (o.quantize != "none") {
      report["quant_group"] = o.quantGroup;
      report["quant_guard"] = o.quantGuard;
      report["quant_tolerance"] = o.quantTolerance;
      if (o.quantize == "w8a8")
        report["smooth_alpha"] = o.smoothAlpha >= 0
                                     ? llvm::json::Value(o.smoothAlpha)
                                     : llvm::json::Value("off");
      report["quant_layers"] = std::move(quantLayers);
    }
    if (unfused)
      report["unfused"] = llvm::json::Object{
          {"steps", llvm::json::Object{{"kernel", unfused->kernelSteps},
                                       {"gemm", unfused->gemmSteps},
                                       {"attention", unfused->attentionSteps},
                                       {"norm", unfused->normSteps}}},
          {"unique_kernels", unfused->uniqueKernels},
          {"entries", std::move(unfused->entries)}};
    report["arena_bytes"] = counts.arenaBytes;
    report["arena_bytes_per_entry"] = std::move(counts.arenas);
    report["kv_cache_bytes"] = counts.cacheBytes;
    report["max_batch"] = o.maxBatch;
    report["max_seq"] = seqLimit;
  }
  if (o.emit == "kiln") {
    report["artifact_bytes"] = summary.artifactBytes;
    report["runtime_weight_bytes"] = summary.weightBytes;
    report["tensor_parallel"] = o.tp;
    report["pipeline_parallel"] = o.pp;
    report["data_parallel"] = o.dp;
    report["ranks"] = o.tp * o.pp * o.dp;
    // With stages, a rank holds its stage's weights: the largest stage's.
    report["weight_bytes_per_rank"] =
        o.pp > 1 ? *std::max_element(summary.stageWeightBytes.begin(),
                                     summary.stageWeightBytes.end())
                 : summary.weightBytes;
    report["weight_bytes_per_stage"] =
        llvm::json::Array(summary.stageWeightBytes);
    report["sharded_weight_bytes_per_rank"] = summary.shardedBytes;
    report["external_weights"] = o.externalWeights;
    report["gemm_dtype"] = o.gemmDtype;
    if (o.quantize != "none") {
      report["quantized_weight_bytes"] = summary.quantizedBytes;
      if (o.quantize == "w8a8")
        report["smooth_factor_bytes"] = summary.smoothBytes;
      report["quantized_weight_fp32_bytes"] = summary.quantizedF32Bytes;
    }
    if (pruning.any()) {
      llvm::json::Array layers;
      int64_t bytes = 0, denseBytes = 0;
      for (const ExportSummary::Pruned &p : summary.pruned) {
        layers.push_back(llvm::json::Object{{"weight", p.name},
                                            {"sparsity", p.sparsity},
                                            {"storage", p.storage},
                                            {"bytes", p.bytes},
                                            {"dense_bytes", p.denseBytes}});
        bytes += p.bytes;
        denseBytes += p.denseBytes;
      }
      report["pruned_layers"] = std::move(layers);
      report["pruned_weight_bytes"] = bytes;
      report["pruned_weight_dense_bytes"] = denseBytes;
    }
  }
  if (pruning.any()) {
    report["prune"] = o.prune;
    report["prune_scope"] = o.pruneScope;
    if (globalThreshold > 0)
      report["prune_threshold"] = globalThreshold;
  }
  CompileReport result;
  llvm::raw_string_ostream json(result.json);
  json << llvm::formatv("{0:2}", llvm::json::Value(std::move(report)));
  return result;
}

} // namespace kiln
