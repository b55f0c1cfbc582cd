//===- MapGuard.cpp - a mapped file that changes becomes an error ---------===//

#include "support/MapGuard.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <errno.h> // program_invocation_short_name (GNU)
#include <mutex>
#include <signal.h>
#include <string>
#include <sys/types.h>
#include <unistd.h>

namespace kiln {

namespace {

/// One guarded mapping. The handler reads the slots without a lock: a
/// slot's path and size are written before its start is published, and its
/// start is cleared before the slot is reused.
struct Slot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<size_t> size{0};
  char path[1024] = {};
};

constexpr size_t kSlots = 256;
Slot slots[kSlots];
std::mutex registration;
struct sigaction previousAction;
bool installed = false;

void say(const char *text) {
  size_t left = std::strlen(text);
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, text, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    text += n;
    left -= static_cast<size_t>(n);
  }
}

// Only async-signal-safe calls here: write(2) and _exit(2).
extern "C" void onBusError(int, siginfo_t *info, void *) {
  uintptr_t address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (const Slot &slot : slots) {
    uintptr_t begin = slot.begin.load(std::memory_order_acquire);
    if (begin == 0 || address < begin ||
        address - begin >= slot.size.load(std::memory_order_relaxed))
      continue;
    say(program_invocation_short_name);
    say(": error: ");
    say(slot.path);
    say(" changed on disk while in use (truncated or rewritten after it "
        "was opened); reading it failed, nothing more was computed\n");
    ::_exit(1);
  }
  // Not a guarded mapping: the previous action, once the faulting
  // instruction runs again.
  ::sigaction(SIGBUS, &previousAction, nullptr);
}

void install() {
  struct sigaction action = {};
  action.sa_sigaction = onBusError;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &previousAction);
  installed = true;
}

} // namespace

void guardMapping(const void *data, size_t size, const std::string &path) {
  if (!data || size == 0)
    return;
  std::lock_guard<std::mutex> lock(registration);
  if (!installed)
    install();
  for (Slot &slot : slots) {
    if (slot.begin.load(std::memory_order_relaxed) != 0)
      continue;
    size_t n = std::min(path.size(), sizeof(slot.path) - 1);
    std::memcpy(slot.path, path.data(), n);
    slot.path[n] = '\0';
    slot.size.store(size, std::memory_order_relaxed);
    slot.begin.store(reinterpret_cast<uintptr_t>(data),
                     std::memory_order_release);
    return;
  }
}

void unguardMapping(const void *data) {
  if (!data)
    return;
  std::lock_guard<std::mutex> lock(registration);
  for (Slot &slot : slots)
    if (slot.begin.load(std::memory_order_relaxed) ==
        reinterpret_cast<uintptr_t>(data))
      slot.begin.store(0, std::memory_order_release);
}

} // namespace kiln
