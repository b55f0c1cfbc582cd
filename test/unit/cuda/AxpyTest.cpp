//===- AxpyTest.cpp - runs the sm_90 kernel where a GPU is ----------------===//
//
// Without a GPU (no driver, or no device) the test reports SKIPPED, never
// passed.
//
//===----------------------------------------------------------------------===//

#include "test/unit/cuda/Axpy.h"

#include <gtest/gtest.h>

#include <vector>

namespace {

TEST(CudaBuild, AxpyRunsOnSm90) {
  int devices = 0;
  cudaError_t err = cudaGetDeviceCount(&devices);
  if (err != cudaSuccess || devices == 0)
    GTEST_SKIP() << "no CUDA device: " << cudaGetErrorString(err);

  const int n = 1000;
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) {
    x[i] = 0.5f * i;
    y[i] = 3.0f - i;
  }
  std::vector<float> expected(n);
  for (int i = 0; i < n; ++i)
    expected[i] = 2.0f * x[i] + y[i];
  ASSERT_EQ(kiln::test::axpyOnDevice(2.0f, x.data(), y.data(), n), cudaSuccess);
  for (int i = 0; i < n; ++i)
    EXPECT_FLOAT_EQ(y[i], expected[i]) << "at " << i;
}

} // namespace
