//===- CudaEmulator.cpp - GPU threads as fibers ---------------------------===//

#include "test/support/CudaEmulator.h"

#include <memory>
#include <ucontext.h>
#include <vector>

namespace kiln::emu {

namespace {

constexpr size_t kStackBytes = 128 << 10;

enum class State { Runnable, AtBarrier, AtShuffle, Done };

struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack;
  Dim3 index;
  State state = State::Runnable;
  unsigned mask = 0;   // of the shuffle it waits in
  uint64_t value = 0;  // what it offers
  int source = 0;      // the lane it reads
  uint64_t result = 0; // what it got
};

struct Block {
  Dim3 grid, block, index;
  std::vector<char> shared;
  std::vector<Fiber> fibers;
  Fiber *current = nullptr;
  ucontext_t scheduler;
  const std::function<void()> *body = nullptr;
  std::string error;
};

Block *active = nullptr;

Fiber &self() { return *active->current; }

void yield() { swapcontext(&self().context, &active->scheduler); }

void entry() {
  (*active->body)();
  self().state = State::Done;
  // Returning ends the fiber: uc_link leads back to the scheduler.
}

std::string where(const Block &b) {
  return "block (" + std::to_string(b.index.x) + "," +
         std::to_string(b.index.y) + "," + std::to_string(b.index.z) + ")";
}

/// Releases the barrier or shuffles whose participants have all arrived.
/// Returns false when none can proceed (with `error` saying why).
bool release(Block &b) {
  size_t count = b.fibers.size();
  size_t done = 0, atBarrier = 0;
  for (const Fiber &f : b.fibers) {
    done += f.state == State::Done;
    atBarrier += f.state == State::AtBarrier;
  }
  bool progress = false;
  if (atBarrier > 0 && atBarrier + done == count) {
    if (done > 0) {
      b.error = where(b) + ": __syncthreads not reached by " +
                std::to_string(done) + " exited threads";
      return false;
    }
    for (Fiber &f : b.fibers)
      f.state = State::Runnable;
    return true;
  }
  // Warps: lanes are consecutive linear thread indices.
  for (size_t w = 0; w < count; w += 32) {
    size_t end = std::min(count, w + 32);
    bool waiting = false, ready = true;
    for (size_t i = w; i < end; ++i)
      waiting |= b.fibers[i].state == State::AtShuffle;
    if (!waiting)
      continue;
    unsigned mask = 0;
    for (size_t i = w; i < end; ++i)
      if (b.fibers[i].state == State::AtShuffle)
        mask = b.fibers[i].mask;
    for (size_t i = w; i < end; ++i) {
      bool named = mask >> (i - w) & 1;
      if (!named)
        continue;
      if (b.fibers[i].state == State::Done) {
        b.error = where(b) + ": a shuffle names lane " + std::to_string(i - w) +
                  " of warp " + std::to_string(w / 32) + ", which has exited";
        return false;
      }
      ready &= b.fibers[i].state == State::AtShuffle;
    }
    if (end - w < 32 && (mask >> (end - w)) != 0) {
      b.error = where(b) + ": a shuffle names lanes past the block's end";
      return false;
    }
    if (!ready)
      continue;
    for (size_t i = w; i < end; ++i) {
      Fiber &f = b.fibers[i];
      if (!(mask >> (i - w) & 1))
        continue;
      size_t from = w + static_cast<size_t>(f.source);
      f.result = from < end ? b.fibers[from].value : f.value;
      f.state = State::Runnable;
    }
    progress = true;
  }
  if (!progress)
    b.error = where(b) + ": deadlock (threads wait at different barriers)";
  return progress;
}

std::string runBlock(Block &b) {
  for (Fiber &f : b.fibers) {
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack.get();
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &b.scheduler;
    f.state = State::Runnable;
    makecontext(&f.context, entry, 0);
  }
  for (;;) {
    bool ran = false;
    for (Fiber &f : b.fibers) {
      if (f.state != State::Runnable)
        continue;
      b.current = &f;
      swapcontext(&b.scheduler, &f.context);
      ran = true;
    }
    bool allDone =
        std::all_of(b.fibers.begin(), b.fibers.end(),
                    [](const Fiber &f) { return f.state == State::Done; });
    if (allDone)
      return "";
    if (!ran && !release(b))
      return b.error;
    if (ran)
      continue;
  }
}

} // namespace

const Dim3 &threadIndex() { return self().index; }
const Dim3 &blockIndex() { return active->index; }
const Dim3 &blockShape() { return active->block; }
const Dim3 &gridShape() { return active->grid; }
void *dynamicShared() { return active->shared.data(); }

void syncThreads() {
  self().state = State::AtBarrier;
  yield();
}

uint64_t shuffle(unsigned mask, uint64_t value, int source) {
  Fiber &f = self();
  f.state = State::AtShuffle;
  f.mask = mask;
  f.value = value;
  f.source = source;
  yield();
  return self().result;
}

std::string launch(Dim3 grid, Dim3 block, size_t sharedBytes,
                   const std::function<void()> &body) {
  size_t threads = size_t{block.x} * block.y * block.z;
  if (threads == 0 || threads > 1024)
    return "a block of " + std::to_string(threads) + " threads";
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 ||
      grid.z > 65535)
    return "an invalid grid";
  if (sharedBytes > (227u << 10))
    return std::to_string(sharedBytes) +
           " bytes of dynamic shared memory (sm_90 allows 227 KiB)";
  Block b;
  b.grid = grid;
  b.block = block;
  b.body = &body;
  b.fibers.resize(threads);
  size_t i = 0;
  for (unsigned z = 0; z < block.z; ++z)
    for (unsigned y = 0; y < block.y; ++y)
      for (unsigned x = 0; x < block.x; ++x, ++i) {
        b.fibers[i].index = {x, y, z};
        b.fibers[i].stack = std::make_unique<char[]>(kStackBytes);
      }
  Block *outer = active;
  active = &b;
  std::string error;
  for (unsigned z = 0; z < grid.z && error.empty(); ++z)
    for (unsigned y = 0; y < grid.y && error.empty(); ++y)
      for (unsigned x = 0; x < grid.x && error.empty(); ++x) {
        b.index = {x, y, z};
        // Poisoned, as uninitialized shared memory may hold anything.
        b.shared.assign(std::max<size_t>(sharedBytes, 1), char(0xff));
        error = runBlock(b);
      }
  active = outer;
  return error;
}

} // namespace kiln::emu
