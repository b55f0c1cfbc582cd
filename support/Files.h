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
#include <string_view>

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

/// Writes `path` whole or not at all: `write` fills a file in the same
/// folder (unnamed where the filesystem allows, else `PATH.partial`) that
/// replaces `path` (rename) only once every byte was written and synced. On
/// any failure, or if the process is killed, a previous `path` is left as it
/// was with no temporary file beside it, and the error names `path`.
absl::Status
writeFileAtomically(const std::string &path,
                    const std::function<absl::Status(int fd)> &write);

/// writeFileAtomically for bytes already in memory.
absl::Status writeFileAtomically(const std::string &path,
                                 std::string_view contents);

} // namespace kiln

#endif // KILN_SUPPORT_FILES_H
