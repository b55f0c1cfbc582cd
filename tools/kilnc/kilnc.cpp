//===- kilnc.cpp - the Kiln compiler driver --------------------------------===//
//
//   kilnc MODEL_DIR -o OUT --emit mlir [--stage kiln|decomposed|linalg|llvm]
//   kilnc MODEL_DIR -o OUT.o --emit object
//         [--report FILE.json] [--print-ir-after-all] [--mlir-timing]
//
// Reads a Hugging Face folder, builds the kiln graph and runs the pipeline
// up to the requested stage, writing the IR, or down to an x86-64 object
// (every entry point as one function, weights as arguments). Each stage's
// wall time goes to stderr as progress and to --report. `--emit kiln` (the
// packed artifact) is refused until the artifact format lands.
//
//===----------------------------------------------------------------------===//

#include "frontend/ModelRunner.h"
#include "passes/CpuObject.h"
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
static cl::opt<std::string> emit("emit", cl::init("mlir"),
                                 cl::desc("what to write: mlir | object | "
                                          "kiln"));
static cl::opt<std::string>
    stage("stage", cl::init("linalg"),
          cl::desc("with --emit mlir, the last stage to run: kiln (the "
                   "graph as built), decomposed, linalg, llvm"));
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

  if (emit == "kiln")
    return fail("--emit kiln: the .kiln artifact is not implemented yet; "
                "use --emit mlir");
  if (emit != "mlir" && emit != "object")
    return fail("--emit must be mlir, object or kiln, got '" + emit + "'");
  if (emit == "object")
    stage = "llvm";
  if (stage != "kiln" && stage != "decomposed" && stage != "linalg" &&
      stage != "llvm")
    return fail("--stage must be kiln, decomposed, linalg or llvm, got '" +
                stage + "'");
  if (emit == "object" && outputPath == "-")
    return fail("--emit object needs -o FILE");

  llvm::json::Array stages;
  auto record = [&](const std::string &name, double seconds) {
    llvm::errs() << llvm::formatv("kilnc: {0,-28} {1,8:f3} s\n", name,
                                  seconds);
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

  std::string error;
  if (emit == "object") {
    start = Clock::now();
    if (!kiln::emitCpuObject(*model->module, outputPath, error))
      return fail(error);
    record("x86-64 object", secondsSince(start));
  } else {
    auto output = mlir::openOutputFile(outputPath, &error);
    if (!output)
      return fail(error);
    model->module->print(output->os());
    output->os() << "\n";
    output->keep();
  }

  if (!reportPath.empty()) {
    int64_t kilnOps = 0, linalgOps = 0, weightBytes = 0;
    model->module->walk([&](mlir::Operation *op) {
      if (op->getDialect() && op->getDialect()->getNamespace() == "kiln")
        ++kilnOps;
      if (mlir::isa<mlir::linalg::LinalgOp>(op))
        ++linalgOps;
    });
    for (const std::string &name : model->weights->names())
      weightBytes += static_cast<int64_t>((*model->weights->get(name))->bytes);
    llvm::json::Object report{{"model", modelDir},
                              {"stage", stage},
                              {"kiln_ops", kilnOps},
                              {"linalg_ops", linalgOps},
                              {"weight_bytes", weightBytes},
                              {"compile_seconds", std::move(stages)}};
    std::error_code ec;
    llvm::raw_fd_ostream out(reportPath, ec);
    if (ec)
      return fail(reportPath + ": " + ec.message());
    out << llvm::formatv("{0:2}", llvm::json::Value(std::move(report)))
        << "\n";
  }
  return 0;
}
