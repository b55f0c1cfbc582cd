//===- Files.h - reading the files of a model folder ----------------------===//
//
// The few file helpers the readers and writers share (no LLVM: the runtime
// links them).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_FILES_H
#define KILN_SUPPORT_FILES_H

#include "absl/status/statusor.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <string>

namespace kiln {

/// Whether `path` names a regular file.
bool isRegularFile(const std::string &path);

/// The whole content of `path`, or NotFound naming it.
absl::StatusOr<std::string> readFile(const std::string &path);

/// `path` parsed as a JSON object, or an error naming the file.
absl::StatusOr<nlohmann::json> readJsonObject(const std::string &path);

/// All `size` bytes of `data` to `fd` (retrying short and interrupted
/// writes), or the error.
absl::Status writeAll(int fd, const void *data, size_t size);

/// Writes `path` whole or not at all: `write` fills `PATH.partial` in the
/// same folder, which replaces `path` (rename) only once every byte was
/// written and the file closed. On any failure the partial file is removed,
/// a previous `path` is left as it was, and the error names `path`.
absl::Status
writeFileAtomically(const std::string &path,
                    const std::function<absl::Status(int fd)> &write);

} // namespace kiln

#endif // KILN_SUPPORT_FILES_H
