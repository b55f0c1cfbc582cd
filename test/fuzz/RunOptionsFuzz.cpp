//===- RunOptionsFuzz.cpp - kiln-run's option parser on any command line --===//
//
// The input is a command line, one argument per line (argv[0] is
// "kiln-run"). Every command line must give options whose ranges hold or
// one error message: no crash, no exit, no exception.
//
//===----------------------------------------------------------------------===//

#include "tools/kiln-run/RunOptions.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  std::vector<std::string> args = {"kiln-run"};
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    args.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  std::vector<const char *> argv;
  for (const std::string &a : args)
    argv.push_back(a.c_str());
  kiln::RunOptions o;
  std::string error =
      kiln::parseRunOptions(static_cast<int>(argv.size()), argv.data(), o);
  if (!error.empty() || o.help)
    return 0;
  // Accepted options are in range.
  if (o.device != "cpu" && o.device != "cuda")
    __builtin_trap();
  if (o.warmup < 0 || o.iters < 1 || o.threads < 0 || o.threads > 1024 ||
      o.ranks < 1 || o.ranks > 1024)
    __builtin_trap();
  if (o.sampling.greedy == o.sample)
    __builtin_trap();
  return 0;
}
