//===- Ranks.cpp - every rank of a partitioned artifact in one process ----===//

#include "runtime/Ranks.h"

#include "artifact/Artifact.h"
#include "runtime/Collectives.h"
#include "runtime/CpuExecutor.h"
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
         std::max<int64_t>(1, m.data_parallel);
}

RankedExecutor::~RankedExecutor() = default;

absl::StatusOr<std::unique_ptr<RankedExecutor>>
RankedExecutor::create(const Artifact &artifact, const RanksOptions &options) {
  std::unique_ptr<RankedExecutor> ranked(new RankedExecutor());
  const auto &m = artifact.manifest();
  ranked->tp_ = std::max<int64_t>(1, m.tensor_parallel);
  ranked->dp_ = std::max<int64_t>(1, m.data_parallel);
  ranked->timeout_ = options.collectiveTimeoutSeconds;
  const int64_t ranks = ranked->tp_ * ranked->dp_;
  if (ranks > 1024)
    return absl::InvalidArgumentError(absl::StrCat(
        artifact.path(), ": ", ranks, " ranks are more than one process runs"));
  int threads = options.cpu.threads > 0
                    ? options.cpu.threads
                    : static_cast<int>(std::thread::hardware_concurrency());
  const int perRank = std::max(1, threads / static_cast<int>(ranks));
  for (int64_t d = 0; d < ranked->dp_; ++d)
    ranked->groups_.push_back(std::make_unique<LocalGroup>(
        static_cast<int>(ranked->tp_), options.collectiveTimeoutSeconds));
  for (int64_t r = 0; r < ranks; ++r) {
    const int64_t replica = r / ranked->tp_, tpRank = r % ranked->tp_;
    CpuOptions cpu = options.cpu;
    cpu.threads = perRank;
    cpu.rank = tpRank;
    if (r != 0)
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
    if (ranked->tp_ > 1) {
      ranked->members_.push_back(
          ranked->groups_[replica]->member(static_cast<int>(tpRank)));
      cpu.communicator = ranked->members_.back().get();
    }
    auto executor = CpuExecutor::create(artifact, cpu);
    if (!executor.ok())
      return absl::Status(executor.status().code(),
                          ranks > 1 ? absl::StrCat("rank ", r, ": ",
                                                   executor.status().message())
                                    : std::string(executor.status().message()));
    ranked->executors_.push_back(std::move(*executor));
  }
  ranked->cacheRows_.assign(ranked->dp_, 0);
  return ranked;
}

std::pair<int64_t, int64_t> RankedExecutor::rowsOf(int64_t replica,
                                                   int64_t batch) const {
  const int64_t chunk = (batch + dp_ - 1) / dp_;
  const int64_t begin = std::min(batch, replica * chunk);
  return {begin, std::min(batch, begin + chunk)};
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
  for (int64_t d = 0; d < dp_; ++d) {
    auto [begin, end] = rowsOf(d, batch);
    cacheRows_[d] = end - begin;
    if (end == begin)
      continue;
    for (int64_t t = 0; t < tp_; ++t)
      KILN_RETURN_IF_ERROR(
          executors_[d * tp_ + t]->resetCaches(end - begin, length));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>>
RankedExecutor::run(const std::string &entry,
                    const std::vector<Tensor> &arguments) {
  if (executors_.size() == 1)
    return executors_[0]->run(entry, arguments);
  // The batch: every argument is batch-major.
  int64_t batch = -1;
  for (const Tensor &t : arguments) {
    if (t.shape.empty() || (batch >= 0 && t.shape[0] != batch))
      return absl::InvalidArgumentError(
          "the arguments of a data-parallel call must all have the batch as "
          "their first dim");
    batch = t.shape[0];
  }
  const int64_t ranks = static_cast<int64_t>(executors_.size());
  std::vector<std::vector<Tensor>> inputs(dp_);
  for (int64_t d = 0; d < dp_; ++d) {
    auto [begin, end] = rowsOf(d, std::max<int64_t>(batch, 0));
    if (dp_ == 1) {
      inputs[d] = arguments;
      continue;
    }
    for (const Tensor &t : arguments)
      inputs[d].push_back(rowsOfTensor(t, begin, end));
  }
  std::vector<absl::StatusOr<std::vector<NamedTensor>>> results(
      ranks, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < ranks; ++r) {
    const int64_t d = r / tp_;
    auto [begin, end] = rowsOf(d, std::max<int64_t>(batch, 0));
    if (dp_ > 1 && begin == end) {
      results[r] = std::vector<NamedTensor>();
      continue;
    }
    threads.emplace_back([&, r, d] {
      results[r] = executors_[r]->run(entry, inputs[d]);
      // A failed rank ends its group's collectives at once, so the others
      // do not wait out the timeout.
      if (!results[r].ok() && tp_ > 1)
        members_[r]->abort(std::string(results[r].status().message()));
    });
  }
  for (std::thread &t : threads)
    t.join();
  // The first failure is the cause; the other ranks' errors follow from it.
  for (int64_t r = 0; r < ranks; ++r)
    if (!results[r].ok() && !absl::IsAborted(results[r].status()))
      return results[r].status();
  for (int64_t r = 0; r < ranks; ++r)
    if (!results[r].ok())
      return results[r].status();
  if (dp_ == 1)
    return std::move(*results[0]);
  // Each replica's outputs (its tensor-parallel rank 0's), joined along
  // the batch.
  std::vector<NamedTensor> joined;
  for (int64_t d = 0; d < dp_; ++d) {
    const std::vector<NamedTensor> &part = *results[d * tp_];
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

} // namespace kiln::rt
