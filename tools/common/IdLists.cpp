//===- IdLists.cpp - token ids on the command line ------------------------===//

#include "tools/common/IdLists.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kiln {

absl::StatusOr<std::vector<std::vector<int64_t>>>
parseIdLists(const std::string &text, const std::string &flag) {
  std::vector<std::vector<int64_t>> lists;
  for (absl::string_view sequence : absl::StrSplit(text, ';')) {
    std::vector<int64_t> ids;
    for (absl::string_view item : absl::StrSplit(sequence, ',')) {
      item = absl::StripAsciiWhitespace(item);
      int64_t id;
      if (!absl::SimpleAtoi(item, &id))
        return absl::InvalidArgumentError(
            absl::StrCat(flag, ": '", item,
                         "' is not an integer (expected e.g. 1,2,3;4,5)"));
      ids.push_back(id);
    }
    lists.push_back(std::move(ids));
  }
  return lists;
}

} // namespace kiln
