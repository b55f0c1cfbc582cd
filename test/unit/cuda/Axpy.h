//===- Axpy.h - a CUDA kernel that proves the sm_90 build path ------------===//
#ifndef KILN_TEST_UNIT_CUDA_AXPY_H
#define KILN_TEST_UNIT_CUDA_AXPY_H

#include <cuda_runtime_api.h>

namespace kiln::test {
/// y[i] = a * x[i] + y[i] on the current device, for host arrays of n floats.
cudaError_t axpyOnDevice(float a, const float *x, float *y, int n);
} // namespace kiln::test

#endif // KILN_TEST_UNIT_CUDA_AXPY_H
