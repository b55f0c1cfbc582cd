//===- Status.h - early returns on absl::Status ---------------------------===//
//
// The runtime's (and the libraries below it) one way to pass an error up:
//
//   KILN_RETURN_IF_ERROR(check(api.memAlloc(&p, n), "allocating ..."));
//   KILN_ASSIGN_OR_RETURN(auto plan, planGemm(step, binding));
//
// return the status from the enclosing function when it is not OK; the
// second declares `plan` as the value otherwise.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_STATUS_H
#define KILN_SUPPORT_STATUS_H

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

#include <optional>
#include <string>
#include <utility>

#define KILN_RETURN_IF_ERROR(expr)                                             \
  do {                                                                         \
    if (::absl::Status kilnStatus = (expr); !kilnStatus.ok())                  \
      return kilnStatus;                                                       \
  } while (false)

#define KILN_STATUS_CONCAT_(a, b) a##b
#define KILN_STATUS_CONCAT(a, b) KILN_STATUS_CONCAT_(a, b)
#define KILN_ASSIGN_OR_RETURN(lhs, expr)                                       \
  KILN_ASSIGN_OR_RETURN_(KILN_STATUS_CONCAT(kilnStatusOr, __LINE__), lhs, expr)
#define KILN_ASSIGN_OR_RETURN_(statusOr, lhs, expr)                            \
  auto statusOr = (expr);                                                      \
  if (!statusOr.ok())                                                          \
    return statusOr.status();                                                  \
  lhs = std::move(*statusOr)

namespace kiln {

/// An error about one field of a request or of options, named as the
/// library's API names it ("input_ids", "max_new_tokens", "weights", ...):
/// the message reads "<field>: <what>", and the field also travels as a
/// payload of the status, so a command-line tool can name its own flag
/// instead (tools/common/CliErrors.h). Libraries never name flags.
absl::Status
fieldError(absl::string_view field, absl::string_view what,
           absl::StatusCode code = absl::StatusCode::kInvalidArgument);

/// The field a fieldError names, if `status` is one.
std::optional<std::string> errorField(const absl::Status &status);

} // namespace kiln

#endif // KILN_SUPPORT_STATUS_H
