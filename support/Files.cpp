//===- Files.cpp - reading the files of a model folder --------------------===//

#include "support/Files.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <ios>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

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

absl::Status writeAll(int fd, const void *data, size_t size) {
  const char *p = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return absl::InternalError(std::strerror(errno));
    }
    p += n;
    size -= n;
  }
  return absl::OkStatus();
}

namespace {

/// The folder `path` lies in ("." for a bare name).
std::string folderOf(const std::string &path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// Gives the unnamed file `fd` (O_TMPFILE) the name `temporary`, replacing a
/// stale one a killed writer left there.
absl::Status linkUnnamed(int fd, const std::string &temporary) {
  std::string self = absl::StrCat("/proc/self/fd/", fd);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, temporary.c_str(),
                 AT_SYMLINK_FOLLOW) == 0)
      return absl::OkStatus();
    if (errno != EEXIST)
      break;
    ::unlink(temporary.c_str());
  }
  return absl::InternalError(std::strerror(errno));
}

} // namespace

absl::Status
writeFileAtomically(const std::string &path,
                    const std::function<absl::Status(int fd)> &write) {
  std::string temporary = path + ".partial";
  // The bytes go to an unnamed file in the destination's folder (O_TMPFILE)
  // and get a name only once complete: a writer killed mid-write (SIGKILL,
  // a file-size limit) leaves no partial file behind, only the previous
  // `path`. Filesystems without O_TMPFILE, or a system without /proc to
  // link it through, get a named `PATH.partial` instead, removed on error.
  int fd = -1;
  if (::access("/proc/self/fd", X_OK) == 0)
    fd = ::open(folderOf(path).c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
  const bool unnamed = fd >= 0;
  if (!unnamed)
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                0644);
  if (fd < 0)
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
  absl::Status status = write(fd);
  // fsync before the rename, so that a crash of the machine cannot leave
  // `path` naming a file whose bytes never reached the disk.
  if (status.ok() && ::fsync(fd) != 0)
    status = absl::InternalError(std::strerror(errno));
  if (status.ok() && unnamed)
    status = linkUnnamed(fd, temporary);
  if (::close(fd) != 0 && status.ok())
    status = absl::InternalError(std::strerror(errno));
  if (status.ok() && std::rename(temporary.c_str(), path.c_str()) != 0)
    status = absl::InternalError(std::strerror(errno));
  if (!status.ok()) {
    ::unlink(temporary.c_str());
    return absl::Status(status.code(), absl::StrCat(path, ": cannot write: ",
                                                    status.message()));
  }
  return absl::OkStatus();
}

absl::Status writeFileAtomically(const std::string &path,
                                 std::string_view contents) {
  return writeFileAtomically(path, [&](int fd) {
    return writeAll(fd, contents.data(), contents.size());
  });
}

} // namespace kiln
