//===- IdLists.h - token ids on the command line --------------------------===//
//
// kiln-run's and kiln-interpret's --input-ids / --token-type-ids syntax:
// "1,2,3;4,5" is two sequences. No LLVM: kiln-run links it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TOOLS_COMMON_IDLISTS_H
#define KILN_TOOLS_COMMON_IDLISTS_H

#include "absl/status/statusor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

/// Parses "1,2,3;4,5" into sequences of ids; `flag` names the option in
/// the error.
absl::StatusOr<std::vector<std::vector<int64_t>>>
parseIdLists(const std::string &text, const std::string &flag);

} // namespace kiln

#endif // KILN_TOOLS_COMMON_IDLISTS_H
