//===- RunOptions.cpp - kiln-run's command line ---------------------------===//

#include "tools/kiln-run/RunOptions.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include <map>

namespace kiln {

namespace {

/// More threads than any host has cores: a mistyped count, refused before
/// the pool would try to start them.
constexpr int64_t kMaxThreads = 1024;

} // namespace

const char *const kRunUsage =
    "usage: kiln-run OUT.kiln --input-ids 1,2,3[;4,5] [options]\n"
    "       kiln-run OUT.kiln --prompt TEXT [--prompt TEXT ...] [options]\n"
    "  --device cpu|cuda        where to run (default cpu)\n"
    "  --weights MODEL_DIR      the weights of an artifact compiled with\n"
    "                           --external-weights\n"
    "  --prompt TEXT            the input as text, encoded by the tokenizer\n"
    "                           kilnc embedded; generated tokens print as\n"
    "                           text (repeat for a batch; --text is the\n"
    "                           same, for encoders)\n"
    "  --text-pair TEXT         the second text of a pair (cross-encoders:\n"
    "                           [CLS] text [SEP] pair [SEP], with token "
    "types),\n"
    "                           one per --text\n"
    "  --token-type-ids LISTS   BERT/RoBERTa segment ids, like --input-ids\n"
    "  --output FILE.npy        the first output as float32 .npy\n"
    "  --output-dir DIR         every output as DIR/NAME.npy\n"
    "  --pool mean|cls          encoders: add sentence_embedding [batch,\n"
    "                           width], the mean of each sequence's hidden\n"
    "                           states over its tokens (or its first one),\n"
    "                           first among the outputs (--output writes it)\n"
    "  --normalize              scale each sentence_embedding to unit length\n"
    "  --max-new-tokens N       generate N tokens (decoders, T5)\n"
    "  --greedy                 pick the most likely token (default)\n"
    "  --top-k K --top-p P --temperature T --seed S   sample instead\n"
    "  --ignore-eos             do not stop at an end-of-sequence id\n"
    "  --bench [--warmup N] [--iters N]   time the request repeatedly\n"
    "  --report FILE.json       write the measured numbers\n"
    "  --threads N              CPU threads, at most 1024 (default: one per\n"
    "                           core; shared out between the ranks)\n"
    "  --ranks N                run the N ranks of an artifact compiled with\n"
    "                           kilnc --tp/--pp/--dp as threads of this\n"
    "                           process (N = tp x pp x dp; default 1)\n"
    "  --micro-batches M        with pipeline stages: split each replica's\n"
    "                           batch into M micro-batches that flow through\n"
    "                           the stages one after the other (default: one\n"
    "                           per stage without --max-new-tokens, else 1:\n"
    "                           each micro-batch reads every weight again per\n"
    "                           decode step)\n"
    "  --collective-timeout S   seconds a rank waits in a collective for\n"
    "                           the others before every rank fails (60)\n"
    "  --cpu-isa generic|avx2|avx512   the highest instruction set to use\n"
    "                           on the CPU (default: the CPU's best)\n"
    "  --profile                print the time spent per step kind and "
    "kernel\n"
    "  --no-cuda-graphs         with --device cuda, launch every step of\n"
    "                           every call (no graph capture and replay)\n"
    "  --cuda-sync-steps        with --device cuda, wait for each step, so a\n"
    "                           kernel fault names its step (slow; debugging)\n"
    "  --host-collectives       with --device cuda --ranks N, move collective\n"
    "                           values through host memory instead of\n"
    "                           device-to-device (to compare the two)\n"
    "  --info                   print the artifact's manifest summary\n";

std::string parseRunOptions(int argc, const char *const *argv, RunOptions &o) {
  std::map<std::string, std::string *> strings = {
      {"--device", &o.device},      {"--weights", &o.weights},
      {"--input-ids", &o.inputIds}, {"--token-type-ids", &o.tokenTypeIds},
      {"--output", &o.output},      {"--output-dir", &o.outputDir},
      {"--report", &o.report},      {"--cpu-isa", &o.cpuIsa},
      {"--pool", &o.pool}};
  std::map<std::string, int64_t *> ints = {
      {"--max-new-tokens", &o.maxNewTokens},
      {"--warmup", &o.warmup},
      {"--iters", &o.iters},
      {"--threads", &o.threads},
      {"--ranks", &o.ranks},
      {"--micro-batches", &o.microBatches},
      {"--top-k", &o.sampling.topK}};
  std::map<std::string, double *> doubles = {
      {"--top-p", &o.sampling.topP},
      {"--temperature", &o.sampling.temperature},
      {"--collective-timeout", &o.collectiveTimeout}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    bool hasValue = false;
    if (size_t eq = arg.find('=');
        arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      hasValue = true;
    }
    auto takeValue = [&]() -> bool {
      if (hasValue)
        return true;
      if (i + 1 >= argc)
        return false;
      value = argv[++i];
      return true;
    };
    if (arg == "--help" || arg == "-h") {
      o.help = true;
      return "";
    }
    if (arg == "--ignore-eos") {
      o.ignoreEos = true;
    } else if (arg == "--bench") {
      o.bench = true;
    } else if (arg == "--info") {
      o.info = true;
    } else if (arg == "--profile") {
      o.profile = true;
    } else if (arg == "--no-cuda-graphs") {
      o.cudaGraphs = false;
    } else if (arg == "--cuda-sync-steps") {
      o.cudaSyncSteps = true;
    } else if (arg == "--host-collectives") {
      o.hostCollectives = true;
    } else if (arg == "--normalize") {
      o.normalize = true;
    } else if (arg == "--greedy") {
      o.sampling.greedy = true;
    } else if (strings.count(arg)) {
      if (!takeValue())
        return arg + " needs a value";
      *strings[arg] = value;
    } else if (ints.count(arg)) {
      if (!takeValue() || !absl::SimpleAtoi(value, ints[arg]))
        return arg + " needs an integer";
      if (arg == "--top-k")
        o.sample = true;
    } else if (doubles.count(arg)) {
      if (!takeValue() || !absl::SimpleAtod(value, doubles[arg]))
        return arg + " needs a number";
      o.sample = true;
    } else if (arg == "--prompt" || arg == "--text") {
      if (!takeValue())
        return arg + " needs a value";
      o.prompts.push_back(value);
    } else if (arg == "--text-pair") {
      if (!takeValue())
        return arg + " needs a value";
      o.pairs.push_back(value);
    } else if (arg == "--seed") {
      if (!takeValue() || !absl::SimpleAtoi(value, &o.sampling.seed))
        return "--seed needs a non-negative integer";
      o.sample = true;
    } else if (arg.rfind("-", 0) == 0) {
      return "unknown option " + arg + " (see --help)";
    } else if (o.artifact.empty()) {
      o.artifact = arg;
    } else {
      return "more than one artifact given: " + o.artifact + " and " + arg;
    }
  }
  o.sampling.greedy = !o.sample;
  if (!o.prompts.empty() && !o.inputIds.empty())
    return "give --input-ids or --prompt/--text, not both";
  if (!o.pairs.empty() && o.pairs.size() != o.prompts.size())
    return absl::StrCat("--text-pair: give one per --text (", o.pairs.size(),
                        " for ", o.prompts.size(), ")");
  if (!o.prompts.empty() && !o.tokenTypeIds.empty())
    return "--token-type-ids goes with --input-ids, not --prompt/--text";
  if (o.device != "cpu" && o.device != "cuda")
    return "--device must be cpu or cuda, got '" + o.device + "'";
  if (!o.pool.empty() && o.pool != "mean" && o.pool != "cls")
    return "--pool must be mean or cls, got '" + o.pool + "'";
  if (o.normalize && o.pool.empty())
    return "--normalize needs --pool mean or --pool cls";
  if (!o.pool.empty() && o.maxNewTokens > 0)
    return "--pool is for encoders; it does not go with --max-new-tokens";
  if (o.ranks < 1 || o.ranks > 1024)
    return absl::StrCat("--ranks must be 1 to 1024, got ", o.ranks);
  if (o.microBatches < 0 || o.microBatches > 1024)
    return absl::StrCat("--micro-batches must be 1 to 1024, got ",
                        o.microBatches);
  if (!(o.collectiveTimeout > 0) || o.collectiveTimeout > 86400)
    return "--collective-timeout must be more than 0 and at most 86400 "
           "seconds";
  if (o.warmup < 0 || o.iters < 1)
    return "--warmup must be >= 0 and --iters >= 1";
  if (o.threads < 0 || o.threads > kMaxThreads)
    return absl::StrCat("--threads must be 0 (one per core) to ", kMaxThreads,
                        ", got ", o.threads);
  return "";
}

} // namespace kiln
