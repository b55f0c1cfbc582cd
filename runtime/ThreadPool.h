//===- ThreadPool.h - splitting a range of work over the cores ------------===//
//
// A fixed set of workers for the CPU executor: parallelFor cuts [0, n) into
// one contiguous chunk per thread (the caller runs the first) and returns
// when all are done. Kernel steps pass their work range of dim-0 rows;
// attention passes (batch, head) pairs. With a grain, the threads instead
// take chunks of that many items from a shared counter until none are
// left: memory-bound loops (a decode token's quantized gemms) then finish
// together, where equal halves left one thread waiting on the other.
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
  /// Runs body over [0, n) in up to threads() chunks, or, with `grain` > 0,
  /// in chunks of `grain` items taken in turn by whichever thread is free
  /// (body may then run several times on one thread).
  void parallelFor(int64_t n, const Body &body, int64_t grain = 0);

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
  int64_t grain_ = 0;
  /// With a grain: the first item no thread has taken yet.
  std::atomic<int64_t> next_{0};
  // Polled without the lock by spinning threads.
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_THREADPOOL_H
