//===- FuzzInput.h - a fuzz input as the file the readers open ------------===//
//
// Kiln's readers of untrusted bytes open files (they map them), so each
// fuzz input is written to one file per process and read back through the
// same entry point a user's file goes through.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_FUZZ_FUZZINPUT_H
#define KILN_TEST_FUZZ_FUZZINPUT_H

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace kiln::fuzz {

/// `data` as the file `name` in a per-process folder under $TMPDIR (or
/// /tmp); the path.
inline std::string asFile(const uint8_t *data, size_t size,
                          const std::string &name) {
  static const std::string dir = [] {
    const char *tmp = std::getenv("TMPDIR");
    std::string d = std::string(tmp ? tmp : "/tmp") + "/kiln-fuzz-" +
                    std::to_string(::getpid());
    std::string mkdir = "mkdir -p '" + d + "'";
    if (std::system(mkdir.c_str()) != 0)
      std::abort();
    return d;
  }();
  std::string path = dir + "/" + name;
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    std::abort();
  if (size && std::fwrite(data, 1, size, f) != size)
    std::abort();
  std::fclose(f);
  return path;
}

} // namespace kiln::fuzz

#endif // KILN_TEST_FUZZ_FUZZINPUT_H
