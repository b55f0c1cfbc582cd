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

#endif // KILN_SUPPORT_STATUS_H
