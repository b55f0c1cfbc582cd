//===- Files.cpp - reading the files of a model folder --------------------===//

#include "support/Files.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include <fstream>
#include <ios>
#include <sstream>
#include <string>
#include <sys/stat.h>

namespace kiln {

bool isRegularFile(const std::string &path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<std::string> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<nlohmann::json> readJsonObject(const std::string &path) {
  auto text = readFile(path);
  if (!text.ok())
    return text.status();
  nlohmann::json json =
      nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object())
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a JSON object"));
  return json;
}

} // namespace kiln
