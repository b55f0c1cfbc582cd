//===- CliErrors.cpp - library errors in the words of the command line ----===//

#include "tools/common/CliErrors.h"

#include "support/Status.h"

#include "absl/strings/match.h"

#include <map>

namespace kiln {

std::string cliMessage(const absl::Status &status) {
  // The request fields and the kiln-run / kiln-interpret flags that set
  // them.
  static const std::map<std::string, std::string> kFlags = {
      {"input_ids", "--input-ids"},
      {"token_type_ids", "--token-type-ids"},
      {"max_new_tokens", "--max-new-tokens"},
      {"temperature", "--temperature"},
      {"top_k", "--top-k"},
      {"top_p", "--top-p"},
      {"weights", "--weights"},
  };
  std::string message(status.message());
  std::optional<std::string> field = errorField(status);
  if (!field)
    return message;
  auto flag = kFlags.find(*field);
  if (flag == kFlags.end() || !absl::StartsWith(message, *field))
    return message;
  return flag->second + message.substr(field->size());
}

} // namespace kiln
