//===- npy-diff.cpp - compare two float32 .npy files ----------------------===//
//
//   npy-diff GOT.npy EXPECTED.npy [--rtol 1e-4] [--lengths 7,4]
//
// Prints the relative norm error ||got - expected|| / ||expected|| and exits
// 1 when it exceeds --rtol, when the shapes differ, or when GOT holds NaN or
// infinity. With --lengths, arrays whose dim 1 is the padded sequence
// length skip the positions past each sequence's length (padding is never
// compared; test/support/Golden.h). A test utility: lets lit tests check tools'
// .npy outputs against the golden fixtures without Python.
//
//===----------------------------------------------------------------------===//

#include "support/Npy.h"
#include "test/support/Golden.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: npy-diff GOT.npy EXPECTED.npy [--rtol R] "
                         "[--lengths L0,L1,...]\n");
    return 2;
  }
  double rtol = 1e-4;
  std::vector<int64_t> lengths;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rtol")) {
      rtol = std::atof(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--lengths")) {
      std::stringstream list(argv[i + 1]);
      std::string item;
      while (std::getline(list, item, ','))
        lengths.push_back(std::atoll(item.c_str()));
    }
  }
  auto got = kiln::readNpy(argv[1]);
  auto expected = kiln::readNpy(argv[2]);
  if (!got.ok() || !expected.ok()) {
    std::fprintf(
        stderr, "npy-diff: %s\n",
        std::string((!got.ok() ? got : expected).status().message()).c_str());
    return 1;
  }
  if (got->shape != expected->shape) {
    std::fprintf(stderr, "npy-diff: shapes differ\n");
    return 1;
  }
  bool finite = true;
  double relative = kiln::test::relativeErrorExcludingPadding(
      expected->shape, got->values, expected->values, lengths, finite);
  if (!finite) {
    std::fprintf(stderr, "npy-diff: %s holds NaN or infinity\n", argv[1]);
    return 1;
  }
  std::printf("relative error %.3g (tolerance %.3g)\n", relative, rtol);
  return relative <= rtol ? 0 : 1;
}
