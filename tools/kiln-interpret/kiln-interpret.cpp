//===- kiln-interpret.cpp - run a Hugging Face folder on the interpreter --===//
//
//   kiln-interpret MODEL_DIR --input-ids 1,2,3[;4,5] [--token-type-ids ...]
//                  [--output FILE.npy] [--output-dir DIR]
//                  [--max-new-tokens N] [--ignore-eos]
//                  [--fp64] [--decompose] [--tp T] [--pp P] [--emit-mlir]
//
// The inputs and outputs are kiln-run's (DESIGN.md §5): `--output` writes
// what transformers returns first for the folder's architecture,
// `--output-dir` every named output as NAME.npy, and generated tokens are
// printed one line per sequence. Any failure is one line on stderr and exit
// status 1.
//
//===----------------------------------------------------------------------===//

#include "compiler/ReferenceRun.h"
#include "support/Npy.h"
#include "tools/common/CliErrors.h"
#include "tools/common/IdLists.h"

#include "absl/strings/str_join.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <sys/stat.h>

namespace cl = llvm::cl;

static cl::OptionCategory interpretOptions("kiln-interpret options");

static cl::opt<std::string> modelDir(cl::cat(interpretOptions), cl::Positional,
                                     cl::Required,
                                     cl::desc("<hugging face model folder>"));
static cl::opt<std::string>
    inputIds(cl::cat(interpretOptions), "input-ids",
             cl::desc("token ids: 1,2,3;4,5 (';' separates "
                      "sequences, padded on the right)"));
static cl::opt<std::string>
    tokenTypeIds(cl::cat(interpretOptions), "token-type-ids",
                 cl::desc("token type ids, shaped like --input-ids"));
static cl::opt<std::string>
    outputFile(cl::cat(interpretOptions), "output",
               cl::desc("write the primary output as .npy"));
static cl::opt<std::string>
    outputDir(cl::cat(interpretOptions), "output-dir",
              cl::desc("write every named output as NAME.npy"));
static cl::opt<int64_t> maxNewTokens(cl::cat(interpretOptions),
                                     "max-new-tokens", cl::init(0),
                                     cl::desc("tokens to generate"));
static cl::opt<bool> ignoreEos(cl::cat(interpretOptions), "ignore-eos",
                               cl::desc("do not stop at an eos id"));
static cl::opt<bool> fp64(cl::cat(interpretOptions), "fp64",
                          cl::desc("compute in f64"));
static cl::opt<bool>
    decompose(cl::cat(interpretOptions), "decompose",
              cl::desc("run --kiln-decompose before interpreting"));
static cl::opt<int64_t>
    tp(cl::cat(interpretOptions), "tp", cl::init(1),
       cl::desc("partition for T tensor-parallel ranks (kiln-partition) and "
                "run them as simulated ranks"));
static cl::opt<int64_t>
    pp(cl::cat(interpretOptions), "pp", cl::init(1),
       cl::desc("place the layers on P pipeline stages (kiln-pipeline) and "
                "run them as simulated stages"));
static cl::opt<bool> emitMlir(cl::cat(interpretOptions), "emit-mlir",
                              cl::desc("print the model's kiln IR and exit"));

static int fail(const std::string &message) {
  llvm::errs() << "kiln-interpret: error: " << message << "\n";
  return 1;
}

static std::vector<float> toFloat(const kiln::HostTensor &t) {
  return std::vector<float>(t.values.begin(), t.values.end());
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(interpretOptions); // not LLVM's backend flags
  cl::ParseCommandLineOptions(argc, argv,
                              "Run a Hugging Face model folder on Kiln's "
                              "reference interpreter\n");
  mlir::MLIRContext context;
  if (tp < 1 || tp > 1024)
    return fail("--tp must be 1 to 1024");
  if (pp < 1 || pp > 64)
    return fail("--pp must be 1 to 64");
  auto model = kiln::loadModel(context, modelDir, decompose, tp, pp);
  if (!model.ok())
    return fail(kiln::cliMessage(model.status()));
  if (emitMlir) {
    model->module->print(llvm::outs());
    llvm::outs() << "\n";
    return 0;
  }
  if (inputIds.empty())
    return fail("--input-ids is required");

  kiln::RunRequest request;
  auto ids = kiln::parseIdLists(inputIds, "--input-ids");
  if (!ids.ok())
    return fail(kiln::cliMessage(ids.status()));
  request.inputIds = std::move(*ids);
  if (!tokenTypeIds.empty()) {
    auto types = kiln::parseIdLists(tokenTypeIds, "--token-type-ids");
    if (!types.ok())
      return fail(kiln::cliMessage(types.status()));
    request.tokenTypeIds = std::move(*types);
  }
  request.maxNewTokens = maxNewTokens;
  request.ignoreEos = ignoreEos;
  request.precision =
      fp64 ? kiln::InterpreterPrecision::F64 : kiln::InterpreterPrecision::F32;

  auto result = kiln::runModel(*model, request);
  if (!result.ok())
    return fail(kiln::cliMessage(result.status()));

  if (!outputFile.empty()) {
    const kiln::HostTensor &primary = result->outputs.front().second;
    if (auto s = kiln::writeNpy(outputFile, primary.shape, toFloat(primary));
        !s.ok())
      return fail(kiln::cliMessage(s));
  }
  if (!outputDir.empty()) {
    mkdir(outputDir.c_str(), 0755);
    for (const auto &[name, tensor] : result->outputs)
      if (auto s = kiln::writeNpy(outputDir + "/" + name + ".npy", tensor.shape,
                                  toFloat(tensor));
          !s.ok())
        return fail(kiln::cliMessage(s));
  }
  for (const auto &tokens : result->generated)
    llvm::outs() << absl::StrJoin(tokens, ",") << "\n";
  return 0;
}
