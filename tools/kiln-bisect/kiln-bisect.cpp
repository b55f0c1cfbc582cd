//===- kiln-bisect.cpp - the first step of an artifact that went wrong ----===//
//
//   kiln-bisect MODEL_DIR model.kiln --input-ids 1,2,3 [--token-type-ids ...]
//               [--tolerance 1e-3] [--weights DIR] [--all]
//
// Runs a CPU artifact's first call (prefill, forward or encode) step by step
// next to the reference interpreter on the same inputs and prints, per
// step, its kind, the graph ops it computes, their locations, and its
// relative and max abs error; the first step above the tolerance is marked.
// Exit status 0: every step within the tolerance; 1: a step is not (or an
// error).
//
//===----------------------------------------------------------------------===//

#include "compiler/Bisect.h"
#include "tools/common/CliErrors.h"
#include "tools/common/IdLists.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;

static cl::OptionCategory bisectOptions("kiln-bisect options");

static cl::opt<std::string> modelDir(cl::cat(bisectOptions), cl::Positional,
                                     cl::Required,
                                     cl::desc("<hugging face model folder>"));
static cl::opt<std::string> artifactPath(cl::cat(bisectOptions), cl::Positional,
                                         cl::Required,
                                         cl::desc("<model.kiln>"));
static cl::opt<std::string>
    inputIds(cl::cat(bisectOptions), "input-ids", cl::Required,
             cl::desc("token ids: 1,2,3;4,5 (';' separates sequences)"));
static cl::opt<std::string>
    tokenTypeIds(cl::cat(bisectOptions), "token-type-ids",
                 cl::desc("token type ids, shaped like --input-ids"));
static cl::opt<double>
    tolerance(cl::cat(bisectOptions), "tolerance", cl::init(1e-3),
              cl::desc("relative error above which a step is wrong"));
static cl::opt<std::string>
    weightsDir(cl::cat(bisectOptions), "weights",
               cl::desc("external weights' folder (default: MODEL_DIR)"));
static cl::opt<bool> all(cl::cat(bisectOptions), "all",
                         cl::desc("print every step, not only up to the "
                                  "first wrong one"));

static int fail(const std::string &message) {
  llvm::errs() << "kiln-bisect: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(bisectOptions);
  cl::ParseCommandLineOptions(argc, argv,
                              "Find the first step of a CPU artifact that "
                              "differs from the reference interpreter\n");
  kiln::BisectOptions options;
  options.modelDir = modelDir;
  options.artifact = artifactPath;
  options.weightsDir = weightsDir;
  options.tolerance = tolerance;
  auto ids = kiln::parseIdLists(inputIds, "--input-ids");
  if (!ids.ok())
    return fail(kiln::cliMessage(ids.status()));
  options.request.inputIds = std::move(*ids);
  if (!tokenTypeIds.empty()) {
    auto types = kiln::parseIdLists(tokenTypeIds, "--token-type-ids");
    if (!types.ok())
      return fail(kiln::cliMessage(types.status()));
    options.request.tokenTypeIds = std::move(*types);
  }
  auto report = kiln::bisect(options);
  if (!report.ok())
    return fail(kiln::cliMessage(report.status()));

  llvm::outs() << "kiln-bisect: " << report->entry << ", "
               << report->steps.size() << " steps, tolerance "
               << llvm::formatv("{0:e1}", tolerance.getValue()) << "\n";
  llvm::outs() << llvm::formatv("{0,5}  {1,-28} {2,10} {3,10}  {4}\n", "step",
                                "kind", "rel err", "max abs", "ops");
  for (const kiln::StepError &s : report->steps) {
    bool wrong = static_cast<int64_t>(s.index) == report->firstWrong;
    llvm::outs() << llvm::formatv(
        "{0,5}  {1,-28} {2,10:e2} {3,10:e2}  {4}{5}\n", s.index, s.kind,
        s.relative, s.maxAbs, s.ops,
        wrong ? "   <-- first step above the tolerance" : "");
    if (wrong)
      llvm::outs() << "       at " << s.location << "\n";
    if (wrong && !all)
      break;
  }
  if (report->firstWrong < 0) {
    llvm::outs() << "kiln-bisect: every step within the tolerance\n";
    return 0;
  }
  return 1;
}
