//===- kilnc.cpp - the Kiln compiler driver -------------------------------===//
//
//   kilnc MODEL_DIR -o OUT.kiln [--external-weights]
//   kilnc MODEL_DIR -o OUT --emit mlir
//         [--stage kiln|decomposed|linalg|llvm|steps|gpu]
//   kilnc MODEL_DIR -o OUT.so --emit kernels [--steps FILE.mlir]
//   kilnc MODEL_DIR --target cuda -o OUT.kiln | --emit kernels -o OUT.fatbin
//         [--ptx FILE.ptx] [--cuda-toolkit DIR]
//   kilnc MODEL_DIR -o OUT.o --emit object
//         [--max-batch B] [--max-seq S] [--report FILE.json]
//         [--print-ir-after-all] [--mlir-timing]
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

#include "dialects/kiln/KilnOps.h"
#include "support/Files.h"
#include "compiler/ModelLoader.h"
#include "passes/ArtifactExport.h"
#include "passes/CpuKernels.h"
#include "passes/CpuObject.h"
#include "passes/CudaKernels.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"
#include "passes/Registration.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

namespace cl = llvm::cl;

static cl::opt<std::string> modelDir(cl::Positional, cl::Required,
                                     cl::desc("<hugging face model folder>"));
static cl::opt<std::string> outputPath("o", cl::desc("output file"),
                                       cl::value_desc("OUT"), cl::init("-"));
static cl::opt<std::string>
    emit("emit",
         cl::desc("what to write: kiln | mlir | kernels | object (default: "
                  "kiln for an output ending in .kiln, else mlir)"));
static cl::opt<bool> externalWeights(
    "external-weights",
    cl::desc("with --emit kiln, leave the weights out: kiln-run reads them "
             "from the model folder (--weights) and checks their hashes"));
static cl::opt<std::string> gemmDtype(
    "gemm-dtype", cl::init("f32"),
    cl::desc("with --emit kiln: f32, bf16 or f16. The weights only gemm "
             "steps read are stored in that type and those gemms compute in "
             "it with f32 accumulation (cuBLASLt on the GPU; the CPU widens "
             "the weights back to f32 at load). Activations, attention and "
             "the other kernels stay f32"));
static cl::opt<std::string>
    target("target", cl::init("cpu"),
           cl::desc("cpu, or cuda: kernels for sm_90 (a fatbin with SASS "
                    "and PTX, assembled with the CUDA toolkit's ptxas)"));
static cl::opt<std::string> cudaToolkit(
    "cuda-toolkit",
    cl::desc("the CUDA toolkit for --target cuda (default: $CUDA_HOME or "
             "/usr/local/cuda)"));
static cl::opt<int64_t> emulateGpuThreads(
    "emulate-gpu-threads", cl::init(0), cl::Hidden,
    cl::desc("with --target cpu, compile the kernels through the CUDA "
             "lowering with N emulated GPU threads (tests the GPU "
             "distribution on the CPU)"));
static cl::opt<std::string>
    ptxPath("ptx", cl::desc("with --target cuda, also write the kernels' "
                            "PTX here"));
static cl::opt<std::string>
    stage("stage", cl::init("linalg"),
          cl::desc("with --emit mlir, the last stage to run: kiln (the "
                   "graph as built), decomposed, linalg, llvm, steps, gpu "
                   "(the kernels lowered to NVVM)"));
static cl::opt<std::string>
    stepsPath("steps", cl::desc("with --emit kernels, also write the step "
                                "list (MLIR) here"));
static cl::opt<int64_t> maxBatch("max-batch", cl::init(1),
                                 cl::desc("largest batch the arena serves"));
static cl::opt<int64_t>
    maxSeq("max-seq", cl::init(0),
           cl::desc("largest sequence the arena serves (default: the "
                    "model's position limit, or 512)"));
static cl::opt<std::string> reportPath("report",
                                       cl::desc("write a JSON report"));

namespace {

int fail(const std::string &message) {
  llvm::errs() << "kilnc: error: " << message << "\n";
  return 1;
}

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  cl::ParseCommandLineOptions(argc, argv, "Kiln ahead-of-time compiler\n");

  if (emit.getNumOccurrences() == 0)
    emit = llvm::StringRef(outputPath).ends_with(".kiln") ? "kiln" : "mlir";
  if (target != "cpu" && target != "cuda")
    return fail("--target must be cpu or cuda, got '" + target + "'");
  if (target == "cuda" && emit == "object")
    return fail("--emit object is CPU code; use --emit kernels or kiln "
                "with --target cuda");
  if (emit != "mlir" && emit != "object" && emit != "kernels" && emit != "kiln")
    return fail("--emit must be mlir, kernels, object or kiln, got '" + emit +
                "'");
  if (emit == "object")
    stage = "llvm";
  if (emit == "kernels" || emit == "kiln")
    stage = "steps";
  if (gemmDtype != "f32" && gemmDtype != "bf16" && gemmDtype != "f16")
    return fail("--gemm-dtype must be f32, bf16 or f16, got '" + gemmDtype +
                "'");
  if (gemmDtype != "f32" && emit != "kiln")
    return fail("--gemm-dtype applies to --emit kiln");
  if (externalWeights && emit != "kiln")
    return fail("--external-weights applies to --emit kiln");
  if (stage != "kiln" && stage != "decomposed" && stage != "linalg" &&
      stage != "llvm" && stage != "steps" && stage != "gpu")
    return fail("--stage must be kiln, decomposed, linalg, llvm, steps or "
                "gpu, got '" +
                stage + "'");
  // `gpu` is the step list's kernels lowered for the GPU (a gpu.module of
  // LLVM/NVVM dialect kernels), what ptxas is given.
  bool gpuStage = stage == "gpu";
  if (gpuStage)
    stage = "steps";
  if (emit != "mlir" && outputPath == "-")
    return fail("--emit " + emit + " needs -o FILE");
  if (maxBatch < 1 || maxSeq < 0)
    return fail("--max-batch must be >= 1 and --max-seq >= 0");

  llvm::json::Array stages;
  auto record = [&](const std::string &name, double seconds) {
    llvm::errs() << llvm::formatv("kilnc: {0,-28} {1,8:f3} s\n", name, seconds);
    stages.push_back(llvm::json::Object{{"stage", name}, {"seconds", seconds}});
  };

  mlir::DialectRegistry registry;
  kiln::registerKilnCompilerDialects(registry);
  kiln::registerKilnCompilerPasses();
  mlir::MLIRContext context(registry);
  auto start = Clock::now();
  llvm::errs() << "kilnc: reading " << modelDir << "\n";
  auto model = kiln::loadModel(context, modelDir);
  if (!model.ok())
    return fail(std::string(model.status().message()));
  record("read config, weights; build", secondsSince(start));
  int64_t seqLimit =
      maxSeq ? int64_t(maxSeq)
             : (model->config.maxPositions ? model->config.maxPositions : 512);

  mlir::PassManager pm(&context);
  if (mlir::failed(mlir::applyPassManagerCLOptions(pm)))
    return fail("invalid pass manager options");
  mlir::DefaultTimingManager timing;
  mlir::applyDefaultTimingManagerCLOptions(timing);
  mlir::TimingScope rootTiming = timing.getRootScope();
  pm.enableTiming(rootTiming);
  if (stage == "decomposed")
    pm.addPass(kiln::createKilnDecompose());
  else if (stage == "linalg" || stage == "llvm")
    kiln::buildKilnToLinalgPipeline(pm);
  else if (stage == "steps")
    kiln::buildKilnStepListPipeline(pm, maxBatch, seqLimit);
  if (stage == "llvm") {
    model->module->walk([&](mlir::func::FuncOp fn) {
      fn->setAttr("llvm.emit_c_interface", mlir::UnitAttr::get(&context));
    });
    if (mlir::failed(kiln::buildKilnCpuLoweringPipeline(pm)))
      return fail("cannot build the CPU lowering pipeline");
  }
  start = Clock::now();
  if (mlir::failed(pm.run(*model->module)))
    return fail("the pipeline failed (see the diagnostics above)");
  record(stage == "kiln" ? std::string("graph (no passes)")
                         : "pipeline to " + stage,
         secondsSince(start));

  // Step-list statistics.
  int64_t kernelSteps = 0, gemmSteps = 0, attentionSteps = 0, normSteps = 0,
          uniqueKernels = 0, arenaBytes = 0, cacheBytes = 0;
  llvm::json::Object arenas;
  model->module->walk([&](mlir::func::FuncOp fn) {
    if (fn->hasAttr("kiln.kernel")) {
      ++uniqueKernels;
      return;
    }
    fn.walk([&](mlir::Operation *op) {
      kernelSteps += mlir::isa<mlir::func::CallOp>(op);
      gemmSteps += mlir::isa<kiln::MatmulOp, kiln::LinearOp>(op);
      attentionSteps += mlir::isa<kiln::AttentionOp>(op);
      normSteps += mlir::isa<kiln::LayerNormOp, kiln::RmsNormOp>(op);
    });
    if (auto bytes = fn->getAttrOfType<mlir::IntegerAttr>("kiln.arena_bytes")) {
      arenas[fn.getName()] = bytes.getInt();
      arenaBytes = std::max<int64_t>(arenaBytes, bytes.getInt());
    }
    if (auto bytes = fn->getAttrOfType<mlir::IntegerAttr>("kiln.cache_bytes"))
      cacheBytes = std::max<int64_t>(cacheBytes, bytes.getInt());
  });

  std::string error;
  kiln::ExportSummary summary;
  if (emit == "object") {
    start = Clock::now();
    if (!kiln::emitCpuObject(*model->module, outputPath, error))
      return fail(error);
    record("x86-64 object", secondsSince(start));
  } else if (emit == "kernels" || emit == "kiln") {
    start = Clock::now();
    llvm::errs() << "kilnc: compiling " << uniqueKernels << " unique kernels ("
                 << kernelSteps << " kernel steps) for "
                 << (target == "cuda" ? "sm_90" : "x86-64") << "\n";
    std::vector<kiln::CompiledKernel> kernels;
    std::string binary;
    if (target == "cuda") {
      std::string toolkit = cudaToolkit.empty() ? kiln::defaultCudaToolkit()
                                                : std::string(cudaToolkit);
      std::string ptx;
      if (!kiln::compileCudaKernels(*model->module, toolkit, kernels, binary,
                                    error, ptxPath.empty() ? nullptr : &ptx))
        return fail(error);
      record("kernels -> sm_90 fatbin", secondsSince(start));
      if (!ptxPath.empty()) {
        std::error_code ec;
        llvm::raw_fd_ostream out(ptxPath, ec);
        if (ec)
          return fail(ptxPath + ": " + ec.message());
        out << ptx;
      }
      if (emit == "kernels") {
        std::error_code ec;
        llvm::raw_fd_ostream out(outputPath, ec, llvm::sys::fs::OF_None);
        if (ec)
          return fail(outputPath + ": " + ec.message());
        out << binary;
      }
    }
    std::string library = emit == "kernels" ? std::string(outputPath)
                                            : outputPath + ".kernels.so";
    if (target == "cpu") {
      std::string object = library + ".o";
      if (!kiln::compileCpuKernels(*model->module, object, kernels, error,
                                   emulateGpuThreads))
        return fail(error);
      record("kernels -> x86-64 object", secondsSince(start));
      start = Clock::now();
      bool linked = kiln::linkSharedObject({object}, library, error);
      llvm::sys::fs::remove(object);
      if (!linked)
        return fail(error);
      record("link shared object", secondsSince(start));
      if (emit == "kiln") {
        auto bytes = kiln::readFile(library);
        llvm::sys::fs::remove(library);
        if (!bytes.ok())
          return fail(std::string(bytes.status().message()));
        binary = std::move(*bytes);
      }
    }
    if (emit == "kiln") {
      start = Clock::now();
      const kiln::ModelConfig &c = model->config;
      kiln::ExportOptions options;
      options.target = target;
      options.maxBatch = maxBatch;
      options.maxSeq = seqLimit;
      options.externalWeights = externalWeights;
      options.gemmDtype = gemmDtype;
      options.cacheWidth = c.numKvHeads * c.headDim;
      options.cacheLayers = c.family == kiln::Family::T5
                                ? c.numDecoderLayers
                            : c.isDecoderOnly() ? c.numLayers
                                                : 0;
      bool written = kiln::writeArtifact(*model->module, kernels, binary,
                                         kiln::modelInfo(c), *model->weights,
                                         options, outputPath, summary, error);
      if (!written)
        return fail(error);
      record(externalWeights ? "pack artifact (external weights)"
                             : "pack artifact with weights",
             secondsSince(start));
      llvm::errs() << "kilnc: wrote " << outputPath << " ("
                   << llvm::formatv("{0:f1}", summary.artifactBytes / 1048576.0)
                   << " MiB)\n";
    }
  }
  mlir::OwningOpRef<mlir::ModuleOp> gpuKernels;
  if (gpuStage && emit == "mlir") {
    start = Clock::now();
    std::vector<kiln::CompiledKernel> kernels;
    gpuKernels = kiln::lowerCudaKernels(*model->module, kernels, error);
    if (!gpuKernels)
      return fail(error);
    record("kernels -> NVVM", secondsSince(start));
  }
  std::string irPath =
      emit == "mlir" ? std::string(outputPath) : std::string(stepsPath);
  if (!irPath.empty()) {
    auto output = mlir::openOutputFile(irPath, &error);
    if (!output)
      return fail(error);
    if (gpuKernels)
      gpuKernels->print(output->os());
    else
      model->module->print(output->os());
    output->os() << "\n";
    output->keep();
  }

  if (!reportPath.empty()) {
    if (emit == "kiln")
      stage = "steps";
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
        {"model", modelDir},           {"stage", stage},
        {"kiln_ops", kilnOps},         {"linalg_ops", linalgOps},
        {"weight_bytes", weightBytes}, {"compile_seconds", std::move(stages)}};
    if (stage == "steps") {
      report["unique_kernels"] = uniqueKernels;
      report["steps"] = llvm::json::Object{{"kernel", kernelSteps},
                                           {"gemm", gemmSteps},
                                           {"attention", attentionSteps},
                                           {"norm", normSteps}};
      report["arena_bytes"] = arenaBytes;
      report["arena_bytes_per_entry"] = std::move(arenas);
      report["kv_cache_bytes"] = cacheBytes;
      report["max_batch"] = int64_t(maxBatch);
      report["max_seq"] = seqLimit;
    }
    if (emit == "kiln") {
      report["artifact_bytes"] = summary.artifactBytes;
      report["runtime_weight_bytes"] = summary.weightBytes;
      report["external_weights"] = bool(externalWeights);
      report["gemm_dtype"] = std::string(gemmDtype);
    }
    std::error_code ec;
    llvm::raw_fd_ostream out(reportPath, ec);
    if (ec)
      return fail(reportPath + ": " + ec.message());
    out << llvm::formatv("{0:2}", llvm::json::Value(std::move(report))) << "\n";
  }
  return 0;
}
