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

std::pair<int64_t, int64_t> chunkRows(int64_t chunk, int64_t chunks,
                                      int64_t batch) {
  const int64_t size = (batch + chunks - 1) / chunks;
  const int64_t begin = std::min(batch, chunk * size);
  return {begin, std::min(batch, begin + size)};
}

std::pair<int64_t, int64_t> RankedExecutor::rowsOf(int64_t chunk,
                                                   int64_t batch) const {
  return chunkRows(chunk, dp_ * mb_, batch);
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

/// The batch of a call split by rows: every argument is batch-major.
absl::StatusOr<int64_t> batchOf(const std::vector<Tensor> &arguments) {
  int64_t batch = -1;
  for (const Tensor &t : arguments) {
    if (t.shape.empty() || (batch >= 0 && t.shape[0] != batch))
      return absl::InvalidArgumentError(
          "the arguments of a data-parallel or pipelined call must all have "
          "the batch as their first dim");
    batch = t.shape[0];
  }
  return std::max<int64_t>(batch, 0);
}

/// `part`'s rows after `joined`'s, output by output (`part` empty: a
/// chunk without rows).
void appendRows(std::vector<NamedTensor> &joined,
                const std::vector<NamedTensor> &part) {
  if (joined.empty()) {
    joined = part;
    return;
  }
  for (size_t i = 0; i < part.size() && i < joined.size(); ++i) {
    Tensor &into = joined[i].second;
    const Tensor &more = part[i].second;
    into.shape[0] += more.shape[0];
    into.bytes.insert(into.bytes.end(), more.bytes.begin(), more.bytes.end());
  }
}

// Outputs between processes: a count, then per output a header (its
// dtype, rank and dims, at most 8) and its bytes.
constexpr size_t kHeader = 10;

absl::Status sendOutputs(StageLink &link, int to,
                         const std::vector<NamedTensor> &outputs,
                         const std::string &where) {
  const auto count = static_cast<int64_t>(outputs.size());
  KILN_RETURN_IF_ERROR(link.send(to, &count, sizeof(count), where));
  for (const auto &[name, t] : outputs) {
    if (t.shape.size() > kHeader - 2)
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": output ", name, " has too many dims"));
    int64_t header[kHeader] = {static_cast<int64_t>(t.dtype),
                               static_cast<int64_t>(t.shape.size())};
    std::copy(t.shape.begin(), t.shape.end(), header + 2);
    KILN_RETURN_IF_ERROR(link.send(to, header, sizeof(header), where));
    KILN_RETURN_IF_ERROR(link.send(
        to, t.bytes.data(), static_cast<int64_t>(t.bytes.size()), where));
  }
  return absl::OkStatus();
}

/// What `from` sent with sendOutputs: `names` in order, or none (a
/// replica without rows).
absl::StatusOr<std::vector<NamedTensor>>
recvOutputs(StageLink &link, int from, const std::vector<std::string> &names,
            const std::string &where) {
  int64_t count = -1;
  KILN_RETURN_IF_ERROR(link.recv(from, &count, sizeof(count), where));
  if (count != 0 && count != static_cast<int64_t>(names.size()))
    return absl::InternalError(absl::StrCat(where, ": ", count, " outputs, ",
                                            names.size(), " expected"));
  std::vector<NamedTensor> received;
  for (int64_t i = 0; i < count; ++i) {
    int64_t header[kHeader] = {};
    KILN_RETURN_IF_ERROR(link.recv(from, header, sizeof(header), where));
    if (header[1] < 0 || header[1] > static_cast<int64_t>(kHeader) - 2 ||
        header[0] < static_cast<int64_t>(DType::MIN) ||
        header[0] > static_cast<int64_t>(DType::MAX))
      return absl::InternalError(where + ": a malformed output header");
    std::vector<int64_t> shape(header + 2, header + 2 + header[1]);
    if (checkedBytes(shape, dtypeBytes(static_cast<DType>(header[0]))) < 0)
      return absl::InternalError(where + ": an impossible output shape");
    Tensor t = Tensor::zeros(static_cast<DType>(header[0]), shape);
    KILN_RETURN_IF_ERROR(link.recv(
        from, t.bytes.data(), static_cast<int64_t>(t.bytes.size()), where));
    received.push_back({names[i], std::move(t)});
  }
  return received;
}

/// The names of `entry`'s outputs (its results but the kv caches).
absl::StatusOr<std::vector<std::string>> outputNames(const Artifact &artifact,
                                                     const std::string &entry) {
  KILN_ASSIGN_OR_RETURN(const artifact::EntryT *found,
                        findEntry(artifact, entry));
  std::vector<std::string> names;
  for (const auto &r : found->results)
    if (!isCache(r->role))
      names.push_back(r->name);
  return names;
}

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

/// Rows [begin, end) of each of a call's batch-major arguments.
std::vector<Tensor> argumentRows(const std::vector<Tensor> &arguments,
                                 int64_t begin, int64_t end) {
  std::vector<Tensor> rows;
  for (const Tensor &t : arguments)
    rows.push_back(rowsOfTensor(t, begin, end));
  return rows;
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
  KILN_ASSIGN_OR_RETURN(const int64_t batch, batchOf(arguments));
  std::vector<std::vector<Tensor>> inputs(chunks);
  for (int64_t c = 0; c < chunks; ++c) {
    auto [begin, end] = rowsOf(c, batch);
    if (chunks == 1) {
      inputs[c] = arguments;
      continue;
    }
    inputs[c] = argumentRows(arguments, begin, end);
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
    appendRows(joined, *results[mb * ranks + last]);
  }
  return joined;
}

MicroBatched::MicroBatched(std::vector<std::unique_ptr<Executor>> parts)
    : parts_(std::move(parts)) {}

MicroBatched::~MicroBatched() = default;

absl::Status MicroBatched::resetCaches(int64_t batch, int64_t length) {
  const auto chunks = static_cast<int64_t>(parts_.size());
  for (int64_t mb = 0; mb < chunks; ++mb) {
    auto [begin, end] = chunkRows(mb, chunks, batch);
    if (end > begin)
      KILN_RETURN_IF_ERROR(parts_[mb]->resetCaches(end - begin, length));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>>
MicroBatched::run(const std::string &entry,
                  const std::vector<Tensor> &arguments) {
  KILN_ASSIGN_OR_RETURN(const int64_t batch, batchOf(arguments));
  const auto chunks = static_cast<int64_t>(parts_.size());
  std::vector<NamedTensor> joined;
  for (int64_t mb = 0; mb < chunks; ++mb) {
    auto [begin, end] = chunkRows(mb, chunks, batch);
    if (end == begin)
      continue;
    KILN_ASSIGN_OR_RETURN(
        std::vector<NamedTensor> part,
        parts_[mb]->run(entry, argumentRows(arguments, begin, end)));
    appendRows(joined, part);
  }
  return joined;
}

LinkedRank::LinkedRank(const Artifact &artifact,
                       std::unique_ptr<Executor> inner, StageLink &link)
    : artifact(artifact), inner(std::move(inner)), link(link) {}

LinkedRank::~LinkedRank() = default;

absl::Status LinkedRank::resetCaches(int64_t batch, int64_t length) {
  return inner->resetCaches(batch, length);
}

absl::StatusOr<std::vector<NamedTensor>>
PipelineRank::run(const std::string &entry,
                  const std::vector<Tensor> &arguments) {
  auto outputs = inner->run(entry, arguments);
  if (!outputs.ok()) {
    link.abort(std::string(outputs.status().message()));
    return outputs;
  }
  const int last = link.stages() - 1;
  const std::string where = absl::StrCat("the outputs of ", entry);
  if (link.stage() == last) {
    for (int s = 0; s < last; ++s)
      KILN_RETURN_IF_ERROR(sendOutputs(link, s, *outputs, where));
    return outputs;
  }
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> names,
                        outputNames(artifact, entry));
  return recvOutputs(link, last, names, where);
}

absl::Status ReplicaRank::resetCaches(int64_t batch, int64_t length) {
  auto [begin, end] = chunkRows(link.stage(), link.stages(), batch);
  return end > begin ? inner->resetCaches(end - begin, length)
                     : absl::OkStatus();
}

absl::StatusOr<std::vector<NamedTensor>>
ReplicaRank::run(const std::string &entry,
                 const std::vector<Tensor> &arguments) {
  KILN_ASSIGN_OR_RETURN(const int64_t batch, batchOf(arguments));
  auto [begin, end] = chunkRows(link.stage(), link.stages(), batch);
  std::vector<NamedTensor> own;
  if (end > begin) {
    auto outputs = inner->run(entry, argumentRows(arguments, begin, end));
    if (!outputs.ok()) {
      // The other replicas wait in the exchange: end it now.
      link.abort(std::string(outputs.status().message()));
      return outputs;
    }
    own = std::move(*outputs);
  }
  return exchange(entry, std::move(own));
}

absl::StatusOr<std::vector<NamedTensor>>
ReplicaRank::exchange(const std::string &entry, std::vector<NamedTensor> own) {
  const std::string where = absl::StrCat("the replicas' outputs of ", entry);
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> names,
                        outputNames(artifact, entry));
  // Through replica 0, so no two processes wait on each other's sends.
  if (link.stage() != 0) {
    KILN_RETURN_IF_ERROR(sendOutputs(link, 0, own, where));
    return recvOutputs(link, 0, names, where);
  }
  std::vector<NamedTensor> joined = std::move(own);
  for (int d = 1; d < link.stages(); ++d) {
    KILN_ASSIGN_OR_RETURN(std::vector<NamedTensor> part,
                          recvOutputs(link, d, names, where));
    appendRows(joined, part);
  }
  for (int d = 1; d < link.stages(); ++d)
    KILN_RETURN_IF_ERROR(sendOutputs(link, d, joined, where));
  return joined;
}

} // namespace kiln::rt
