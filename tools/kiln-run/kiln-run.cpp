//===- kiln-run.cpp - run a compiled .kiln artifact -----------------------===//
//
//   kiln-run OUT.kiln [--device cpu|cuda] [--weights MODEL_DIR]
//            --input-ids 1,2,3[;4,5] [--token-type-ids 0,0,1[;...]]
//            | --prompt TEXT [--prompt TEXT ...] | --text TEXT ...
//            [--output FILE.npy] [--output-dir DIR]
//            [--max-new-tokens N] [--greedy | --top-k K --top-p P
//             --temperature T --seed S] [--ignore-eos]
//            [--bench [--warmup N] [--iters N]] [--report FILE.json]
//            [--threads N] [--profile] [--info]
//
// The command line of DESIGN.md §5. Generated tokens are printed one line
// per sequence (one sequence streams its line as tokens are picked), as
// text decoded by the artifact's tokenizer when the input was --prompt;
// --output writes the first output as float32 .npy, --output-dir every
// output as NAME.npy, each whole or not at all. --bench repeats the request
// and prints latency percentiles and tokens/s. Every failure prints one
// line and exits 1; Ctrl-C stops generation after the current step, keeps
// what was printed and exits 130.
//
//===----------------------------------------------------------------------===//

#include "artifact/Artifact.h"
#include "runtime/CpuExecutor.h"
#include "runtime/CpuIsa.h"
#include "runtime/CudaDriver.h"
#include "runtime/DimExpr.h"
#include "runtime/ManifestChecks.h"
#include "runtime/Ranks.h"
#include "support/Files.h"
#include "support/Npy.h"
#ifdef KILN_CUDA_EXECUTOR
#include "runtime/CudaExecutor.h"
#endif
#include "runtime/Driver.h"
#include "runtime/ModelTokenizer.h"
#include "runtime/MpiCollectives.h"
#include "runtime/Pooling.h"
#include "support/Status.h"
#include "support/Tokenizer.h"
#include "tools/common/CliErrors.h"
#include "tools/common/IdLists.h"
#include "tools/kiln-run/RunOptions.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <new>
#include <signal.h>
#include <sys/stat.h>
#include <thread>

namespace rt = kiln::rt;
using Json = nlohmann::json;

namespace {

/// An entry's kernel, gemm, attention and norm steps.
std::array<int, 4> stepCounts(const kiln::artifact::EntryT &entry) {
  std::array<int, 4> counts = {0, 0, 0, 0};
  for (const auto &s : entry.steps)
    if (static_cast<size_t>(s->kind) < counts.size())
      ++counts[static_cast<size_t>(s->kind)];
  return counts;
}

/// Prints generated tokens: as ids ("5,6,7"), or as text when the request
/// came from --prompt. Streaming decodes everything so far and prints what
/// is new, so a word piece joins the word before it; a character whose
/// bytes are not all out yet (a trailing U+FFFD of a byte-level decoder)
/// waits for the next token.
class TokenPrinter {
public:
  explicit TokenPrinter(const kiln::Tokenizer *tokenizer)
      : tokenizer_(tokenizer) {}

  std::string line(const std::vector<int64_t> &tokens) const {
    if (tokenizer_)
      if (auto text = tokenizer_->decode(tokens); text.ok())
        return *text;
    return absl::StrJoin(tokens, ",");
  }

  void stream(int64_t token) {
    if (!tokenizer_) {
      std::printf(streamed_.empty() ? "%lld" : ",%lld",
                  static_cast<long long>(token));
      streamed_.push_back(token);
    } else {
      streamed_.push_back(token);
      std::string text = line(streamed_);
      static const std::string kReplacement = "\xEF\xBF\xBD";
      while (text.size() >= kReplacement.size() &&
             text.compare(text.size() - kReplacement.size(),
                          kReplacement.size(), kReplacement) == 0)
        text.resize(text.size() - kReplacement.size());
      show(text);
    }
    std::fflush(stdout);
  }

  /// Ends a streamed line: what was held back, then the newline.
  void finish() {
    if (tokenizer_)
      show(line(streamed_));
    std::printf("\n");
  }

private:
  void show(const std::string &text) {
    if (text.size() > printed_.size() &&
        text.compare(0, printed_.size(), printed_) == 0) {
      std::fputs(text.c_str() + printed_.size(), stdout);
      printed_ = text;
    }
  }

  const kiln::Tokenizer *tokenizer_;
  std::vector<int64_t> streamed_;
  std::string printed_;
};

int fail(const std::string &message) {
  std::fprintf(stderr, "kiln-run: error: %s\n", message.c_str());
  return 1;
}

/// Set by the first Ctrl-C (SIGINT): generation stops after the step in
/// flight, the tokens so far stay printed, and kiln-run exits 130 as a shell
/// expects of an interrupted command. The handler resets itself, so a second
/// Ctrl-C (say, during a long prefill, which has no step boundary) ends the
/// process at once.
volatile sig_atomic_t interrupted = 0;

extern "C" void onInterrupt(int) { interrupted = 1; }

void catchInterrupt() {
  struct sigaction action = {};
  action.sa_handler = onInterrupt;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
}

constexpr int kInterruptedExit = 130;

std::string dims(const std::vector<std::unique_ptr<kiln::artifact::DimT>> &ds,
                 const kiln::artifact::EntryT &entry) {
  std::vector<std::string> parts;
  for (const auto &d : ds) {
    if (d->terms.size() == 1 &&
        d->terms[0].op() == kiln::artifact::ExprOp::Const)
      parts.push_back(std::to_string(d->terms[0].value()));
    else if (d->terms.size() == 1)
      parts.push_back(entry.symbols[d->terms[0].value()]->name);
    else
      parts.push_back("expr");
  }
  return "[" + absl::StrJoin(parts, ", ") + "]";
}

/// What --info says of a kv cache argument or result.
const char *roleNote(kiln::artifact::Role role) {
  switch (role) {
  case kiln::artifact::Role::KeyCache:
    return "  key cache (kept by the executor)";
  case kiln::artifact::Role::ValueCache:
    return "  value cache (kept by the executor)";
  default:
    return "";
  }
}

void printInfo(const kiln::Artifact &artifact) {
  const kiln::artifact::ManifestT &m = artifact.manifest();
  std::printf("artifact     %s (%.1f MiB, format %u, by %s)\n",
              artifact.path().c_str(), artifact.fileBytes() / 1048576.0,
              kiln::kArtifactVersion, m.producer.c_str());
  if (m.model)
    std::printf("model        %s (%s), vocabulary %lld\n",
                m.model->architecture.c_str(), m.model->family.c_str(),
                static_cast<long long>(m.model->vocab_size));
  std::printf("target       %s, max batch %lld, max seq %lld, precision "
              "%s%s%s\n",
              m.target.c_str(), static_cast<long long>(m.max_batch),
              static_cast<long long>(m.max_seq),
              m.precision.empty() ? "fp32" : m.precision.c_str(),
              m.keep_f32.empty() ? "" : " (f32: ",
              m.keep_f32.empty()
                  ? ""
                  : (absl::StrJoin(m.keep_f32, ", ") + ")").c_str());
  std::vector<std::string> levels;
  for (const auto &blob : m.blobs)
    if (blob->kind == kiln::artifact::BlobKind::CpuKernels)
      levels.push_back(blob->isa.empty() ? "x86-64" : blob->isa);
  std::printf("kernels      %zu unique%s%s\n", m.kernels.size(),
              levels.empty() ? "" : ", compiled for ",
              absl::StrJoin(levels, ", ").c_str());
  if (rt::artifactRanks(artifact) > 1) {
    size_t sharded = 0;
    for (const auto &w : m.weights)
      sharded += w->shard_parts > 0;
    std::printf(
        "ranks        %lld (tensor parallel %lld x pipeline %lld x "
        "data parallel %lld; kiln-run --ranks or mpirun), %zu weights "
        "sharded\n",
        static_cast<long long>(rt::artifactRanks(artifact)),
        static_cast<long long>(std::max<int64_t>(1, m.tensor_parallel)),
        static_cast<long long>(std::max<int64_t>(1, m.pipeline_parallel)),
        static_cast<long long>(std::max<int64_t>(1, m.data_parallel)), sharded);
    // What each pipeline stage's ranks hold of the weights (rank 0's).
    const int64_t stages = std::max<int64_t>(1, m.pipeline_parallel);
    if (stages > 1) {
      std::string held;
      for (int64_t s = 0; s < stages; ++s) {
        const rt::StageNeeds needs = rt::stageNeeds(artifact, s);
        int64_t bytes = 0;
        for (size_t w = 0; w < m.weights.size(); ++w)
          if (needs.weights[w])
            bytes += rt::checkedBytes(m.weights[w]->shape,
                                      kiln::dtypeBytes(m.weights[w]->dtype));
        absl::StrAppend(&held, s ? ", " : "",
                        absl::StrFormat("%.1f MiB", bytes / 1048576.0), " (",
                        needs.caches.size(), " kv caches)");
      }
      std::printf("stages       %s\n", held.c_str());
    }
  }
  size_t quantized = 0;
  for (const auto &w : m.weights)
    quantized += w->dtype == kiln::artifact::DType::I8 ||
                 w->dtype == kiln::artifact::DType::I4;
  std::printf("weights      %zu tensors, %.1f MiB, %s", m.weights.size(),
              m.weight_bytes / 1048576.0,
              m.external_weights ? "external (kiln-run --weights MODEL_DIR)"
                                 : "embedded");
  if (quantized)
    std::printf("; %zu quantized (%s)", quantized, m.quantize.c_str());
  if (!m.prune.empty() && m.prune != "none") {
    size_t compressed = 0, rows = 0;
    for (const auto &w : m.weights) {
      compressed += w->sparse == kiln::artifact::SparseFormat::TwoFour;
      rows += w->sparse == kiln::artifact::SparseFormat::Rows;
    }
    std::printf("; pruned (%s), %zu stored 2:4 compressed, %zu as sparse rows",
                m.prune.c_str(), compressed, rows);
  }
  std::printf("\n");
  std::printf("kv cache     %.1f MiB at the maximum shapes\n",
              m.cache_bytes / 1048576.0);
  if (m.tokenizer >= 0)
    std::printf("tokenizer    embedded (%.1f KiB): kiln-run --prompt TEXT\n",
                m.blobs[m.tokenizer]->size / 1024.0);
  else
    std::printf("tokenizer    none: kiln-run --input-ids only\n");
  for (const auto &e : m.entries) {
    std::array<int, 4> counts = stepCounts(*e);
    std::printf("entry @%s   %d kernel, %d gemm, %d attention, %d norm steps; "
                "arena %.1f MiB\n",
                e->name.c_str(), counts[0], counts[1], counts[2], counts[3],
                e->arena_bytes / 1048576.0);
    for (const auto &a : e->arguments)
      std::printf("  in  %-24s %s %s%s\n", a->name.c_str(),
                  kiln::dtypeName(a->dtype), dims(a->dims, *e).c_str(),
                  roleNote(a->role));
    for (const auto &r : e->results)
      std::printf("  out %-24s %s %s%s\n", r->name.c_str(),
                  kiln::dtypeName(r->buffer->dtype),
                  dims(r->buffer->dims, *e).c_str(), roleNote(r->role));
  }
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  double index = p * (v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(index));
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (index - lo);
}

int run(int argc, char **argv) {
  kiln::RunOptions o;
  if (std::string e = kiln::parseRunOptions(argc, argv, o); !e.empty())
    return fail(e);
  if (o.help) {
    std::fputs(kiln::kRunUsage, stdout);
    return 0;
  }
  if (o.artifact.empty()) {
    std::fputs(kiln::kRunUsage, stderr);
    return fail("no artifact given");
  }

  auto artifact = kiln::Artifact::open(o.artifact);
  if (!artifact.ok())
    return fail(kiln::cliMessage(artifact.status()));
  if (o.info) {
    printInfo(**artifact);
    if (o.inputIds.empty())
      return 0;
  }
  std::shared_ptr<rt::CudaDriver> cudaDriver;
  if (o.device == "cuda") {
    // The driver is probed first: what a user without one needs to hear.
    auto driver = rt::CudaDriver::load();
    if (!driver.ok())
      return fail("--device cuda: " + std::string(driver.status().message()));
    cudaDriver = std::move(*driver);
    auto devices = cudaDriver->devices();
    if (!devices.ok())
      return fail("--device cuda: " + std::string(devices.status().message()));
    if ((*artifact)->manifest().target != "cuda")
      return fail(absl::StrCat(o.artifact, " was compiled for the ",
                               (*artifact)->manifest().target,
                               "; for --device cuda compile it with kilnc "
                               "--target cuda"));
#ifndef KILN_CUDA_EXECUTOR
    return fail("--device cuda: this kiln-run was built without the CUDA "
                "executor (no CUDA toolkit at build time)");
#endif
  }
  auto model = kiln::fromArtifact((*artifact)->manifest().model.get());
  if (!model.ok())
    return fail(absl::StrCat(o.artifact, ": ", model.status().message()));
  if (o.inputIds.empty() && o.prompts.empty())
    return fail("--input-ids or --prompt is required");

  rt::Request request;
  std::unique_ptr<kiln::Tokenizer> tokenizer;
  if (!o.prompts.empty()) {
    auto loaded = rt::modelTokenizer(**artifact);
    if (!loaded.ok())
      return fail(
          "--prompt: " + std::string(loaded.status().message()) +
          (loaded.status().code() == absl::StatusCode::kFailedPrecondition
               ? " with --input-ids"
               : ""));
    tokenizer = std::move(*loaded);
    if (!o.pairs.empty() && !model->isEncoderOnly())
      return fail("--text-pair: only encoders (BERT, RoBERTa) take a pair of "
                  "texts");
    for (size_t i = 0; i < o.prompts.size(); ++i) {
      const std::string &prompt = o.prompts[i];
      if (!o.pairs.empty()) {
        auto pair = tokenizer->encodePair(prompt, o.pairs[i]);
        if (!pair.ok())
          return fail("--text-pair: " + std::string(pair.status().message()));
        request.inputIds.push_back(std::move(pair->ids));
        request.tokenTypeIds.push_back(std::move(pair->typeIds));
        continue;
      }
      auto encoded = tokenizer->encode(prompt);
      if (!encoded.ok())
        return fail("--prompt: " + std::string(encoded.status().message()));
      if (encoded->empty())
        return fail("--prompt: '" + prompt + "' encodes to no tokens");
      request.inputIds.push_back(std::move(*encoded));
    }
  } else {
    auto ids = kiln::parseIdLists(o.inputIds, "--input-ids");
    if (!ids.ok())
      return fail(kiln::cliMessage(ids.status()));
    request.inputIds = std::move(*ids);
  }
  TokenPrinter printer(tokenizer.get());
  if (!o.tokenTypeIds.empty()) {
    auto types = kiln::parseIdLists(o.tokenTypeIds, "--token-type-ids");
    if (!types.ok())
      return fail(kiln::cliMessage(types.status()));
    request.tokenTypeIds = std::move(*types);
  }
  request.maxNewTokens = o.maxNewTokens;
  request.ignoreEos = o.ignoreEos;
  request.sampling = o.sampling;
  if (absl::Status s = rt::validateRequest(*model, request); !s.ok())
    return fail(kiln::cliMessage(s));
  // One sequence streams its tokens as they are picked (the line reads the
  // same as when printed at the end); a batch prints one line per sequence
  // once generation ends or is interrupted.
  const bool streaming = !o.bench && request.inputIds.size() == 1;
  int64_t streamed = 0;
  request.onTokens = [&](const std::vector<int64_t> &gained) {
    if (streaming && gained.front() >= 0) {
      printer.stream(gained.front());
      ++streamed;
    }
    return interrupted == 0;
  };

  using Clock = std::chrono::steady_clock;
  Clock::time_point loadStart = Clock::now();
  std::unique_ptr<rt::CpuExecutor> cpuExecutor;
  rt::CpuExecutor *cpuView = nullptr; // the CPU executor, or rank 0's
  // Under mpirun: the job, and this rank's end of its group.
  std::unique_ptr<rt::MpiWorld> mpiWorld;
  std::unique_ptr<rt::Communicator> mpiMember;
  std::unique_ptr<rt::StageLink> mpiStage;
  std::unique_ptr<rt::StageLink> mpiReplicas; // data parallel: across them
  rt::RankedExecutor *ranked = nullptr;       // owned by `executor`
  std::unique_ptr<rt::Executor> executor;
#ifdef KILN_CUDA_EXECUTOR
  rt::CudaExecutor *cudaExecutor = nullptr; // owned by `executor`
#endif
  std::string deviceDescription;
  if (o.device == "cpu") {
    rt::CpuOptions cpu;
    cpu.threads = static_cast<int>(o.threads);
    cpu.weightsDir = o.weights;
    cpu.profile = o.profile;
    // KILN_FAULT_RANK=R:S:kill|stall (tests of the failure paths): after
    // its step S of the first call, rank R kills its process with SIGKILL
    // (a crashed rank), or stalls for twice the collective timeout (a hung
    // one).
    std::function<void(int, const std::string &, size_t)> killHook;
    if (const char *fault = std::getenv("KILN_FAULT_RANK")) {
      int rank = -1;
      long step = -1;
      char kind[16] = {0};
      if (std::sscanf(fault, "%d:%ld:%15s", &rank, &step, kind) != 3 ||
          (std::string(kind) != "kill" && std::string(kind) != "stall"))
        return fail("KILN_FAULT_RANK must be RANK:STEP:kill or "
                    "RANK:STEP:stall");
      const bool kill = std::string(kind) == "kill";
      auto fired = std::make_shared<std::atomic<bool>>(false);
      killHook = [rank, step, kill, fired, timeout = o.collectiveTimeout](
                     int r, const std::string &, size_t s) {
        if (r != rank || static_cast<long>(s) != step || fired->exchange(true))
          return;
        if (kill)
          ::raise(SIGKILL);
        std::this_thread::sleep_for(std::chrono::duration<double>(2 * timeout));
      };
    }
    if (!o.cpuIsa.empty()) {
      auto isa = rt::isaNamed(o.cpuIsa);
      if (!isa)
        return fail("--cpu-isa: expected generic, avx2 or avx512, got '" +
                    o.cpuIsa + "'");
      if (!rt::hostSupports(*isa))
        return fail("--cpu-isa: this CPU does not run " + o.cpuIsa +
                    " (its best is " + std::string(rt::isaName(rt::hostIsa())) +
                    ")");
      cpu.isa = *isa;
    }
    const int64_t ranks = rt::artifactRanks(**artifact);
    std::string placement; // under mpirun: which rank this process runs
    if (rt::launchedByMpi()) {
      // One rank per process: this process runs its tensor-parallel rank;
      // rank 0 alone prints and writes.
      auto world = rt::MpiWorld::open();
      if (!world.ok())
        return fail(std::string(world.status().message()));
      mpiWorld = std::move(*world);
      const auto &m = (*artifact)->manifest();
      const int64_t tp = std::max<int64_t>(1, m.tensor_parallel);
      if (mpiWorld->size() != ranks)
        return fail(absl::StrCat("mpirun started ", mpiWorld->size(),
                                 " ranks; ", o.artifact, " was compiled for ",
                                 ranks));
      if (o.ranks != 1)
        return fail("--ranks goes without mpirun (each MPI process is one "
                    "rank)");
      // World rank = (replica * pp + stage) * tp + tensor-parallel rank,
      // as RankedExecutor numbers its ranks: each stage of each replica a
      // tensor-parallel group of its own, each replica a pipeline, and the
      // processes of one stage and tensor-parallel rank across the
      // replicas a link that joins their outputs.
      const int64_t pp = std::max<int64_t>(1, m.pipeline_parallel);
      const int64_t dp = std::max<int64_t>(1, m.data_parallel);
      const int worldRank = mpiWorld->rank();
      const int perReplica = static_cast<int>(pp * tp);
      const int replica = worldRank / perReplica;
      const int stage = worldRank % perReplica / static_cast<int>(tp),
                tpRank = worldRank % static_cast<int>(tp);
      auto group =
          mpiWorld->group(replica * static_cast<int>(pp) + stage, tpRank,
                          static_cast<int>(tp), o.collectiveTimeout);
      if (!group.ok())
        return fail(std::string(group.status().message()));
      mpiMember = std::move(*group);
      if (pp > 1)
        mpiStage = mpiWorld->pipeline(
            stage, static_cast<int>(pp), replica * perReplica + tpRank,
            static_cast<int>(tp), o.collectiveTimeout);
      if (dp > 1)
        mpiReplicas = mpiWorld->pipeline(replica, static_cast<int>(dp),
                                         worldRank % perReplica, perReplica,
                                         o.collectiveTimeout);
      // Replica 0's last stage's tensor-parallel rank 0 prints and writes
      // (every replica's driver sees the whole batch's outputs).
      if (worldRank != (pp - 1) * tp) {
        if (!std::freopen("/dev/null", "w", stdout))
          return fail("cannot silence rank " +
                      std::to_string(mpiWorld->rank()) + "'s output");
        o.output.clear();
        o.outputDir.clear();
        o.report.clear();
      }
      if (cpu.threads == 0)
        cpu.threads =
            std::max(1, static_cast<int>(std::thread::hardware_concurrency()) /
                            rt::mpiLocalRanks());
      cpu.rank = tpRank;
      cpu.stage = stage;
      cpu.communicator = tp > 1 ? mpiMember.get() : nullptr;
      cpu.stageLink = mpiStage.get();
      if (killHook)
        cpu.stepHook = [killHook, rank = mpiWorld->rank()](
                           const std::string &entry, size_t step,
                           const std::vector<rt::StepBuffer> &) {
          killHook(rank, entry, step);
        };
      placement =
          absl::StrCat("MPI rank ", mpiWorld->rank(), " of ", ranks, ", ");
    } else if (o.ranks != ranks)
      return fail(
          ranks == 1
              ? absl::StrCat("--ranks ", o.ranks, ": ", o.artifact,
                             " was compiled for one rank (compile it with "
                             "kilnc --tp/--dp to run it on several)")
              : absl::StrCat(
                    o.artifact, " was compiled for ", ranks, " ranks (--tp ",
                    (*artifact)->manifest().tensor_parallel, " --pp ",
                    std::max<int64_t>(
                        1, (*artifact)->manifest().pipeline_parallel),
                    " --dp ",
                    std::max<int64_t>(1, (*artifact)->manifest().data_parallel),
                    "); run it with --ranks ", ranks));
    if (o.microBatches > 0 && (*artifact)->manifest().pipeline_parallel <= 1)
      return fail("--micro-batches: " + o.artifact +
                  " has no pipeline stages (kilnc --pp)");
    // Micro-batches by default: one per stage when nothing is generated
    // (the stages overlap on the prompt), one when generating, since each
    // micro-batch reads every weight again in every decode step (measured
    // on GPT-2-small, pp 2, 4 x 128 tokens: 2 micro-batches make the
    // prompt 10-25% faster and each decode step 40-60% slower).
    const int64_t microBatches =
        o.microBatches > 0 ? o.microBatches
        : o.maxNewTokens > 0
            ? 1
            : std::max<int64_t>(1, (*artifact)->manifest().pipeline_parallel);
    if (ranks > 1 && !mpiWorld) {
      rt::RanksOptions options;
      options.cpu = cpu;
      options.collectiveTimeoutSeconds = o.collectiveTimeout;
      options.microBatches = static_cast<int>(microBatches);
      options.rankHook = killHook;
      auto created = rt::RankedExecutor::create(**artifact, options);
      if (!created.ok())
        return fail(kiln::cliMessage(created.status()));
      cpuView = (*created)->cpuRank(0);
      ranked = created->get();
      deviceDescription = absl::StrCat(
          "cpu, ", ranks, " ranks in one process (tensor parallel ",
          (*created)->tensorParallel(), " x pipeline ",
          (*created)->pipelineParallel(), " x data parallel ",
          (*created)->dataParallel(),
          (*created)->pipelineParallel() > 1
              ? absl::StrCat(", ", (*created)->microBatches(), " micro-batches")
              : "",
          "), ", cpuView->threads(), " threads each, BLAS ",
          cpuView->blasProvider(), ", kernels ", cpuView->kernelIsa());
      executor = std::move(*created);
    } else {
      // One rank: the whole artifact, or this MPI process's rank.
      auto created = rt::CpuExecutor::create(**artifact, cpu);
      if (!created.ok())
        return fail(kiln::cliMessage(created.status()));
      cpuExecutor = std::move(*created);
      cpuView = cpuExecutor.get();
      deviceDescription = absl::StrCat(
          "cpu, ", placement, cpuExecutor->threads(), " threads, BLAS ",
          cpuExecutor->blasProvider(), ", kernels ", cpuExecutor->kernelIsa());
      // A pipeline stage's process: its micro-batches (--micro-batches, one
      // per stage by default) one after the other, each on an executor of
      // its own, so the stages' processes overlap; then the last stage's
      // outputs reach every stage's driver.
      if (mpiStage) {
        std::unique_ptr<rt::Executor> stage = std::move(cpuExecutor);
        if (microBatches > 1) {
          std::vector<std::unique_ptr<rt::Executor>> parts;
          parts.push_back(std::move(stage));
          for (int64_t mb = 1; mb < microBatches; ++mb) {
            auto part = rt::CpuExecutor::create(**artifact, cpu);
            if (!part.ok())
              return fail(kiln::cliMessage(part.status()));
            parts.push_back(std::move(*part));
          }
          stage = std::make_unique<rt::MicroBatched>(std::move(parts));
          absl::StrAppend(&deviceDescription, ", ", microBatches,
                          " micro-batches");
        }
        executor = std::make_unique<rt::PipelineRank>(
            **artifact, std::move(stage), *mpiStage);
      }
      // A data-parallel replica's process: it runs its rows, and the
      // replicas' outputs are joined for every driver.
      if (mpiReplicas)
        executor = std::make_unique<rt::ReplicaRank>(
            **artifact,
            executor ? std::move(executor)
                     : std::unique_ptr<rt::Executor>(std::move(cpuExecutor)),
            *mpiReplicas);
    }
  } else {
#ifdef KILN_CUDA_EXECUTOR
    rt::CudaOptions cuda;
    cuda.weightsDir = o.weights;
    cuda.driver = cudaDriver;
    cuda.graphs = o.cudaGraphs;
    cuda.syncSteps = o.cudaSyncSteps;
    cuda.deviceCollectives = !o.hostCollectives;
    cuda.profile = o.profile;
    const int64_t ranks = rt::artifactRanks(**artifact);
    if (o.ranks != ranks)
      return fail(absl::StrCat("--ranks ", o.ranks, ": ", o.artifact,
                               " was compiled for ", ranks, " rank",
                               ranks == 1 ? "" : "s"));
    if (ranks > 1) {
      // Every rank on the one device: collectives and send_recv move
      // device buffers (device-to-device copies).
      rt::RanksOptions options;
      options.collectiveTimeoutSeconds = o.collectiveTimeout;
      options.microBatches = static_cast<int>(o.microBatches);
      options.makeRank = [&](const rt::CpuOptions &rank)
          -> absl::StatusOr<std::unique_ptr<rt::Executor>> {
        rt::CudaOptions own = cuda;
        own.rank = rank.rank;
        own.stage = rank.stage;
        own.communicator = rank.communicator;
        own.stageLink = rank.stageLink;
        return rt::CudaExecutor::create(**artifact, own);
      };
      auto created = rt::RankedExecutor::create(**artifact, options);
      if (!created.ok())
        return fail("--device cuda: " +
                    std::string(created.status().message()));
      auto *first = dynamic_cast<rt::CudaExecutor *>(&(*created)->rank(0));
      deviceDescription = absl::StrCat(
          "cuda, ", first->deviceName(), ", ", ranks,
          " ranks on it (tensor parallel ", (*created)->tensorParallel(),
          " x pipeline ", (*created)->pipelineParallel(), " x data parallel ",
          (*created)->dataParallel(),
          o.hostCollectives ? "; collectives through host memory)"
                            : "; collectives device-to-device)");
      cudaExecutor = first; // rank 0's stats and profile
      ranked = created->get();
      executor = std::move(*created);
    } else {
      auto created = rt::CudaExecutor::create(**artifact, cuda);
      if (!created.ok())
        return fail(kiln::errorField(created.status())
                        ? kiln::cliMessage(created.status())
                        : "--device cuda: " +
                              std::string(created.status().message()));
      deviceDescription =
          absl::StrCat("cuda, ", (*created)->deviceName(), ", cuBLASLt ",
                       (*created)->gemmLibrary());
      cudaExecutor = created->get();
      executor = std::move(*created);
    }
#endif
  }
  rt::Executor &run =
      cpuExecutor ? static_cast<rt::Executor &>(*cpuExecutor) : *executor;
  double loadSeconds =
      std::chrono::duration<double>(Clock::now() - loadStart).count();

  int runs = o.bench ? static_cast<int>(o.warmup + o.iters) : 1;
  std::vector<double> firstPass, decodeStep, total, deviceFirstPass,
      deviceDecodeStep;
  int64_t newTokens = 0;
  absl::StatusOr<rt::Response> response;
  catchInterrupt();
  for (int r = 0; r < runs && !interrupted; ++r) {
    Clock::time_point start = Clock::now();
    response = rt::runModel(*model, run, request);
    if (!response.ok()) {
      // The other processes end now, not at their deadline.
      if (mpiMember)
        mpiMember->abort(std::string(response.status().message()));
      if (mpiReplicas)
        mpiReplicas->abort(std::string(response.status().message()));
      return fail(kiln::cliMessage(response.status()));
    }
    double seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    if (o.bench && r < o.warmup)
      continue;
    firstPass.push_back(response->firstPassSeconds);
    decodeStep.insert(decodeStep.end(), response->decodeStepSeconds.begin(),
                      response->decodeStepSeconds.end());
    deviceFirstPass.insert(deviceFirstPass.end(),
                           response->firstPassDeviceSeconds.begin(),
                           response->firstPassDeviceSeconds.end());
    deviceDecodeStep.insert(deviceDecodeStep.end(),
                            response->decodeStepDeviceSeconds.begin(),
                            response->decodeStepDeviceSeconds.end());
    total.push_back(seconds);
    for (const auto &g : response->generated)
      newTokens += g.size();
  }

  if (interrupted) {
    // What was generated stays printed; outputs of a cut-short run are not
    // written.
    if (streamed > 0)
      printer.finish();
    else if (!o.bench && response.ok())
      for (const auto &tokens : response->generated)
        std::printf("%s\n", printer.line(tokens).c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "kiln-run: interrupted\n");
    return kInterruptedExit;
  }
  if (!o.pool.empty()) {
    // The pooled embedding comes first, so --output writes it.
    auto hidden =
        std::find_if(response->outputs.begin(), response->outputs.end(),
                     [](const rt::NamedTensor &t) {
                       return t.first == "last_hidden_state";
                     });
    if (!model->isEncoderOnly() || hidden == response->outputs.end())
      return fail("--pool: only encoders (BERT, RoBERTa) give hidden states "
                  "to pool");
    std::vector<int64_t> lengths;
    for (const auto &ids : request.inputIds)
      lengths.push_back(static_cast<int64_t>(ids.size()));
    auto pooled = rt::poolEmbeddings(hidden->second, lengths,
                                     *rt::poolingNamed(o.pool), o.normalize);
    if (!pooled.ok())
      return fail(kiln::cliMessage(pooled.status()));
    response->outputs.insert(response->outputs.begin(),
                             {"sentence_embedding", std::move(*pooled)});
  }
  if (!o.output.empty()) {
    const rt::Tensor &primary = response->outputs.front().second;
    if (absl::Status s =
            kiln::writeNpy(o.output, primary.shape, rt::toFloat(primary));
        !s.ok())
      return fail(kiln::cliMessage(s));
  }
  if (!o.outputDir.empty()) {
    ::mkdir(o.outputDir.c_str(), 0755);
    for (const auto &[name, tensor] : response->outputs)
      if (absl::Status s = kiln::writeNpy(o.outputDir + "/" + name + ".npy",
                                          tensor.shape, rt::toFloat(tensor));
          !s.ok())
        return fail(kiln::cliMessage(s));
  }
  if (streaming && streamed > 0)
    printer.finish();
  else if (!o.bench)
    for (const auto &tokens : response->generated)
      std::printf("%s\n", printer.line(tokens).c_str());

  double decodeSeconds = 0;
  for (double s : decodeStep)
    decodeSeconds += s;
  int64_t batch = request.inputIds.size();
  double tokensPerSecond =
      decodeSeconds > 0 ? decodeStep.size() * batch / decodeSeconds : 0;
  if (o.bench) {
    int64_t longest = 0;
    for (const auto &seq : request.inputIds)
      longest = std::max<int64_t>(longest, seq.size());
    std::printf("kiln-run --bench: %s, batch %lld, prompt %lld, %lld new "
                "tokens, %s\n",
                o.artifact.c_str(), static_cast<long long>(batch),
                static_cast<long long>(longest),
                static_cast<long long>(o.maxNewTokens),
                deviceDescription.c_str());
    std::printf("  load           %9.2f ms\n", loadSeconds * 1e3);
    std::printf("  first pass     p50 %9.2f ms   p90 %9.2f ms   (%zu runs)\n",
                percentile(firstPass, 0.5) * 1e3,
                percentile(firstPass, 0.9) * 1e3, firstPass.size());
    if (!decodeStep.empty())
      std::printf("  decode step    p50 %9.2f ms   p90 %9.2f ms   (%zu "
                  "steps)  %.1f tokens/s\n",
                  percentile(decodeStep, 0.5) * 1e3,
                  percentile(decodeStep, 0.9) * 1e3, decodeStep.size(),
                  tokensPerSecond);
    std::printf("  end to end     p50 %9.2f ms   p90 %9.2f ms\n",
                percentile(total, 0.5) * 1e3, percentile(total, 0.9) * 1e3);
    // The same without the input uploads and output downloads: what the
    // device spent in the steps (events around them).
    if (!deviceFirstPass.empty())
      std::printf("  device first   p50 %9.3f ms   p90 %9.3f ms\n",
                  percentile(deviceFirstPass, 0.5) * 1e3,
                  percentile(deviceFirstPass, 0.9) * 1e3);
    if (!deviceDecodeStep.empty())
      std::printf("  device decode  p50 %9.3f ms   p90 %9.3f ms\n",
                  percentile(deviceDecodeStep, 0.5) * 1e3,
                  percentile(deviceDecodeStep, 0.9) * 1e3);
#ifdef KILN_CUDA_EXECUTOR
    if (cudaExecutor)
      std::printf("  cuda graphs    %s: %lld captured, %lld replays\n",
                  o.cudaGraphs ? "on" : "off",
                  static_cast<long long>(cudaExecutor->stats().graphsCaptured),
                  static_cast<long long>(cudaExecutor->stats().graphReplays));
    if (cudaExecutor && (cudaExecutor->stats().int8TensorCoreGemms ||
                         cudaExecutor->stats().int8KernelGemms))
      std::printf(
          "  w8a8 gemms     %lld on cuBLASLt int8, %lld on kiln_int8_gemm\n",
          static_cast<long long>(cudaExecutor->stats().int8TensorCoreGemms),
          static_cast<long long>(cudaExecutor->stats().int8KernelGemms));
    if (cudaExecutor && (cudaExecutor->stats().deviceCollectives ||
                         cudaExecutor->stats().hostCollectives))
      std::printf(
          "  collectives    %lld device-to-device, %lld through host memory "
          "(rank 0, all calls)\n",
          static_cast<long long>(cudaExecutor->stats().deviceCollectives),
          static_cast<long long>(cudaExecutor->stats().hostCollectives));
    if (cudaExecutor && (cudaExecutor->stats().sparseWeights ||
                         cudaExecutor->stats().sparseRefused))
      std::printf(
          "  2:4 weights    %lld on cuSPARSELt (%lld refused by it, dense), "
          "%lld products there\n",
          static_cast<long long>(cudaExecutor->stats().sparseWeights),
          static_cast<long long>(cudaExecutor->stats().sparseRefused),
          static_cast<long long>(cudaExecutor->stats().sparseGemms));
#endif
  }
  if (o.profile) {
    std::vector<rt::StepProfile> profile;
    if (cpuView)
      profile = cpuView->profile();
#ifdef KILN_CUDA_EXECUTOR
    if (cudaExecutor)
      profile = cudaExecutor->profile();
#endif
    double all = 0;
    for (const rt::StepProfile &p : profile)
      all += p.seconds;
    std::printf("profile: %.2f ms in steps over %zu runs%s\n", all * 1e3,
                total.size() + (o.bench ? o.warmup : 0),
                cpuView ? "" : " (CUDA events per step, no graphs)");
    for (const rt::StepProfile &p : profile)
      std::printf("  %-28s %7lld calls %10.2f ms %5.1f%%\n", p.name.c_str(),
                  static_cast<long long>(p.calls), p.seconds * 1e3,
                  all > 0 ? 100 * p.seconds / all : 0.0);
  }
  if (!o.report.empty()) {
    const auto &m = (*artifact)->manifest();
    int64_t arenaBytes = 0;
    for (const auto &e : m.entries)
      arenaBytes = std::max(arenaBytes, e->arena_bytes);
    Json report = {
        {"artifact", o.artifact},
        {"device", o.device},
        {"executor", deviceDescription},
        {"kernels", m.kernels.size()},
        {"arena_bytes", arenaBytes},
        {"kv_cache_bytes", cpuView ? cpuView->cacheBytes() : 0},
        {"weight_bytes", m.weight_bytes},
        {"load_seconds", loadSeconds},
        {"batch", batch},
        {"runs", total.size()},
        {"first_pass_seconds",
         {{"p50", percentile(firstPass, 0.5)},
          {"p90", percentile(firstPass, 0.9)}}},
        {"decode_step_seconds",
         {{"p50", percentile(decodeStep, 0.5)},
          {"p90", percentile(decodeStep, 0.9)},
          {"count", decodeStep.size()}}},
        {"end_to_end_seconds",
         {{"p50", percentile(total, 0.5)}, {"p90", percentile(total, 0.9)}}},
        {"tokens_per_second", tokensPerSecond},
        {"new_tokens", newTokens}};
    if (!deviceFirstPass.empty())
      report["device_first_pass_seconds"] = {
          {"p50", percentile(deviceFirstPass, 0.5)},
          {"p90", percentile(deviceFirstPass, 0.9)}};
    if (!deviceDecodeStep.empty())
      report["device_decode_step_seconds"] = {
          {"p50", percentile(deviceDecodeStep, 0.5)},
          {"p90", percentile(deviceDecodeStep, 0.9)}};
#ifdef KILN_CUDA_EXECUTOR
    if (cudaExecutor)
      report["cuda"] = {
          {"graphs", o.cudaGraphs},
          {"graphs_captured", cudaExecutor->stats().graphsCaptured},
          {"graph_replays", cudaExecutor->stats().graphReplays},
          {"int8_tensor_core_gemms", cudaExecutor->stats().int8TensorCoreGemms},
          {"int8_kernel_gemms", cudaExecutor->stats().int8KernelGemms},
          {"sparse_weights", cudaExecutor->stats().sparseWeights},
          {"sparse_refused", cudaExecutor->stats().sparseRefused},
          {"sparse_gemms", cudaExecutor->stats().sparseGemms},
          {"device_collectives", cudaExecutor->stats().deviceCollectives},
          {"host_collectives", cudaExecutor->stats().hostCollectives},
          {"cublaslt", cudaExecutor->gemmLibrary()}};
#endif
    Json steps = Json::object();
    for (const auto &e : m.entries) {
      std::array<int, 4> counts = stepCounts(*e);
      steps[e->name] = {{"kernel", counts[0]},
                        {"gemm", counts[1]},
                        {"attention", counts[2]},
                        {"norm", counts[3]}};
    }
    report["steps"] = steps;
    // What rank 0 put into collectives and sent to later stages: over the
    // whole run, and in its last call (a decode step when generating).
    if (ranked)
      report["ranks"] = {
          {"count", ranked->ranks()},
          {"micro_batches", ranked->microBatches()},
          {"collective_bytes_rank0", ranked->collectiveBytes(0)},
          {"collective_bytes_rank0_last_call", ranked->lastCallBytes()}};
    else if (mpiMember)
      report["ranks"] = {
          {"count", rt::artifactRanks(**artifact)},
          {"rank", mpiWorld->rank()}, // the one that writes the report
          {"collective_bytes",
           mpiMember->bytesMoved() + (mpiStage ? mpiStage->bytesSent() : 0) +
               (mpiReplicas ? mpiReplicas->bytesSent() : 0)}};
    if (absl::Status s =
            kiln::writeFileAtomically(o.report, report.dump(2) + "\n");
        !s.ok())
      return fail(kiln::cliMessage(s));
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  // The big allocations (arena, weights, kv caches) each say what did not
  // fit; this is the net under the small ones.
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc &) {
    return fail("out of memory (the machine's, or the process's limit: "
                "ulimit -v)");
  }
}
