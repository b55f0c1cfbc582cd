//===- Status.cpp - errors about one field of a request -------------------===//

#include "support/Status.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

#include <optional>
#include <string>

namespace kiln {

namespace {
constexpr char kFieldPayload[] = "kiln.dev/field";
} // namespace

absl::Status fieldError(absl::string_view field, absl::string_view what,
                        absl::StatusCode code) {
  absl::Status status(code, absl::StrCat(field, ": ", what));
  status.SetPayload(kFieldPayload, absl::Cord(field));
  return status;
}

std::optional<std::string> errorField(const absl::Status &status) {
  auto field = status.GetPayload(kFieldPayload);
  if (!field)
    return std::nullopt;
  return std::string(*field);
}

} // namespace kiln
