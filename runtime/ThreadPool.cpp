//===- ThreadPool.cpp - splitting a range of work over the cores ----------===//

#include "runtime/ThreadPool.h"

#include <algorithm>
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

void ThreadPool::parallelFor(int64_t n, const Body &body) {
  int chunks = static_cast<int>(std::min<int64_t>(n, threads()));
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
    pending_ = chunks - 1;
    ++generation_;
  }
  wake_.notify_all();
  auto [begin, end] = chunk(n, chunks, 0);
  body(begin, end);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return pending_ == 0; });
  body_ = nullptr;
}

void ThreadPool::work(int index) {
  uint64_t seen = 0;
  for (;;) {
    const Body *body;
    int64_t n;
    int chunks;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_)
        return;
      seen = generation_;
      body = body_;
      n = n_;
      chunks = chunks_;
    }
    if (index < chunks) {
      auto [begin, end] = chunk(n, chunks, index);
      (*body)(begin, end);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0)
        done_.notify_one();
    }
  }
}

} // namespace kiln::rt
