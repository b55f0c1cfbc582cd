//===- CallBinding.cpp - one call's arguments bound to an entry -----------===//

#include "runtime/CallBinding.h"

#include "artifact/Artifact.h"
#include "runtime/DimExpr.h"
#include "runtime/ManifestChecks.h"
#include "runtime/Tensor.h"

#include "absl/strings/str_cat.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::rt {

using namespace artifact;

absl::StatusOr<CallBinding>
CallBinding::bind(const Artifact &artifact, const EntryT &entry,
                  const std::vector<Tensor> &arguments,
                  const CacheShape &cacheShape) {
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

  for (const auto &s : entry.symbols) {
    int64_t value = shapes[s->argument][s->dim];
    if (value > s->max)
      return absl::OutOfRangeError(absl::StrCat(
          entry.name, ": ", s->dim == 0 ? "batch " : "length ", value, " (dim ",
          s->dim, " of ", entry.arguments[s->argument]->name, ") exceeds the ",
          s->max, " this artifact was compiled for; recompile it for a larger ",
          s->dim == 0 ? "batch" : "sequence length"));
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
  return b;
}

absl::StatusOr<std::vector<int64_t>>
CallBinding::dimsOf(const BufferT &b) const {
  // Only a crafted manifest has dims that do not fit the storage.
  std::vector<int64_t> dims = evalDims(b.dims, symbols_);
  int64_t bytes = checkedBytes(dims, dtypeBytes(b.dtype));
  int64_t capacity = b.kind == BufferKind::Arena ? entry_->arena_bytes - b.index
                     : b.kind == BufferKind::Argument ? argBytes_[b.index]
                                                      : INT64_MAX;
  if (bytes < 0 || bytes > capacity)
    return damagedArtifact(*artifact_,
                           absl::StrCat("damaged: a buffer of ", entry_->name,
                                        " is ", formatDims(dims),
                                        ", larger than its storage"));
  return dims;
}

} // namespace kiln::rt
