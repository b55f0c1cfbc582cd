//===- Axpy.cu - a CUDA kernel that proves the sm_90 build path -----------===//
//
// Compiled by nvcc for sm_90 (SASS) plus PTX whenever configure finds a CUDA
// toolkit, so the CUDA build path is exercised on every machine; the test
// that launches it runs only where a GPU is.
//
//===----------------------------------------------------------------------===//

#include "test/unit/cuda/Axpy.h"

#include <cuda_runtime.h>

namespace {
__global__ void axpyKernel(float a, const float *x, float *y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    y[i] = a * x[i] + y[i];
}
} // namespace

#define KILN_RETURN_IF_CUDA_ERROR(expr)                                        \
  do {                                                                         \
    cudaError_t err = (expr);                                                  \
    if (err != cudaSuccess)                                                    \
      return err;                                                              \
  } while (0)

cudaError_t kiln::test::axpyOnDevice(float a, const float *x, float *y, int n) {
  size_t bytes = sizeof(float) * n;
  float *dx = nullptr, *dy = nullptr;
  KILN_RETURN_IF_CUDA_ERROR(cudaMalloc(&dx, bytes));
  KILN_RETURN_IF_CUDA_ERROR(cudaMalloc(&dy, bytes));
  KILN_RETURN_IF_CUDA_ERROR(cudaMemcpy(dx, x, bytes, cudaMemcpyHostToDevice));
  KILN_RETURN_IF_CUDA_ERROR(cudaMemcpy(dy, y, bytes, cudaMemcpyHostToDevice));
  axpyKernel<<<(n + 255) / 256, 256>>>(a, dx, dy, n);
  KILN_RETURN_IF_CUDA_ERROR(cudaGetLastError());
  KILN_RETURN_IF_CUDA_ERROR(cudaMemcpy(y, dy, bytes, cudaMemcpyDeviceToHost));
  KILN_RETURN_IF_CUDA_ERROR(cudaFree(dx));
  return cudaFree(dy);
}
