//===- CollectivesTest.cpp - in-process collectives and their deadlines ---===//

#include "runtime/Collectives.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace kiln::rt {
namespace {

/// Runs `body(rank, communicator)` on `ranks` threads; their statuses.
template <typename Body>
std::vector<absl::Status> onRanks(LocalGroup &group, Body body) {
  std::vector<absl::Status> statuses(group.size());
  std::vector<std::unique_ptr<Communicator>> members;
  for (int r = 0; r < group.size(); ++r)
    members.push_back(group.member(r));
  std::vector<std::thread> threads;
  for (int r = 0; r < group.size(); ++r)
    threads.emplace_back([&, r] { statuses[r] = body(r, *members[r]); });
  for (std::thread &t : threads)
    t.join();
  return statuses;
}

TEST(CollectivesTest, AllReduceSumsInRankOrderOnEveryRank) {
  LocalGroup group(3, 10);
  std::vector<std::vector<float>> data(3);
  auto statuses = onRanks(group, [&](int r, Communicator &c) {
    data[r] = {1e8f * (r == 0), 1.0f + r, -2.0f * r, 0.5f};
    // Twice: the group is reusable, call after call.
    absl::Status s = c.allReduce(data[r].data(), 4, "step 0");
    if (!s.ok())
      return s;
    return c.allReduce(data[r].data(), 4, "step 1");
  });
  for (const absl::Status &s : statuses)
    ASSERT_TRUE(s.ok()) << s;
  // ((1e8 + 0) + 0) in rank order, then the sum of the sums.
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(data[r], data[0]);
    EXPECT_FLOAT_EQ(data[r][1], 3 * (1 + 2 + 3));
    EXPECT_FLOAT_EQ(data[r][2], 3 * (0 - 2 - 4));
    EXPECT_FLOAT_EQ(data[r][3], 3 * 1.5f);
  }
}

TEST(CollectivesTest, AllGatherJoinsPartsAlongTheLastDim) {
  LocalGroup group(2, 10);
  std::vector<std::vector<float>> out(2, std::vector<float>(2 * 4));
  auto statuses = onRanks(group, [&](int r, Communicator &c) {
    // [2 rows, 2 cols] per rank.
    std::vector<float> in = {10.0f * r + 0, 10.0f * r + 1, 10.0f * r + 2,
                             10.0f * r + 3};
    return c.allGather(in.data(), out[r].data(), 2, 2, "lm head");
  });
  for (const absl::Status &s : statuses)
    ASSERT_TRUE(s.ok()) << s;
  const std::vector<float> expected = {0, 1, 10, 11, 2, 3, 12, 13};
  EXPECT_EQ(out[0], expected);
  EXPECT_EQ(out[1], expected);
}

/// DeviceCollectiveOps on host memory: what kiln_rank_share and the
/// device-to-device copies do, for the exchange's protocol alone (the
/// kernel itself runs in the CUDA executor's fake-device tests).
class HostOps : public DeviceCollectiveOps {
public:
  absl::Status share(float *out, const std::vector<const float *> &inputs,
                     int64_t begin, int64_t end, int64_t cols) override {
    if (fail)
      return absl::InternalError("the share kernel failed");
    const int64_t ranks = static_cast<int64_t>(inputs.size());
    for (int64_t i = begin; i < end; ++i) {
      if (cols > 0) {
        const int64_t row = i / (cols * ranks), col = i % (cols * ranks);
        out[i - begin] = inputs[col / cols][row * cols + col % cols];
        continue;
      }
      float sum = inputs[0][i];
      for (int64_t r = 1; r < ranks; ++r)
        sum += inputs[r][i];
      out[i - begin] = sum;
    }
    return absl::OkStatus();
  }
  absl::Status copy(void *to, const void *from, int64_t bytes) override {
    std::memmove(to, from, bytes);
    return absl::OkStatus();
  }
  absl::StatusOr<float *> shareBuffer(int64_t bytes) override {
    buffer.resize(std::max<size_t>(buffer.size(), bytes / sizeof(float)));
    return buffer.data();
  }
  absl::StatusOr<void *> allocate(int64_t bytes) override {
    ++live;
    return std::malloc(bytes);
  }
  void release(void *p) override {
    --live;
    std::free(p);
  }
  std::vector<float> buffer;
  bool fail = false;
  /// Buffers allocated and not released, over every HostOps.
  static inline std::atomic<int> live{0};
};

TEST(CollectivesTest, DeviceExchangesGiveTheHostPathsBits) {
  // 3 ranks over 7 elements: shares of 3, 3 and 1; the result written
  // over the operand (all_reduce in place), then out of place.
  LocalGroup group(3, 10);
  std::vector<HostOps> ops(3);
  std::vector<std::vector<float>> host(3), device(3), gathered(3);
  auto statuses = onRanks(group, [&](int r, Communicator &c) {
    EXPECT_TRUE(c.sharesMemory());
    host[r] = {1e8f * (r == 0), 1.0f + r, -2.0f * r, 0.5f, 3.0f,
               1e-3f * r,       7.0f};
    device[r] = host[r];
    if (absl::Status s = c.allReduce(host[r].data(), 7, "step 0"); !s.ok())
      return s;
    if (absl::Status s = c.allReduceOnDevice(ops[r], device[r].data(),
                                             device[r].data(), 7, "step 0");
        !s.ok())
      return s;
    std::vector<float> part = {10.0f * r, 10.0f * r + 1};
    gathered[r].assign(6, -1.0f);
    return c.allGatherOnDevice(ops[r], part.data(), gathered[r].data(), 1, 2,
                               "lm head");
  });
  for (const absl::Status &s : statuses)
    ASSERT_TRUE(s.ok()) << s;
  const std::vector<float> expected = {0, 1, 10, 11, 20, 21};
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(device[r], host[0]);
    EXPECT_EQ(gathered[r], expected);
  }
}

TEST(CollectivesTest, StagesHandOverDeviceBuffersInOrder) {
  // Stage 0 sends two values before stage 1 takes either; each lies in a
  // buffer the sender allocated until the receiver copies and frees it.
  LocalPipeline pipeline(2, 10);
  auto first = pipeline.member(0), second = pipeline.member(1);
  EXPECT_TRUE(first->sharesMemory());
  HostOps sender, receiver;
  std::vector<float> a = {1, 2, 3}, b = {4, 5, 6}, got(3);
  ASSERT_TRUE(first->sendOnDevice(sender, 1, a.data(), 12, "s0").ok());
  ASSERT_TRUE(first->sendOnDevice(sender, 1, b.data(), 12, "s1").ok());
  a.assign(3, 0.0f); // the value was copied at send
  EXPECT_EQ(HostOps::live.load(), 2);
  ASSERT_TRUE(second->recvOnDevice(receiver, 0, got.data(), 12, "s0").ok());
  EXPECT_EQ(got, (std::vector<float>{1, 2, 3}));
  ASSERT_TRUE(second->recvOnDevice(receiver, 0, got.data(), 12, "s1").ok());
  EXPECT_EQ(got, b);
  EXPECT_EQ(HostOps::live.load(), 0);
  EXPECT_EQ(first->bytesSent(), 24);
  // A value sent through host memory is not taken as a device buffer.
  ASSERT_TRUE(first->send(1, a.data(), 12, "s2").ok());
  absl::Status mixed = second->recvOnDevice(receiver, 0, got.data(), 12, "s2");
  EXPECT_NE(mixed.message().find("through host memory"), std::string::npos)
      << mixed;
}

TEST(CollectivesTest, AFailedDeviceShareEndsEveryRank) {
  LocalGroup group(2, 10);
  std::vector<HostOps> ops(2);
  ops[1].fail = true;
  auto statuses = onRanks(group, [&](int r, Communicator &c) {
    std::vector<float> data(4, 1.0f);
    return c.allReduceOnDevice(ops[r], data.data(), data.data(), 4, "step 3");
  });
  EXPECT_FALSE(statuses[0].ok());
  EXPECT_NE(statuses[0].message().find("rank 1 failed"), std::string::npos)
      << statuses[0];
  EXPECT_NE(statuses[1].message().find("share kernel failed"),
            std::string::npos)
      << statuses[1];
}

TEST(CollectivesTest, AMissingRankEndsEveryRankWithinTheTimeout) {
  LocalGroup group(2, 0.2);
  auto start = std::chrono::steady_clock::now();
  auto statuses = onRanks(group, [&](int r, Communicator &c) {
    float x = 1;
    if (r == 1) {
      // Rank 1 stalls past the deadline before its collective.
      std::this_thread::sleep_for(std::chrono::milliseconds(600));
    }
    return c.allReduce(&x, 1, "step 7 of decode (h.0.attn)");
  });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_LT(seconds, 5);
  ASSERT_TRUE(absl::IsDeadlineExceeded(statuses[0])) << statuses[0];
  EXPECT_NE(statuses[0].message().find(
                "rank 0: collective all_reduce at step 7 of decode "
                "(h.0.attn) did not complete within 0.2 s"),
            std::string::npos)
      << statuses[0];
  // The late rank finds the group ended, with the reason.
  ASSERT_TRUE(absl::IsAborted(statuses[1])) << statuses[1];
  EXPECT_NE(statuses[1].message().find("rank 0 waited 0.2 s"),
            std::string::npos)
      << statuses[1];
}

TEST(CollectivesTest, AFailedRankEndsTheOthersAtOnce) {
  LocalGroup group(3, 60);
  auto start = std::chrono::steady_clock::now();
  auto statuses = onRanks(group, [&](int r, Communicator &c) {
    float x = 1;
    if (r == 2) {
      c.abort("cannot allocate the arena");
      return absl::InternalError("cannot allocate the arena");
    }
    return c.allReduce(&x, 1, "step 3");
  });
  EXPECT_LT(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count(),
      30);
  for (int r = 0; r < 2; ++r) {
    ASSERT_TRUE(absl::IsAborted(statuses[r])) << statuses[r];
    EXPECT_NE(statuses[r].message().find(
                  "ended because rank 2 failed: cannot allocate the arena"),
              std::string::npos)
        << statuses[r];
  }
}

TEST(CollectivesTest, StagesPassValuesForwardInOrder) {
  LocalPipeline pipeline(3, 10);
  std::vector<std::unique_ptr<StageLink>> links;
  for (int s = 0; s < 3; ++s)
    links.push_back(pipeline.member(s));
  std::vector<absl::Status> statuses(3);
  std::vector<std::vector<float>> got(3);
  std::vector<std::thread> threads;
  for (int s = 0; s < 3; ++s)
    threads.emplace_back([&, s] {
      StageLink &link = *links[s];
      EXPECT_EQ(link.stage(), s);
      EXPECT_EQ(link.stages(), 3);
      // Stage 0 sends two values to stage 1 (micro-batches, in order) and
      // one to stage 2; stage 1 adds one to each and passes them on.
      if (s == 0) {
        float a[2] = {1, 2}, b[2] = {3, 4}, c = 7;
        absl::Status st = link.send(1, a, sizeof(a), "a");
        if (st.ok())
          st = link.send(1, b, sizeof(b), "b");
        if (st.ok())
          st = link.send(2, &c, sizeof(c), "c");
        statuses[s] = st;
        return;
      }
      if (s == 1) {
        for (int m = 0; m < 2; ++m) {
          float v[2];
          absl::Status st = link.recv(0, v, sizeof(v), "a");
          if (!st.ok()) {
            statuses[s] = st;
            return;
          }
          v[0] += 1;
          v[1] += 1;
          statuses[s] = link.send(2, v, sizeof(v), "b");
        }
        return;
      }
      float c = 0, v[2];
      absl::Status st = link.recv(0, &c, sizeof(c), "c");
      got[s].push_back(c);
      for (int m = 0; st.ok() && m < 2; ++m) {
        st = link.recv(1, v, sizeof(v), "b");
        got[s].insert(got[s].end(), v, v + 2);
      }
      statuses[s] = st;
    });
  for (std::thread &t : threads)
    t.join();
  for (const absl::Status &st : statuses)
    ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(got[2], (std::vector<float>{7, 2, 3, 4, 5}));
}

TEST(CollectivesTest, AStageThatNeverSendsEndsTheReceiverWithinTheTimeout) {
  LocalPipeline pipeline(2, 0.2);
  auto receiver = pipeline.member(1);
  float x = 0;
  absl::Status st = receiver->recv(0, &x, sizeof(x), "step 5 of decode");
  ASSERT_TRUE(absl::IsDeadlineExceeded(st)) << st;
  EXPECT_NE(st.message().find("stage 1: send_recv step 5 of decode did not "
                              "complete within 0.2 s (stage 0 never sent)"),
            std::string::npos)
      << st;
  // The pipeline is ended for the sender too.
  auto sender = pipeline.member(0);
  EXPECT_TRUE(absl::IsAborted(sender->send(1, &x, sizeof(x), "step 5")));
}

TEST(CollectivesTest, AFailedStageEndsTheReceiverAtOnceAndSizesAreChecked) {
  LocalPipeline pipeline(2, 60);
  auto sender = pipeline.member(0), receiver = pipeline.member(1);
  float two[2] = {1, 2}, one = 0;
  ASSERT_TRUE(sender->send(1, two, sizeof(two), "step 1").ok());
  absl::Status st = receiver->recv(0, &one, sizeof(one), "step 1");
  EXPECT_TRUE(absl::IsInternal(st)) << st;
  EXPECT_NE(st.message().find("received 8 bytes from stage 0, expected 4"),
            std::string::npos)
      << st;
  auto start = std::chrono::steady_clock::now();
  std::thread failing([&] { sender->abort("cannot allocate the arena"); });
  st = receiver->recv(0, &one, sizeof(one), "step 2");
  failing.join();
  EXPECT_LT(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count(),
      30);
  ASSERT_TRUE(absl::IsAborted(st)) << st;
  EXPECT_NE(st.message().find("ended because stage 0 failed: cannot allocate"),
            std::string::npos)
      << st;
}

} // namespace
} // namespace kiln::rt
