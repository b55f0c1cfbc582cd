//===- ArenaPlan.h - an entry's arena laid out for one call's shapes ------===//
//
// kilnc packs an entry's intermediate buffers into one arena sized for the
// batch and sequence it was compiled for (--max-batch, --max-seq). A call
// past those maxima does not need a recompile: the step list gives every
// buffer's dims as expressions over the entry's symbols, so the runtime
// packs the same buffers again at the call's own sizes. The compiled
// maxima become a preallocation hint.
//
// The artifact names arena buffers by offset, not by value: a step result
// defines a value at its offset, and an operand at an offset reads the
// value last defined there (kilnc never lets two live values overlap, so
// that is the value it meant). Each value lives from its defining step to
// its last reader (the entry's results to the end) and is placed as kilnc's
// kiln-plan-memory places it (support/ArenaPacking.h, the same code).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_ARENAPLAN_H
#define KILN_RUNTIME_ARENAPLAN_H

#include "artifact/Artifact.h"

#include "absl/status/statusor.h"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kiln::rt {

/// An entry's arena packed for one call's symbol values.
class ArenaPlan {
public:
  /// Lays out `entry`'s arena for `symbols` (the entry's symbol values).
  /// Fails with a clear error if a buffer's bytes do not fit in int64.
  static absl::StatusOr<ArenaPlan> make(const artifact::EntryT &entry,
                                        const std::vector<int64_t> &symbols);

  /// The arena bytes the call needs.
  int64_t bytes() const { return bytes_; }
  /// Where an arena buffer of the entry lives, and the bytes it may use.
  int64_t offset(const artifact::BufferT &buffer) const;
  int64_t capacity(const artifact::BufferT &buffer) const;

private:
  struct Value {
    int64_t bytes = 0, first = 0, last = 0, offset = 0;
  };
  int64_t bytes_ = 0;
  std::vector<Value> values_;
  std::unordered_map<const artifact::BufferT *, size_t> valueOf_;
};

/// The plans an executor made, per (entry, symbol values); a few are kept
/// (a generation reuses one shape per step), shared with the bindings that
/// use them. Safe to call from several threads.
class ArenaPlans {
public:
  absl::StatusOr<std::shared_ptr<const ArenaPlan>>
  get(const artifact::EntryT &entry, const std::vector<int64_t> &symbols);

private:
  static constexpr size_t kMaxPlans = 16;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::vector<int64_t>>,
           std::shared_ptr<const ArenaPlan>>
      plans_;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_ARENAPLAN_H
