//===- ThreadPool.h - splitting a range of work over the cores ------------===//
//
// A fixed set of workers for the CPU executor: parallelFor cuts [0, n) into
// one contiguous chunk per thread (the caller runs the first) and returns
// when all are done. Kernel steps pass their work range of dim-0 rows;
// attention passes (batch, head) pairs.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_THREADPOOL_H
#define KILN_RUNTIME_THREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::rt {

class ThreadPool {
public:
  /// `threads` in all, counting the caller; 0 means one per core.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  using Body = std::function<void(int64_t begin, int64_t end)>;
  /// Runs body over [0, n) in up to threads() chunks.
  void parallelFor(int64_t n, const Body &body);

private:
  void work(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  // Written under mutex_; a new generation_ publishes them, and workers
  // read them under mutex_ too.
  const Body *body_ = nullptr;
  int64_t n_ = 0;
  int chunks_ = 0;
  // Polled without the lock by spinning threads.
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_THREADPOOL_H
