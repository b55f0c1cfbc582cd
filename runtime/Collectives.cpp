//===- Collectives.cpp - collectives between the threads of a process -----===//

#include "runtime/Collectives.h"

#include "artifact/Artifact.h"
#include "runtime/DimExpr.h"
#include "support/Status.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kiln::rt {

struct LocalGroup::State {
  std::mutex mutex;
  std::condition_variable arrived;
  int ranks = 0;
  std::chrono::duration<double> timeout;
  // The barrier: how many ranks wait in this generation.
  int waiting = 0;
  uint64_t generation = 0;
  // Set once, by the first rank that fails or gives up waiting.
  bool aborted = false;
  std::string why;
  // What the ranks publish for the collective in flight (on the device:
  // their operands and their share buffers).
  std::vector<const float *> inputs;
  std::vector<float *> shares;
  std::vector<float> result;

  /// Waits until every rank has arrived; an error when the group was
  /// aborted or the deadline passed (which aborts it for the others).
  absl::Status barrier(int rank, const std::string &where) {
    std::unique_lock<std::mutex> lock(mutex);
    if (aborted)
      return absl::AbortedError(
          absl::StrCat("rank ", rank, ": ", where, ": ended because ", why));
    const uint64_t mine = generation;
    if (++waiting == ranks) {
      waiting = 0;
      ++generation;
      arrived.notify_all();
      return absl::OkStatus();
    }
    const bool done = arrived.wait_for(
        lock, timeout, [&] { return generation != mine || aborted; });
    if (generation != mine)
      return absl::OkStatus();
    if (!done && !aborted) {
      aborted = true;
      why = absl::StrCat("rank ", rank, " waited ", timeout.count(), " s at ",
                         where, " for the other ranks");
      arrived.notify_all();
      return absl::DeadlineExceededError(absl::StrCat(
          "rank ", rank, ": collective ", where, " did not complete within ",
          timeout.count(), " s (", ranks - waiting, " of ", ranks,
          " ranks never arrived)"));
    }
    return absl::AbortedError(
        absl::StrCat("rank ", rank, ": ", where, ": ended because ", why));
  }

  void abort(const std::string &message) {
    std::lock_guard<std::mutex> lock(mutex);
    if (aborted)
      return;
    aborted = true;
    why = message;
    arrived.notify_all();
  }
};

namespace {

/// The elements [begin, end) of a `total`-element result rank `rank` of
/// `ranks` computes: equal shares rounded up, the last ones short.
std::pair<int64_t, int64_t> shareOf(int rank, int ranks, int64_t total) {
  const int64_t chunk = (total + ranks - 1) / ranks;
  const int64_t begin = std::min(total, rank * chunk);
  return {begin, std::min(total, begin + chunk)};
}

class LocalMember : public Communicator {
public:
  LocalMember(LocalGroup::State &state, int rank)
      : state_(state), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return state_.ranks; }

  absl::Status allReduce(float *data, int64_t count,
                         const std::string &where) override {
    const std::string what = "all_reduce at " + where;
    return exchange(
        data, count, what,
        [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            float sum = state_.inputs[0][i];
            for (int r = 1; r < state_.ranks; ++r)
              sum += state_.inputs[r][i];
            state_.result[i] = sum;
          }
        },
        data, count);
  }

  absl::Status allGather(const float *in, float *out, int64_t rows,
                         int64_t cols, const std::string &where) override {
    const std::string what = "all_gather at " + where;
    const int64_t width = cols * state_.ranks;
    return exchange(
        in, rows * width, what,
        [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            const int64_t row = i / width, col = i % width;
            state_.result[i] =
                state_.inputs[col / cols][row * cols + col % cols];
          }
        },
        out, rows * width);
  }

  bool sharesMemory() const override { return true; }

  absl::Status allReduceOnDevice(DeviceCollectiveOps &ops, const float *in,
                                 float *out, int64_t count,
                                 const std::string &where) override {
    return exchangeOnDevice(ops, in, out, count, 0, "all_reduce at " + where);
  }

  absl::Status allGatherOnDevice(DeviceCollectiveOps &ops, const float *in,
                                 float *out, int64_t rows, int64_t cols,
                                 const std::string &where) override {
    return exchangeOnDevice(ops, in, out, rows * cols * state_.ranks, cols,
                            "all_gather at " + where);
  }

  void abort(const std::string &why) override {
    state_.abort(absl::StrCat("rank ", rank_, " failed: ", why));
  }

private:
  /// exchange's three barriers with device buffers: each rank publishes
  /// its operand and its share buffer, `ops` computes its share of the
  /// `total` result elements into that buffer (a sum when cols == 0, else
  /// a gather of [rows, cols] operands), then copies every rank's share
  /// into `out`. No rank writes `out` (which may be its operand) before
  /// every rank has read the operands.
  absl::Status exchangeOnDevice(DeviceCollectiveOps &ops, const float *in,
                                float *out, int64_t total, int64_t cols,
                                const std::string &what) {
    const int ranks = state_.ranks;
    movedBytes += static_cast<int64_t>(sizeof(float)) *
                  (cols == 0 ? total : total / ranks);
    auto [first, firstEnd] = shareOf(0, ranks, total); // the largest
    absl::StatusOr<float *> buffer =
        ops.shareBuffer(std::max<int64_t>(1, firstEnd - first) * sizeof(float));
    if (!buffer.ok()) {
      abort(std::string(buffer.status().message()));
      return buffer.status();
    }
    {
      std::lock_guard<std::mutex> lock(state_.mutex);
      state_.inputs[rank_] = in;
      state_.shares[rank_] = *buffer;
    }
    if (absl::Status s = state_.barrier(rank_, what); !s.ok())
      return s;
    auto [begin, end] = shareOf(rank_, ranks, total);
    if (absl::Status s = ops.share(*buffer, state_.inputs, begin, end, cols);
        !s.ok()) {
      abort(std::string(s.message()));
      return s;
    }
    if (absl::Status s = state_.barrier(rank_, what); !s.ok())
      return s;
    for (int r = 0; r < ranks; ++r) {
      auto [from, to] = shareOf(r, ranks, total);
      if (to <= from)
        continue;
      if (absl::Status s = ops.copy(out + from, state_.shares[r],
                                    (to - from) * sizeof(float));
          !s.ok()) {
        abort(std::string(s.message()));
        return s;
      }
    }
    // As exchange: nobody publishes again before every rank copied out.
    return state_.barrier(rank_, what);
  }

  /// Publish `in`, compute this rank's share of the `total` result
  /// elements with `share`, then copy all of it to `out`.
  template <typename Share>
  absl::Status exchange(const float *in, int64_t total, const std::string &what,
                        Share share, float *out, int64_t outCount) {
    movedBytes += static_cast<int64_t>(sizeof(float)) *
                  (in == out ? outCount : total / state_.ranks);
    if (rank_ == 0) {
      // Rank 0 sizes the shared result before anyone writes to it.
      std::lock_guard<std::mutex> lock(state_.mutex);
      if (static_cast<int64_t>(state_.result.size()) < total)
        state_.result.resize(total);
    }
    {
      std::lock_guard<std::mutex> lock(state_.mutex);
      state_.inputs[rank_] = in;
    }
    if (absl::Status s = state_.barrier(rank_, what); !s.ok())
      return s;
    auto [begin, end] = shareOf(rank_, state_.ranks, total);
    share(begin, end);
    if (absl::Status s = state_.barrier(rank_, what); !s.ok())
      return s;
    std::memcpy(out, state_.result.data(), outCount * sizeof(float));
    // No rank may publish the next collective's buffers (or resize the
    // result) before every rank has copied this one out.
    return state_.barrier(rank_, what);
  }

  LocalGroup::State &state_;
  int rank_;
};

} // namespace

struct LocalPipeline::State {
  std::mutex mutex;
  std::condition_variable sent;
  int stages = 0;
  std::chrono::duration<double> timeout;
  bool aborted = false;
  std::string why;
  /// A value in flight: a host copy, or (stages sharing one GPU) a device
  /// buffer the sender filled and the receiver frees.
  struct Mail {
    std::vector<uint8_t> host;
    void *device = nullptr;
    int64_t bytes = 0;
  };
  /// The values in flight, per (from, to), oldest first.
  std::map<std::pair<int, int>, std::deque<Mail>> mail;
};

namespace {

class LocalStage : public StageLink {
public:
  LocalStage(LocalPipeline::State &state, int stage)
      : state_(state), stage_(stage) {}
  int stage() const override { return stage_; }
  int stages() const override { return state_.stages; }

  absl::Status send(int to, const void *data, int64_t bytes,
                    const std::string &where) override {
    const auto *begin = static_cast<const uint8_t *>(data);
    LocalPipeline::State::Mail value;
    value.host.assign(begin, begin + bytes);
    value.bytes = bytes;
    return post(to, std::move(value), where);
  }

  absl::Status recv(int from, void *data, int64_t bytes,
                    const std::string &where) override {
    KILN_ASSIGN_OR_RETURN(LocalPipeline::State::Mail value,
                          take(from, bytes, where));
    if (value.device)
      return mixed(where);
    std::memcpy(data, value.host.data(), value.host.size());
    return absl::OkStatus();
  }

  bool sharesMemory() const override { return true; }

  absl::Status sendOnDevice(DeviceCollectiveOps &ops, int to, const void *data,
                            int64_t bytes, const std::string &where) override {
    LocalPipeline::State::Mail value;
    value.bytes = bytes;
    KILN_ASSIGN_OR_RETURN(value.device,
                          ops.allocate(std::max<int64_t>(bytes, 1)));
    if (absl::Status s = ops.copy(value.device, data, bytes); !s.ok()) {
      ops.release(value.device);
      return s;
    }
    return post(to, std::move(value), where);
  }

  absl::Status recvOnDevice(DeviceCollectiveOps &ops, int from, void *data,
                            int64_t bytes, const std::string &where) override {
    KILN_ASSIGN_OR_RETURN(LocalPipeline::State::Mail value,
                          take(from, bytes, where));
    if (!value.device)
      return mixed(where);
    absl::Status s = ops.copy(data, value.device, bytes);
    ops.release(value.device);
    return s;
  }

  void abort(const std::string &why) override {
    std::lock_guard<std::mutex> lock(state_.mutex);
    if (state_.aborted)
      return;
    state_.aborted = true;
    state_.why = absl::StrCat("stage ", stage_, " failed: ", why);
    state_.sent.notify_all();
  }

private:
  /// Queues `value` for stage `to` (a send never waits for its receiver).
  absl::Status post(int to, LocalPipeline::State::Mail value,
                    const std::string &where) {
    std::lock_guard<std::mutex> lock(state_.mutex);
    if (state_.aborted)
      return ended(where);
    sentBytes += value.bytes;
    state_.mail[{stage_, to}].push_back(std::move(value));
    state_.sent.notify_all();
    return absl::OkStatus();
  }

  absl::Status mixed(const std::string &where) const {
    return absl::InternalError(absl::StrCat(
        "stage ", stage_, ": send_recv ", where,
        ": one stage sent through host memory, the other through the "
        "device"));
  }

  /// The next value stage `from` sent, of `bytes` bytes, within the
  /// deadline.
  absl::StatusOr<LocalPipeline::State::Mail> take(int from, int64_t bytes,
                                                  const std::string &where) {
    std::unique_lock<std::mutex> lock(state_.mutex);
    auto &queue = state_.mail[{from, stage_}];
    const bool arrived = state_.sent.wait_for(
        lock, state_.timeout, [&] { return !queue.empty() || state_.aborted; });
    if (state_.aborted)
      return ended(where);
    if (!arrived) {
      state_.aborted = true;
      state_.why =
          absl::StrCat("stage ", stage_, " waited ", state_.timeout.count(),
                       " s at ", where, " for stage ", from);
      state_.sent.notify_all();
      return absl::DeadlineExceededError(absl::StrCat(
          "stage ", stage_, ": send_recv ", where, " did not complete within ",
          state_.timeout.count(), " s (stage ", from, " never sent)"));
    }
    LocalPipeline::State::Mail value = std::move(queue.front());
    queue.pop_front();
    if (value.bytes != bytes)
      return absl::InternalError(absl::StrCat(
          "stage ", stage_, ": send_recv ", where, " received ", value.bytes,
          " bytes from stage ", from, ", expected ", bytes,
          " (the stages were called with different shapes)"));
    return value;
  }

  /// Needs the lock held.
  absl::Status ended(const std::string &where) const {
    return absl::AbortedError(absl::StrCat("stage ", stage_, ": ", where,
                                           ": ended because ", state_.why));
  }

  LocalPipeline::State &state_;
  int stage_;
};

} // namespace

LocalPipeline::LocalPipeline(int stages, double timeoutSeconds)
    : state_(std::make_unique<State>()) {
  state_->stages = stages;
  state_->timeout = std::chrono::duration<double>(timeoutSeconds);
}

LocalPipeline::~LocalPipeline() = default;

std::unique_ptr<StageLink> LocalPipeline::member(int stage) {
  return std::make_unique<LocalStage>(*state_, stage);
}

absl::Status Communicator::allReduceOnDevice(DeviceCollectiveOps &,
                                             const float *, float *, int64_t,
                                             const std::string &where) {
  return absl::UnimplementedError(where +
                                  ": this transport moves host buffers only");
}

absl::Status Communicator::allGatherOnDevice(DeviceCollectiveOps &,
                                             const float *, float *, int64_t,
                                             int64_t,
                                             const std::string &where) {
  return absl::UnimplementedError(where +
                                  ": this transport moves host buffers only");
}

absl::Status StageLink::sendOnDevice(DeviceCollectiveOps &, int, const void *,
                                     int64_t, const std::string &where) {
  return absl::UnimplementedError(where +
                                  ": this transport moves host buffers only");
}

absl::Status StageLink::recvOnDevice(DeviceCollectiveOps &, int, void *,
                                     int64_t, const std::string &where) {
  return absl::UnimplementedError(where +
                                  ": this transport moves host buffers only");
}

absl::Status runCollectiveStep(const artifact::StepT &step, int64_t stage,
                               Communicator *communicator, StageLink *link,
                               const void *in, void *out,
                               const std::vector<int64_t> &inDims,
                               const std::vector<int64_t> &outDims,
                               const std::string &where) {
  if (step.collective == artifact::CollectiveKind::SendRecv) {
    if (!link)
      return absl::InvalidArgumentError(
          where + " passes a value between pipeline stages; run the "
                  "artifact's ranks together (--ranks or mpirun)");
    const bool sender = sendsValue(step, stage);
    const artifact::BufferT &b = sender ? *step.operands[0] : *step.results[0];
    const int64_t bytes =
        checkedBytes(sender ? inDims : outDims, dtypeBytes(b.dtype));
    if (bytes < 0)
      return absl::InvalidArgumentError("damaged: " + where +
                                        " has an impossible shape");
    if (sender)
      return link->send(static_cast<int>(step.peer_stage), in, bytes, where);
    return link->recv(senderStage(step), out, bytes, where);
  }
  if (!communicator)
    return absl::InvalidArgumentError(absl::StrCat(
        where, " is a collective of ", step.ranks,
        " tensor-parallel ranks; run the artifact's ranks together (--ranks "
        "or mpirun)"));
  const auto *source = static_cast<const float *>(in);
  auto *target = static_cast<float *>(out);
  if (step.collective == artifact::CollectiveKind::AllReduce) {
    if (source != target)
      std::memmove(target, source, product(inDims) * sizeof(float));
    return communicator->allReduce(target, product(outDims), where);
  }
  const int64_t cols = inDims.empty() ? 1 : inDims.back();
  if (outDims.empty() || outDims.back() != cols * communicator->size())
    return absl::InvalidArgumentError("damaged: " + where +
                                      " gathers the wrong width");
  return communicator->allGather(source, target,
                                 product(inDims) / std::max<int64_t>(1, cols),
                                 cols, where);
}

LocalGroup::LocalGroup(int ranks, double timeoutSeconds)
    : ranks_(ranks), state_(std::make_unique<State>()) {
  state_->ranks = ranks;
  state_->timeout = std::chrono::duration<double>(timeoutSeconds);
  state_->inputs.assign(ranks, nullptr);
  state_->shares.assign(ranks, nullptr);
}

LocalGroup::~LocalGroup() = default;

std::unique_ptr<Communicator> LocalGroup::member(int rank) {
  return std::make_unique<LocalMember>(*state_, rank);
}

} // namespace kiln::rt
