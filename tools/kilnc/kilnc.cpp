//===- kilnc.cpp - the Kiln compiler driver -------------------------------===//
//
//   kilnc MODEL_DIR -o OUT.kiln [--external-weights]
//   kilnc MODEL_DIR -o OUT --emit mlir
//         [--stage kiln|decomposed|linalg|llvm|steps|gpu]
//   kilnc MODEL_DIR -o OUT.so --emit kernels [--steps FILE.mlir]
//   kilnc MODEL_DIR --target cuda -o OUT.kiln | --emit kernels -o OUT.fatbin
//         [--ptx FILE.ptx] [--cuda-toolkit DIR]
//   kilnc MODEL_DIR -o OUT.o --emit object
//         [--tp T] [--pp P] [--dp D] [--max-batch B] [--max-seq S]
//         [--report FILE.json]
//         [--mlir-print-ir-after-all] [--mlir-timing]
//
// Reads a Hugging Face folder and builds the kiln graph, then:
//   --emit kiln     (the default for an OUT ending in .kiln) compiles the
//                   step list and its kernels for the CPU and packs them with
//                   the weights (or, with --external-weights, their names
//                   and hashes) into one artifact for kiln-run;
//   --emit mlir     runs the pipeline to --stage and writes the IR; `steps`
//                   is the step list (kernel calls, gemms, attentions) with
//                   its arena plan;
//   --emit kernels  compiles the step list's kernels into a shared object
//                   with the flat kernel ABI (and writes the step list);
//   --emit object   lowers every entry point whole to one x86-64 object.
// Progress goes to stderr; --report writes counts, sizes and stage times.
//
//===----------------------------------------------------------------------===//

#include "compiler/Compile.h"
#include "compiler/Plan.h"
#include "compiler/ReferenceRun.h"
#include "support/Files.h"
#include "tools/common/IdLists.h"

#include "absl/status/status.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <optional>

namespace cl = llvm::cl;

static cl::OptionCategory kilncOptions("kilnc options");

static cl::opt<std::string> modelDir(cl::cat(kilncOptions), cl::Positional,
                                     cl::Required,
                                     cl::desc("<hugging face model folder>"));
static cl::opt<std::string> outputPath(cl::cat(kilncOptions), "o",
                                       cl::desc("output file"),
                                       cl::value_desc("OUT"), cl::init("-"));
static cl::opt<std::string>
    emit(cl::cat(kilncOptions), "emit",
         cl::desc("what to write: kiln | mlir | kernels | object (default: "
                  "kiln for an output ending in .kiln, else mlir)"));
static cl::opt<bool>
    plan(cl::cat(kilncOptions), "plan",
         cl::desc("report-only: from config.json alone (no weights), the "
                  "per-rank weight bytes, kv cache and collective traffic of "
                  "--tp/--pp/--dp, and the stage split of --pp"));
static cl::opt<bool> externalWeights(
    cl::cat(kilncOptions), "external-weights",
    cl::desc("with --emit kiln, leave the weights out: kiln-run reads them "
             "from the model folder (--weights) and checks their hashes"));
static cl::opt<std::string> gemmDtype(
    cl::cat(kilncOptions), "gemm-dtype", cl::init("f32"),
    cl::desc("with --emit kiln: f32, bf16 or f16. The weights only gemm "
             "steps read are stored in that type and those gemms compute in "
             "it with f32 accumulation (cuBLASLt on the GPU; the CPU widens "
             "the weights back to f32 at load). Activations, attention and "
             "the other kernels stay f32"));
static cl::opt<std::string> precision(
    cl::cat(kilncOptions), "precision", cl::init("fp32"),
    cl::desc("fp32, bf16 or fp16 (CPU). With bf16/fp16, activations, the kv "
             "cache and the gemm weights are stored in that type: gemms, "
             "attention and norms accumulate in f32 and round once when "
             "they store, elementwise kernels compute in f32, outputs are "
             "f32 (the policy: kiln-mixed-precision in kiln-opt --help)"));
static cl::list<std::string> keepF32(
    cl::cat(kilncOptions), "keep-f32", cl::CommaSeparated,
    cl::desc("with --precision bf16/fp16: library op kinds to keep in f32, "
             "comma-separated (linear, matmul, attention, layer_norm, "
             "rms_norm)"));
static cl::opt<bool> rangeGuard(
    cl::cat(kilncOptions), "range-guard", cl::init(true),
    cl::desc("with --precision fp16: run the model once on the reference "
             "interpreter and keep in f32 the gemms, norms and attention "
             "that read or write values past 1/8 of fp16's range (default "
             "on; --range-guard=false casts everything, which can "
             "overflow)"));
static cl::opt<std::string> quantize(
    cl::cat(kilncOptions), "quantize", cl::init("none"),
    cl::desc("none, w8a16, w4a16 or w8a8 (CPU): linear weights stored as "
             "int8 with one scale per output channel, or int4 with one per "
             "output channel and --quant-group input features; the gemms "
             "dequantize them as they multiply. Activations are what "
             "--precision says, except under w8a8: the gemms quantize "
             "their input rows to int8 (per token) after SmoothQuant's "
             "scaling and multiply in int8 (the pass: "
             "kiln-quantize-weights)"));
static cl::opt<std::string> smoothAlpha(
    cl::cat(kilncOptions), "smooth-alpha", cl::init("0.5"),
    cl::desc("with --quantize w8a8: SmoothQuant's migration strength in "
             "[0, 1] (each input feature scaled by max|x|^alpha / "
             "max|w|^(1-alpha), from the calibration's activation ranges), "
             "or off"));
static cl::opt<int64_t> quantGroup(
    cl::cat(kilncOptions), "quant-group", cl::init(0),
    cl::desc("with --quantize: input features per scale, a multiple of 32 "
             "(default: all of them for int8, 128 for int4)"));
static cl::opt<double> quantTolerance(
    cl::cat(kilncOptions), "quant-tolerance", cl::init(-1),
    cl::desc("with --quantize: the guardrail keeps in float every linear "
             "layer whose output error (relative, on the calibration "
             "inputs) exceeds this (default 0.03 for w8a16, 0.2 for "
             "w4a16, 0.06 for w8a8)"));
static cl::opt<bool> quantGuard(
    cl::cat(kilncOptions), "quant-guard", cl::init(true),
    cl::desc("with --quantize: run the model on the calibration inputs on "
             "the reference interpreter, measure each linear layer's error "
             "under quantization, and keep the layers past "
             "--quant-tolerance in float (default on)"));
static cl::opt<std::string> prune(
    cl::cat(kilncOptions), "prune", cl::init("none"),
    cl::desc("none, or comma-separated: unstructured:F (the fraction F of "
             "the linear weights with the smallest magnitudes set to zero), "
             "2:4 (2 of every 4 input features kept, stored compressed for "
             "the CPU's gemms), heads:F and ffn:F (the fraction F of each "
             "attention's key/value head groups, of each FFN's neurons, "
             "removed: a smaller model). Only transformer-block weights are "
             "pruned, never embeddings, the LM head or norms. E.g. --prune "
             "heads:0.25,ffn:0.25,2:4 (the passes: kiln-prune-structured, "
             "kiln-prune-weights)"));
static cl::opt<std::string> pruneScope(
    cl::cat(kilncOptions), "prune-scope", cl::init("layer"),
    cl::desc("with --prune unstructured:F: layer (F of each weight) or "
             "global (F of all weights together, one magnitude bound)"));
static cl::opt<std::string> calibration(
    cl::cat(kilncOptions), "calibration",
    cl::desc("with --quantize: a file of token-id sequences to calibrate "
             "on, one per line, ids separated by commas or spaces "
             "(default: two sequences drawn from the vocabulary); with "
             "--prune: score by the activations these sequences make "
             "instead of weights alone: heads and neurons by ||x|| * ||w|| "
             "per input feature of the output projections, unstructured "
             "and n:m pruning by Wanda's |w| * ||x_j||"));
static cl::list<std::string> cpus(
    cl::cat(kilncOptions), "cpu", cl::CommaSeparated,
    cl::desc("with target cpu: the x86-64 levels to compile the kernels for, "
             "comma-separated: x86-64 (SSE2, any x86-64), x86-64-v3 (AVX2 + "
             "FMA), x86-64-v4 (AVX-512). Default: all three; kiln-run loads "
             "the highest its CPU runs and refuses an artifact with none"));
static cl::opt<std::string>
    target(cl::cat(kilncOptions), "target", cl::init("cpu"),
           cl::desc("cpu, or cuda: kernels for sm_90 (a fatbin with SASS "
                    "and PTX, assembled with the CUDA toolkit's ptxas)"));
static cl::opt<std::string> cudaToolkit(
    cl::cat(kilncOptions), "cuda-toolkit",
    cl::desc("the CUDA toolkit for --target cuda (default: $CUDA_HOME or "
             "/usr/local/cuda)"));
static cl::opt<int64_t> emulateGpuThreads(
    cl::cat(kilncOptions), "emulate-gpu-threads", cl::init(0), cl::Hidden,
    cl::desc("with --target cpu, compile the kernels through the CUDA "
             "lowering with N emulated GPU threads (tests the GPU "
             "distribution on the CPU)"));
static cl::opt<std::string>
    ptxPath(cl::cat(kilncOptions), "ptx",
            cl::desc("with --target cuda, also write the kernels' "
                     "PTX here"));
static cl::opt<std::string>
    stage(cl::cat(kilncOptions), "stage", cl::init("linalg"),
          cl::desc("with --emit mlir, the last stage to run: kiln (the "
                   "graph as built), decomposed, linalg, llvm, steps, gpu "
                   "(the kernels lowered to NVVM)"));
static cl::opt<std::string>
    stepsPath(cl::cat(kilncOptions), "steps",
              cl::desc("with --emit kernels, also write the step "
                       "list (MLIR) here"));
static cl::opt<int64_t>
    tp(cl::cat(kilncOptions), "tp", cl::init(1),
       cl::desc("tensor-parallel ranks: attention heads, MLP widths, the "
                "vocabulary's embeddings and the LM head split over T ranks "
                "(kiln-partition)"));
static cl::opt<int64_t>
    pp(cl::cat(kilncOptions), "pp", cl::init(1),
       cl::desc("pipeline-parallel stages: the layers split over P stages "
                "by their weight bytes, activations passed between them "
                "(kiln-pipeline)"));
static cl::opt<int64_t>
    dp(cl::cat(kilncOptions), "dp", cl::init(1),
       cl::desc("data-parallel replicas: a call's batch split over D "
                "replicas of the (tensor-parallel) program"));
static cl::opt<int64_t> maxBatch(cl::cat(kilncOptions), "max-batch",
                                 cl::init(1),
                                 cl::desc("largest batch the arena serves"));
static cl::opt<int64_t>
    maxSeq(cl::cat(kilncOptions), "max-seq", cl::init(0),
           cl::desc("largest sequence the arena serves (default: the "
                    "model's position limit, or 512)"));
static cl::opt<unsigned>
    optLevel(cl::cat(kilncOptions), "O", cl::Prefix, cl::init(1),
             cl::desc("-O0: no fusion, every elementwise op its own kernel; "
                      "-O1 (default): kiln-fuse"));
static cl::opt<std::string> reportPath(cl::cat(kilncOptions), "report",
                                       cl::desc("write a JSON report"));

/// --calibration: one sequence per line, ids separated by commas or
/// spaces; blank lines skipped.
static absl::StatusOr<std::vector<std::vector<int64_t>>>
readCalibration(const std::string &path) {
  auto text = kiln::readFile(path);
  if (!text.ok())
    return text.status();
  std::string lists;
  for (llvm::StringRef line : llvm::split(*text, '\n')) {
    std::string sequence;
    for (char ch : line)
      sequence += (ch == ' ' || ch == '\t' || ch == '\r') ? ',' : ch;
    llvm::SmallVector<llvm::StringRef> parts;
    llvm::StringRef(sequence).split(parts, ',', -1, /*KeepEmpty=*/false);
    if (parts.empty())
      continue;
    if (!lists.empty())
      lists += ';';
    lists += llvm::join(parts, ",");
  }
  if (lists.empty())
    return absl::InvalidArgumentError("--calibration: " + path +
                                      " holds no token ids");
  return kiln::parseIdLists(lists, "--calibration");
}

/// --report's JSON to its file (or stdout for "-"); kilnc's exit status.
static int writeReport(const std::string &json) {
  if (reportPath.empty())
    return 0;
  absl::Status written = absl::OkStatus();
  if (reportPath == "-")
    llvm::outs() << json << "\n";
  else
    written = kiln::writeFileAtomically(reportPath, json + "\n");
  if (!written.ok()) {
    llvm::errs() << "kilnc: error: " << std::string(written.message()) << "\n";
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  // --mlir-disable-threading: the compile on one thread (the artifact is
  // byte-identical either way; test/lit/tools/kilnc-deterministic.test).
  mlir::registerMLIRContextCLOptions();
  // --help lists kilnc's options and the pass manager's IR printing and
  // timing, not the hundreds of LLVM backend flags libLLVM registers (they
  // still parse).
  for (auto &entry : cl::getRegisteredOptions())
    if (entry.first.starts_with("mlir-print-ir") ||
        entry.first.starts_with("mlir-timing") ||
        entry.first == "mlir-disable-threading")
      entry.second->addCategory(kilncOptions);
  cl::HideUnrelatedOptions(kilncOptions);
  cl::ParseCommandLineOptions(argc, argv, "Kiln ahead-of-time compiler\n");

  if (plan) {
    kiln::PlanOptions p;
    p.modelDir = modelDir;
    p.tp = tp;
    p.pp = pp;
    p.dp = dp;
    p.progress = &llvm::errs();
    auto json = kiln::planModel(p);
    if (!json.ok()) {
      llvm::errs() << "kilnc: error: " << std::string(json.status().message())
                   << "\n";
      return 1;
    }
    return writeReport(*json);
  }

  kiln::CompileOptions o;
  o.modelDir = modelDir;
  o.output = outputPath;
  o.emit = emit;
  o.target = target;
  o.stage = stage;
  o.gemmDtype = gemmDtype;
  o.precision = precision;
  o.keepF32.assign(keepF32.begin(), keepF32.end());
  o.rangeGuard = rangeGuard;
  o.recordRanges = kiln::recordValueRanges;
  o.quantize = quantize;
  o.quantGroup = quantGroup;
  o.quantTolerance = quantTolerance;
  o.quantGuard = quantGuard;
  o.recordQuantErrors = kiln::recordQuantErrors;
  o.recordInputNorms = kiln::recordInputNorms;
  if (smoothAlpha == "off") {
    o.smoothAlpha = -1;
  } else {
    char *end = nullptr;
    o.smoothAlpha = std::strtod(smoothAlpha.c_str(), &end);
    if (smoothAlpha.empty() || *end || !(o.smoothAlpha >= 0) ||
        o.smoothAlpha > 1) {
      llvm::errs() << "kilnc: error: --smooth-alpha must be a number in "
                      "[0, 1] or off, got '"
                   << smoothAlpha << "'\n";
      return 1;
    }
  }
  o.prune = prune;
  o.pruneScope = pruneScope;
  if (!calibration.empty()) {
    auto ids = readCalibration(calibration);
    if (!ids.ok()) {
      llvm::errs() << "kilnc: error: " << std::string(ids.status().message())
                   << "\n";
      return 1;
    }
    o.calibrationIds = std::move(*ids);
  }
  if (!cpus.empty())
    o.cpus.assign(cpus.begin(), cpus.end());
  o.externalWeights = externalWeights;
  o.cudaToolkit = cudaToolkit;
  o.ptxPath = ptxPath;
  o.stepsPath = stepsPath;
  o.maxBatch = maxBatch;
  o.maxSeq = maxSeq;
  o.tp = tp;
  o.pp = pp;
  o.dp = dp;
  o.optLevel = optLevel;
  o.emulateGpuThreads = emulateGpuThreads;
  o.progress = &llvm::errs();
  // --mlir-print-ir-after-all, --mlir-timing and the other pass manager
  // flags.
  mlir::DefaultTimingManager timing;
  mlir::applyDefaultTimingManagerCLOptions(timing);
  std::optional<mlir::TimingScope> rootTiming;
  o.configurePassManager = [&](mlir::PassManager &pm) -> absl::Status {
    if (mlir::failed(mlir::applyPassManagerCLOptions(pm)))
      return absl::InvalidArgumentError("invalid pass manager options");
    rootTiming.emplace(timing.getRootScope());
    pm.enableTiming(*rootTiming);
    return absl::OkStatus();
  };
  auto report = kiln::compileModel(o);
  if (!report.ok()) {
    llvm::errs() << "kilnc: error: " << std::string(report.status().message())
                 << "\n";
    return 1;
  }
  return writeReport(report->json);
}
