//===- CallBinding.cpp - one call's arguments bound to an entry -----------===//

#include "runtime/CallBinding.h"

#include "artifact/Artifact.h"
#include "runtime/ArenaPlan.h"
#include "runtime/DimExpr.h"
#include "runtime/ManifestChecks.h"
#include "runtime/Tensor.h"
#include "support/Status.h"

#include "absl/strings/str_cat.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::rt {

using namespace artifact;

absl::StatusOr<CallBinding>
CallBinding::bind(const Artifact &artifact, const EntryT &entry,
                  const std::vector<Tensor> &arguments,
                  const CacheShape &cacheShape, ArenaPlans &plans) {
  CallBinding b;
  b.artifact_ = &artifact;
  b.entry_ = &entry;
  std::vector<std::vector<int64_t>> shapes(entry.arguments.size());
  size_t next = 0;
  for (size_t i = 0; i < entry.arguments.size(); ++i) {
    const ArgumentT &arg = *entry.arguments[i];
    if (isCache(arg.role)) {
      const std::vector<int64_t> *shape = cacheShape(arg.name);
      if (!shape)
        return absl::FailedPreconditionError(
            absl::StrCat(entry.name, ": the caches were not set up"));
      shapes[i] = *shape;
      b.caller_.push_back(-1);
      continue;
    }
    if (next >= arguments.size())
      return absl::InvalidArgumentError(
          absl::StrCat(entry.name, ": argument ", arg.name, " is missing"));
    const Tensor &t = arguments[next];
    if (t.dtype != arg.dtype || t.shape.size() != arg.dims.size())
      return absl::InvalidArgumentError(
          absl::StrCat(entry.name, ": argument ", arg.name, " must be ",
                       dtypeName(arg.dtype), " of rank ", arg.dims.size(),
                       ", got ", dtypeName(t.dtype), " ", formatDims(t.shape)));
    shapes[i] = t.shape;
    b.caller_.push_back(static_cast<int>(next++));
  }
  if (next != arguments.size())
    return absl::InvalidArgumentError(
        absl::StrCat(entry.name, ": too many arguments"));

  const auto &model = artifact.manifest().model;
  const int64_t positionLimit = model ? model->position_limit : 0;
  bool pastMaxima = false;
  for (const auto &s : entry.symbols) {
    int64_t value = shapes[s->argument][s->dim];
    if (s->dim != 0 && positionLimit > 0 && value > positionLimit)
      return absl::OutOfRangeError(absl::StrCat(
          entry.name, ": length ", value, " (dim ", s->dim, " of ",
          entry.arguments[s->argument]->name, ") exceeds the model's limit of ",
          positionLimit, " positions"));
    pastMaxima = pastMaxima || value > s->max;
    b.symbols_.push_back(value);
  }
  for (size_t i = 0; i < entry.arguments.size(); ++i) {
    std::vector<int64_t> expected =
        evalDims(entry.arguments[i]->dims, b.symbols_);
    if (expected != shapes[i])
      return absl::InvalidArgumentError(absl::StrCat(
          entry.name, ": argument ", entry.arguments[i]->name, " is ",
          formatDims(shapes[i]), ", expected ", formatDims(expected)));
    b.argBytes_.push_back(
        checkedBytes(shapes[i], dtypeBytes(entry.arguments[i]->dtype)));
  }
  // kilnc's layout holds every call up to the compiled maxima; past them
  // the arena is laid out again for this call's shapes.
  if (pastMaxima) {
    KILN_ASSIGN_OR_RETURN(b.plan_, plans.get(entry, b.symbols_));
  }
  return b;
}

absl::StatusOr<std::vector<int64_t>>
CallBinding::dimsOf(const BufferT &b) const {
  // Only a crafted manifest has dims that do not fit the storage.
  std::vector<int64_t> dims = evalDims(b.dims, symbols_);
  int64_t bytes = checkedBytes(dims, dtypeBytes(b.dtype));
  int64_t capacity =
      b.kind == BufferKind::Arena
          ? (plan_ ? plan_->capacity(b) : entry_->arena_bytes - b.index)
      : b.kind == BufferKind::Argument ? argBytes_[b.index]
                                       : INT64_MAX;
  if (bytes < 0 || bytes > capacity)
    return damagedArtifact(*artifact_,
                           absl::StrCat("damaged: a buffer of ", entry_->name,
                                        " is ", formatDims(dims),
                                        ", larger than its storage"));
  return dims;
}

int64_t CallBinding::arenaBytes() const {
  return plan_ ? plan_->bytes() : entry_->arena_bytes;
}

} // namespace kiln::rt
