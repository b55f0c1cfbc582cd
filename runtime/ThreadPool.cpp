//===- ThreadPool.cpp - splitting a range of work over the cores ----------===//

#include "runtime/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>

namespace kiln::rt {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 1; i < threads; ++i)
    workers_.emplace_back([this, i] { work(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread &t : workers_)
    t.join();
}

static std::pair<int64_t, int64_t> chunk(int64_t n, int chunks, int index) {
  int64_t per = n / chunks, extra = n % chunks;
  int64_t begin = index * per + std::min<int64_t>(index, extra);
  return {begin, begin + per + (index < extra ? 1 : 0)};
}

/// Spins up to kSpin for `ready`, then gives up: a decode step runs a
/// hundred short parallel loops per token, and waking a thread parked on a
/// condition variable takes tens of microseconds each time; a worker that
/// just finished keeps polling that long before it parks.
template <typename Ready> static bool spinUntil(Ready ready) {
  constexpr auto kSpin = std::chrono::microseconds(200);
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (ready())
      return true;
    if (i % 64 == 63 && std::chrono::steady_clock::now() > deadline)
      return false;
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
}

/// Runs thread `index`'s share of a loop: its chunk, or with a grain the
/// chunks it takes from `next` until there are none left.
static void runShare(const ThreadPool::Body &body, int64_t n, int chunks,
                     int64_t grain, std::atomic<int64_t> &next, int index) {
  if (grain <= 0) {
    auto [begin, end] = chunk(n, chunks, index);
    body(begin, end);
    return;
  }
  for (;;) {
    const int64_t begin = next.fetch_add(grain, std::memory_order_relaxed);
    if (begin >= n)
      return;
    body(begin, std::min(n, begin + grain));
  }
}

void ThreadPool::parallelFor(int64_t n, const Body &body, int64_t grain) {
  int chunks = static_cast<int>(
      std::min<int64_t>(grain > 0 ? (n + grain - 1) / grain : n, threads()));
  if (chunks <= 1) {
    if (n > 0)
      body(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    body_ = &body;
    n_ = n;
    chunks_ = chunks;
    grain_ = grain;
    next_.store(0, std::memory_order_relaxed);
    pending_.store(chunks - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  runShare(body, n, chunks, grain, next_, 0);
  auto finished = [&] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spinUntil(finished)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, finished);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  body_ = nullptr;
}

void ThreadPool::work(int index) {
  uint64_t seen = 0;
  for (;;) {
    const Body *body;
    int64_t n, grain;
    int chunks;
    auto woken = [&] {
      return stop_.load(std::memory_order_acquire) ||
             generation_.load(std::memory_order_acquire) != seen;
    };
    if (!spinUntil(woken)) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, woken);
    }
    {
      // The loop's parameters, read under the lock that published them.
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_)
        return;
      seen = generation_.load(std::memory_order_relaxed);
      body = body_;
      n = n_;
      chunks = chunks_;
      grain = grain_;
    }
    if (index < chunks) {
      runShare(*body, n, chunks, grain, next_, index);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }
}

} // namespace kiln::rt
