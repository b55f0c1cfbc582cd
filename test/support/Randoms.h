//===- Randoms.h - normally distributed test data (tests) -----------------===//
//
// N(0, 1) floats from a generator the test seeds (a fixed seed for a
// reproducible case, a random one printed on failure).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_SUPPORT_RANDOMS_H
#define KILN_TEST_SUPPORT_RANDOMS_H

#include <cstdint>
#include <random>
#include <vector>

namespace kiln::test {

inline std::vector<float> normalRandoms(int64_t n, std::mt19937 &gen) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = normal(gen);
  return v;
}

} // namespace kiln::test

#endif // KILN_TEST_SUPPORT_RANDOMS_H
