//===- CliErrors.h - library errors in the words of the command line ------===//
//
// The runtime and the compiler name what a caller got wrong by their API's
// field names (support/Status.h, fieldError): "input_ids: sequence 1 is
// empty". A command-line tool prints them with its own flag instead:
// "--input-ids: sequence 1 is empty".
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TOOLS_COMMON_CLIERRORS_H
#define KILN_TOOLS_COMMON_CLIERRORS_H

#include "absl/status/status.h"

#include <string>

namespace kiln {

/// `status`'s message, its field (when it names one) spelled as the flag
/// that sets it.
std::string cliMessage(const absl::Status &status);

} // namespace kiln

#endif // KILN_TOOLS_COMMON_CLIERRORS_H
