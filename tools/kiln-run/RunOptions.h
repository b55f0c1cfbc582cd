//===- RunOptions.h - kiln-run's command line -----------------------------===//
//
// kiln-run's options and their parser, apart from the tool so the parser can
// be fuzzed (test/fuzz/RunOptionsFuzz.cpp): every argv gives either options
// whose ranges are checked or one error message, never a crash or an exit.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TOOLS_KILN_RUN_RUNOPTIONS_H
#define KILN_TOOLS_KILN_RUN_RUNOPTIONS_H

#include "runtime/Sampling.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

extern const char *const kRunUsage;

struct RunOptions {
  std::string artifact, device = "cpu", weights, inputIds, tokenTypeIds, output,
                        outputDir, report, cpuIsa, pool;
  int64_t maxNewTokens = 0, warmup = 1, iters = 5, threads = 0, ranks = 1;
  int64_t microBatches = 0; // 0: one per pipeline stage
  bool help = false, ignoreEos = false, bench = false, info = false,
       sample = false, profile = false, cudaGraphs = true,
       cudaSyncSteps = false, normalize = false, hostCollectives = false;
  std::vector<std::string> prompts; // --prompt / --text, in order
  std::vector<std::string> pairs;   // --text-pair, one per --text
  rt::SamplingOptions sampling;
  /// How long a rank waits in a collective for the others (--ranks N).
  double collectiveTimeout = 60;
};

/// Parses argv (argv[0] is the program) into `o` and checks the ranges that
/// need no artifact (--device, --ranks, --pool, --warmup, --iters, --threads,
/// --max-new-tokens and the sampling flags); returns an error message, or
/// "" when the options hold. --help sets `o.help` and stops parsing.
std::string parseRunOptions(int argc, const char *const *argv, RunOptions &o);

} // namespace kiln

#endif // KILN_TOOLS_KILN_RUN_RUNOPTIONS_H
