//===- ArenaPlan.cpp - an entry's arena laid out for one call's shapes ----===//

#include "runtime/ArenaPlan.h"

#include "artifact/Artifact.h"
#include "runtime/DimExpr.h"
#include "support/ArenaPacking.h"
#include "support/Status.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kiln::rt {

using namespace artifact;

absl::StatusOr<ArenaPlan> ArenaPlan::make(const EntryT &entry,
                                          const std::vector<int64_t> &symbols) {
  ArenaPlan plan;
  // Values in step order: the one last defined at each compiled offset.
  std::unordered_map<int64_t, size_t> current;
  auto use = [&](const BufferT &b, int64_t step, bool define) -> absl::Status {
    if (b.kind != BufferKind::Arena)
      return absl::OkStatus();
    int64_t bytes =
        checkedBytes(evalDims(b.dims, symbols), dtypeBytes(b.dtype));
    // A byte count that overflows, or one past what an allocation could
    // hold once aligned, cannot be laid out.
    if (bytes < 0 || bytes > INT64_MAX / 4)
      return absl::OutOfRangeError(absl::StrCat(
          entry.name, ": a buffer would be ",
          formatDims(evalDims(b.dims, symbols)), ", too large to allocate"));
    auto it = current.find(b.index);
    if (define || it == current.end()) {
      // An operand nothing defined (only a crafted step list has one)
      // gets a value of its own.
      it = current.insert_or_assign(b.index, plan.values_.size()).first;
      plan.values_.push_back({0, step, step, 0});
    }
    Value &v = plan.values_[it->second];
    v.bytes = std::max(v.bytes, bytes);
    v.last = std::max(v.last, step);
    plan.valueOf_[&b] = it->second;
    return absl::OkStatus();
  };
  const int64_t end = static_cast<int64_t>(entry.steps.size());
  for (int64_t i = 0; i < end; ++i) {
    const StepT &step = *entry.steps[i];
    for (const auto &b : step.operands)
      if (b)
        KILN_RETURN_IF_ERROR(use(*b, i, /*define=*/false));
    for (const auto &b : step.results)
      if (b)
        KILN_RETURN_IF_ERROR(use(*b, i, /*define=*/true));
  }
  for (const auto &r : entry.results)
    if (r->buffer)
      KILN_RETURN_IF_ERROR(use(*r->buffer, end, /*define=*/false));

  std::vector<ArenaBuffer> buffers;
  for (const Value &v : plan.values_)
    buffers.push_back({v.bytes, v.first, v.last});
  plan.bytes_ = packArena(buffers);
  if (plan.bytes_ < 0)
    return absl::OutOfRangeError(absl::StrCat(
        entry.name,
        ": the arena would be too large to allocate for this call"));
  for (size_t i = 0; i < buffers.size(); ++i)
    plan.values_[i].offset = buffers[i].offset;
  return plan;
}

int64_t ArenaPlan::offset(const BufferT &buffer) const {
  auto it = valueOf_.find(&buffer);
  return it == valueOf_.end() ? -1 : values_[it->second].offset;
}

int64_t ArenaPlan::capacity(const BufferT &buffer) const {
  auto it = valueOf_.find(&buffer);
  return it == valueOf_.end() ? 0 : values_[it->second].bytes;
}

absl::StatusOr<std::shared_ptr<const ArenaPlan>>
ArenaPlans::get(const EntryT &entry, const std::vector<int64_t> &symbols) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto key = std::make_pair(entry.name, symbols);
  auto found = plans_.find(key);
  if (found != plans_.end())
    return found->second;
  KILN_ASSIGN_OR_RETURN(ArenaPlan plan, ArenaPlan::make(entry, symbols));
  if (plans_.size() >= kMaxPlans)
    plans_.clear();
  auto shared = std::make_shared<const ArenaPlan>(std::move(plan));
  plans_.emplace(std::move(key), shared);
  return shared;
}

} // namespace kiln::rt
