//===- Status.h - early returns on absl::Status ---------------------------===//
//
// The runtime's (and the libraries below it) one way to pass an error up:
//
//   KILN_RETURN_IF_ERROR(check(api.memAlloc(&p, n), "allocating ..."));
//
// returns the status from the enclosing function when it is not OK.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_STATUS_H
#define KILN_SUPPORT_STATUS_H

#include "absl/status/status.h"

#define KILN_RETURN_IF_ERROR(expr)                                             \
  do {                                                                         \
    if (::absl::Status kilnStatus = (expr); !kilnStatus.ok())                  \
      return kilnStatus;                                                       \
  } while (false)

#endif // KILN_SUPPORT_STATUS_H
