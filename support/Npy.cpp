//===- Npy.cpp - NumPy .npy files (float32, C order) ----------------------===//
//
// Format 1.0: "\x93NUMPY", version 1.0, a little-endian u16 header length,
// a Python dict literal padded with spaces and a newline so that the data
// starts at a multiple of 64 bytes, then the raw values.
//
//===----------------------------------------------------------------------===//

#include "support/Npy.h"

#include "support/Files.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace kiln {

absl::Status writeNpy(const std::string &path,
                      const std::vector<int64_t> &shape,
                      const std::vector<float> &values) {
  std::string dims;
  for (int64_t d : shape)
    absl::StrAppend(&dims, d, ",");
  if (shape.size() > 1)
    dims.pop_back(); // (n,) for rank 1, (a,b) otherwise
  std::string header = absl::StrCat(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (", dims, "), }");
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');

  // Whole or not at all: an error leaves no partial .npy where a good one
  // was (kiln-run, kiln-interpret).
  const char magic[] = "\x93NUMPY\x01\x00";
  uint16_t length = static_cast<uint16_t>(header.size());
  const char lengthBytes[2] = {static_cast<char>(length & 0xff),
                               static_cast<char>(length >> 8)};
  return writeFileAtomically(path, [&](int fd) {
    absl::Status s = writeAll(fd, magic, 8);
    if (s.ok())
      s = writeAll(fd, lengthBytes, 2);
    if (s.ok())
      s = writeAll(fd, header.data(), header.size());
    if (s.ok())
      s = writeAll(fd, values.data(), values.size() * sizeof(float));
    return s;
  });
}

absl::StatusOr<NpyArray> readNpy(const std::string &path) {
  auto content = readFile(path);
  if (!content.ok())
    return content.status();
  const std::string &bytes = *content;
  auto bad = [&](const std::string &why) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a float32 .npy file: ", why));
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    return bad("bad magic");
  if (bytes[6] != 1)
    return bad("only format version 1.0 is read");
  size_t headerLength =
      static_cast<uint8_t>(bytes[8]) |
      (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
  if (10 + headerLength > bytes.size())
    return bad("header runs past the end");
  std::string header = bytes.substr(10, headerLength);
  if (header.find("'descr': '<f4'") == std::string::npos)
    return bad("dtype is not '<f4'");
  if (header.find("'fortran_order': False") == std::string::npos)
    return bad("not C order");
  size_t open = header.find("'shape': (");
  size_t close = header.find(')', open);
  if (open == std::string::npos || close == std::string::npos)
    return bad("no shape");
  NpyArray array;
  std::string dims = header.substr(open + 10, close - open - 10);
  for (absl::string_view part : absl::StrSplit(dims, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty())
      continue;
    int64_t d;
    if (!absl::SimpleAtoi(part, &d) || d < 0)
      return bad("bad shape");
    array.shape.push_back(d);
  }
  // The element count, without overflow: a shape that needs more floats
  // than the file holds is refused before any product can wrap.
  size_t dataStart = 10 + headerLength;
  const size_t available = (bytes.size() - dataStart) / sizeof(float);
  size_t count = 1;
  for (int64_t d : array.shape) {
    if (d != 0 && count > available / static_cast<size_t>(d)) {
      count = available + 1;
      break;
    }
    count *= static_cast<size_t>(d);
  }
  if (bytes.size() - dataStart != count * sizeof(float))
    return bad("data size does not match the shape");
  array.values.resize(count);
  if (count)
    std::memcpy(array.values.data(), bytes.data() + dataStart,
                count * sizeof(float));
  return array;
}

} // namespace kiln
