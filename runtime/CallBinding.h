//===- CallBinding.h - one call's arguments bound to an entry -------------===//
//
// Binds a call's tensors to an entry: the symbols' values, the dims of any
// buffer of the entry, checked against the buffer's storage, and where its
// arena buffers live: where kilnc put them, or, for a call past the batch
// or sequence the artifact was compiled for, where an ArenaPlan for the
// call's shapes puts them.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CALLBINDING_H
#define KILN_RUNTIME_CALLBINDING_H

#include "artifact/Artifact.h"
#include "runtime/ArenaPlan.h"
#include "runtime/Tensor.h"

#include "absl/status/statusor.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kiln::rt {

/// One call's arguments bound to an entry: symbols, and the dims of any
/// buffer, checked against the buffer's storage.
class CallBinding {
public:
  /// The shape of a cache argument by name, or null (caches not set up).
  using CacheShape =
      std::function<const std::vector<int64_t> *(const std::string &)>;
  /// A symbol past its compiled maximum takes a plan from `plans`; a
  /// sequence length is still refused past the model's position limit.
  static absl::StatusOr<CallBinding> bind(const Artifact &artifact,
                                          const artifact::EntryT &entry,
                                          const std::vector<Tensor> &arguments,
                                          const CacheShape &cacheShape,
                                          ArenaPlans &plans);

  const std::vector<int64_t> &symbols() const { return symbols_; }
  /// The caller's tensor feeding argument `i`, or -1 for a cache.
  int callerArgument(size_t i) const { return caller_[i]; }
  absl::StatusOr<std::vector<int64_t>>
  dimsOf(const artifact::BufferT &buffer) const;
  /// The arena bytes this call needs, and an arena buffer's offset in it.
  int64_t arenaBytes() const;
  int64_t arenaOffset(const artifact::BufferT &buffer) const {
    return plan_ ? plan_->offset(buffer) : buffer.index;
  }

private:
  const Artifact *artifact_ = nullptr;
  const artifact::EntryT *entry_ = nullptr;
  std::vector<int64_t> symbols_;
  std::vector<int64_t> argBytes_;
  std::vector<int> caller_;
  std::shared_ptr<const ArenaPlan> plan_; // null: kilnc's layout
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_CALLBINDING_H
