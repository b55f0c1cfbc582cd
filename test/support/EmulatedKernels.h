//===- EmulatedKernels.h - the runtime's CUDA kernels, run on the CPU -----===//
//
// runtime/cuda/Kernels.cu compiled against test/support/CudaEmulator.h,
// found by symbol as cuModuleGetFunction finds them. Kept behind this plain
// interface so that the emulator's CUDA spellings (threadIdx, __shared__,
// ...) stay inside one translation unit.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_SUPPORT_EMULATEDKERNELS_H
#define KILN_TEST_SUPPORT_EMULATEDKERNELS_H

#include <cstddef>
#include <functional>
#include <string>

namespace kiln::test {

struct EmulatedKernel {
  std::string name;
  size_t arity = 0; // parameters of the kernel's signature
  /// Runs the kernel over the grid; returns "" or what went wrong.
  std::function<std::string(const unsigned grid[3], const unsigned block[3],
                            size_t sharedBytes, void **params)>
      launch;
};

/// The kernel named `name`, or null.
const EmulatedKernel *emulatedKernel(const std::string &name);
/// Whether `p` is one of the kernels emulatedKernel returns.
bool isEmulatedKernel(const void *p);

} // namespace kiln::test

#endif // KILN_TEST_SUPPORT_EMULATEDKERNELS_H
