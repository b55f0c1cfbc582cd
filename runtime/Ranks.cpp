//===- Ranks.cpp - every rank of a partitioned artifact in one process ----===//

#include "runtime/Ranks.h"

#include "artifact/Artifact.h"
#include "runtime/Collectives.h"
#include "runtime/CpuExecutor.h"
#include "runtime/DimExpr.h"
#include "runtime/Executor.h"
#include "runtime/ManifestChecks.h"
#include "runtime/Tensor.h"
#include "support/Status.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kiln::rt {

int64_t artifactRanks(const Artifact &artifact) {
  const auto &m = artifact.manifest();
  return std::max<int64_t>(1, m.tensor_parallel) *
         std::max<int64_t>(1, m.pipeline_parallel) *
         std::max<int64_t>(1, m.data_parallel);
}

RankedExecutor::~RankedExecutor() = default;

absl::StatusOr<std::unique_ptr<RankedExecutor>>
RankedExecutor::create(const Artifact &artifact, const RanksOptions &options) {
  std::unique_ptr<RankedExecutor> ranked(new RankedExecutor());
  RankedExecutor &x = *ranked;
  const auto &m = artifact.manifest();
  x.tp_ = std::max<int64_t>(1, m.tensor_parallel);
  x.pp_ = std::max<int64_t>(1, m.pipeline_parallel);
  x.dp_ = std::max<int64_t>(1, m.data_parallel);
  x.timeout_ = options.collectiveTimeoutSeconds;
  const int64_t ranks = x.tp_ * x.pp_ * x.dp_;
  if (ranks > 1024)
    return absl::InvalidArgumentError(absl::StrCat(
        artifact.path(), ": ", ranks, " ranks are more than one process runs"));
  if (options.microBatches < 0 || options.microBatches > 1024)
    return absl::InvalidArgumentError("micro-batches must be 0 to 1024");
  x.mb_ = x.pp_ == 1                 ? 1
          : options.microBatches > 0 ? options.microBatches
                                     : x.pp_;
  int threads = options.cpu.threads > 0
                    ? options.cpu.threads
                    : static_cast<int>(std::thread::hardware_concurrency());
  const int perRank = std::max(1, threads / static_cast<int>(ranks));
  for (int64_t g = 0; g < x.dp_ * x.pp_; ++g)
    x.groups_.push_back(std::make_unique<LocalGroup>(
        static_cast<int>(x.tp_), options.collectiveTimeoutSeconds));
  for (int64_t p = 0; p < x.dp_ * x.mb_ * x.tp_; ++p)
    x.pipelines_.push_back(std::make_unique<LocalPipeline>(
        static_cast<int>(x.pp_), options.collectiveTimeoutSeconds));
  // Rank r = (replica * pp + stage) * tp + tensor-parallel rank.
  for (int64_t r = 0; r < ranks; ++r)
    x.members_.push_back(
        x.tp_ > 1 ? x.groups_[r / x.tp_]->member(static_cast<int>(r % x.tp_))
                  : nullptr);
  for (int64_t mb = 0; mb < x.mb_; ++mb)
    for (int64_t r = 0; r < ranks; ++r) {
      const int64_t t = r % x.tp_, stage = r / x.tp_ % x.pp_,
                    replica = r / (x.tp_ * x.pp_);
      x.links_.push_back(
          x.pp_ > 1 ? x.pipelines_[(replica * x.mb_ + mb) * x.tp_ + t]->member(
                          static_cast<int>(stage))
                    : nullptr);
      CpuOptions cpu = options.cpu;
      cpu.threads = perRank;
      cpu.rank = t;
      cpu.stage = stage;
      cpu.communicator = x.members_[r].get();
      cpu.stageLink = x.links_.back().get();
      if (r != 0 || mb != 0)
        cpu.stepHook = nullptr;
      if (options.rankHook) {
        auto hook = options.rankHook;
        StepHook own = cpu.stepHook;
        cpu.stepHook = [hook, own, r](const std::string &entry, size_t step,
                                      const std::vector<StepBuffer> &results) {
          if (own)
            own(entry, step, results);
          hook(static_cast<int>(r), entry, step);
        };
      }
      absl::StatusOr<std::unique_ptr<Executor>> executor =
          options.makeRank ? options.makeRank(cpu)
                           : absl::StatusOr<std::unique_ptr<Executor>>(
                                 CpuExecutor::create(artifact, cpu));
      if (!executor.ok())
        return absl::Status(
            executor.status().code(),
            ranks > 1
                ? absl::StrCat("rank ", r, ": ", executor.status().message())
                : std::string(executor.status().message()));
      x.executors_.push_back(std::move(*executor));
    }
  return ranked;
}

std::pair<int64_t, int64_t> RankedExecutor::rowsOf(int64_t chunk,
                                                   int64_t batch) const {
  const int64_t chunks = dp_ * mb_;
  const int64_t size = (batch + chunks - 1) / chunks;
  const int64_t begin = std::min(batch, chunk * size);
  return {begin, std::min(batch, begin + size)};
}

int64_t RankedExecutor::collectiveBytes(int r) const {
  int64_t bytes = members_[r] ? members_[r]->bytesMoved() : 0;
  for (int64_t mb = 0; mb < mb_; ++mb)
    if (const auto &link = links_[mb * ranks() + r])
      bytes += link->bytesSent();
  return bytes;
}

void RankedExecutor::abortAll(int64_t rank, const std::string &why) {
  for (const auto &member : members_)
    if (member)
      member->abort(why);
  for (const auto &link : links_)
    if (link)
      link->abort(absl::StrCat("rank ", rank, " failed: ", why));
}

namespace {

/// Rows [begin, end) of a batch-major tensor.
Tensor rowsOfTensor(const Tensor &t, int64_t begin, int64_t end) {
  std::vector<int64_t> shape = t.shape;
  const int64_t rowBytes =
      t.shape[0] > 0 ? static_cast<int64_t>(t.bytes.size()) / t.shape[0] : 0;
  shape[0] = end - begin;
  Tensor out = Tensor::zeros(t.dtype, shape);
  std::memcpy(out.bytes.data(), t.bytes.data() + begin * rowBytes,
              out.bytes.size());
  return out;
}

} // namespace

absl::Status RankedExecutor::resetCaches(int64_t batch, int64_t length) {
  const int64_t ranks = this->ranks();
  for (int64_t r = 0; r < ranks; ++r) {
    const int64_t replica = r / (tp_ * pp_);
    for (int64_t mb = 0; mb < mb_; ++mb) {
      auto [begin, end] = rowsOf(replica * mb_ + mb, batch);
      if (end > begin)
        KILN_RETURN_IF_ERROR(
            executors_[mb * ranks + r]->resetCaches(end - begin, length));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>>
RankedExecutor::run(const std::string &entry,
                    const std::vector<Tensor> &arguments) {
  if (executors_.size() == 1)
    return executors_[0]->run(entry, arguments);
  const int64_t ranks = this->ranks(), chunks = dp_ * mb_;
  // The batch: every argument is batch-major.
  int64_t batch = -1;
  for (const Tensor &t : arguments) {
    if (t.shape.empty() || (batch >= 0 && t.shape[0] != batch))
      return absl::InvalidArgumentError(
          "the arguments of a data-parallel or pipelined call must all have "
          "the batch as their first dim");
    batch = t.shape[0];
  }
  batch = std::max<int64_t>(batch, 0);
  std::vector<std::vector<Tensor>> inputs(chunks);
  for (int64_t c = 0; c < chunks; ++c) {
    auto [begin, end] = rowsOf(c, batch);
    if (chunks == 1) {
      inputs[c] = arguments;
      continue;
    }
    for (const Tensor &t : arguments)
      inputs[c].push_back(rowsOfTensor(t, begin, end));
  }
  const int64_t bytesBefore = collectiveBytes(0);
  // One thread per rank runs its micro-batches in order: stage s starts
  // micro-batch m as soon as it has finished m - 1 and received m's
  // values from the stages before it.
  std::vector<absl::StatusOr<std::vector<NamedTensor>>> results(
      executors_.size(), std::vector<NamedTensor>());
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      const int64_t replica = r / (tp_ * pp_);
      for (int64_t mb = 0; mb < mb_; ++mb) {
        const int64_t c = replica * mb_ + mb;
        auto [begin, end] = rowsOf(c, batch);
        if (chunks > 1 && begin == end)
          continue;
        auto &result = results[mb * ranks + r];
        result = executors_[mb * ranks + r]->run(entry, inputs[c]);
        // A failed rank ends the others' collectives and receives at
        // once, so they do not wait out the timeout.
        if (!result.ok()) {
          abortAll(r, std::string(result.status().message()));
          return;
        }
      }
    });
  for (std::thread &t : threads)
    t.join();
  lastCallBytes_ = collectiveBytes(0) - bytesBefore;
  // The first failure is the cause; the other ranks' errors follow from it.
  for (const auto &result : results)
    if (!result.ok() && !absl::IsAborted(result.status()))
      return result.status();
  for (const auto &result : results)
    if (!result.ok())
      return result.status();
  // Each chunk's outputs (its last stage's tensor-parallel rank 0's),
  // joined along the batch.
  std::vector<NamedTensor> joined;
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t replica = c / mb_, mb = c % mb_;
    const int64_t last = (replica * pp_ + pp_ - 1) * tp_;
    const std::vector<NamedTensor> &part = *results[mb * ranks + last];
    if (part.empty())
      continue;
    if (joined.empty()) {
      joined = part;
      continue;
    }
    for (size_t i = 0; i < part.size() && i < joined.size(); ++i) {
      Tensor &into = joined[i].second;
      const Tensor &more = part[i].second;
      into.shape[0] += more.shape[0];
      into.bytes.insert(into.bytes.end(), more.bytes.begin(), more.bytes.end());
    }
  }
  return joined;
}

PipelineRank::PipelineRank(const Artifact &artifact,
                           std::unique_ptr<Executor> stage, StageLink &link)
    : artifact_(artifact), stage_(std::move(stage)), link_(link) {}

PipelineRank::~PipelineRank() = default;

absl::Status PipelineRank::resetCaches(int64_t batch, int64_t length) {
  return stage_->resetCaches(batch, length);
}

absl::StatusOr<std::vector<NamedTensor>>
PipelineRank::run(const std::string &entry,
                  const std::vector<Tensor> &arguments) {
  auto outputs = stage_->run(entry, arguments);
  if (!outputs.ok()) {
    link_.abort(std::string(outputs.status().message()));
    return outputs;
  }
  const int last = link_.stages() - 1;
  // A header per output: its dtype, rank and dims (at most 8).
  constexpr size_t kHeader = 10;
  const std::string where = absl::StrCat("the outputs of ", entry);
  if (link_.stage() == last) {
    for (int s = 0; s < last; ++s)
      for (const auto &[name, t] : *outputs) {
        if (t.shape.size() > kHeader - 2)
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": output ", name, " has too many dims"));
        int64_t header[kHeader] = {static_cast<int64_t>(t.dtype),
                                   static_cast<int64_t>(t.shape.size())};
        std::copy(t.shape.begin(), t.shape.end(), header + 2);
        KILN_RETURN_IF_ERROR(link_.send(s, header, sizeof(header), where));
        KILN_RETURN_IF_ERROR(link_.send(
            s, t.bytes.data(), static_cast<int64_t>(t.bytes.size()), where));
      }
    return outputs;
  }
  KILN_ASSIGN_OR_RETURN(const artifact::EntryT *found,
                        findEntry(artifact_, entry));
  std::vector<NamedTensor> received;
  for (const auto &r : found->results) {
    if (isCache(r->role))
      continue;
    int64_t header[kHeader] = {};
    KILN_RETURN_IF_ERROR(link_.recv(last, header, sizeof(header), where));
    if (header[1] < 0 || header[1] > static_cast<int64_t>(kHeader) - 2 ||
        header[0] < static_cast<int64_t>(DType::MIN) ||
        header[0] > static_cast<int64_t>(DType::MAX))
      return absl::InternalError(where + ": a malformed output header");
    std::vector<int64_t> shape(header + 2, header + 2 + header[1]);
    if (checkedBytes(shape, dtypeBytes(static_cast<DType>(header[0]))) < 0)
      return absl::InternalError(where + ": an impossible output shape");
    Tensor t = Tensor::zeros(static_cast<DType>(header[0]), shape);
    KILN_RETURN_IF_ERROR(link_.recv(
        last, t.bytes.data(), static_cast<int64_t>(t.bytes.size()), where));
    received.push_back({r->name, std::move(t)});
  }
  return received;
}

} // namespace kiln::rt
