//===- Files.h - reading the files of a model folder ----------------------===//
//
// The few file helpers the readers share (no LLVM: the runtime links them).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_FILES_H
#define KILN_SUPPORT_FILES_H

#include "absl/status/statusor.h"

#include <nlohmann/json.hpp>

#include <string>

namespace kiln {

/// Whether `path` names a regular file.
bool isRegularFile(const std::string &path);

/// The whole content of `path`, or NotFound naming it.
absl::StatusOr<std::string> readFile(const std::string &path);

/// `path` parsed as a JSON object, or an error naming the file.
absl::StatusOr<nlohmann::json> readJsonObject(const std::string &path);

} // namespace kiln

#endif // KILN_SUPPORT_FILES_H
