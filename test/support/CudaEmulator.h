//===- CudaEmulator.h - running hand-written CUDA kernels on the CPU ------===//
//
// The runtime's own kernels (runtime/cuda/*.cu) must be checked in CI, where
// there is no GPU. Included before such a file, this header makes it plain
// C++: every GPU thread of a block becomes a fiber (ucontext) and the block's
// threads run interleaved on one CPU thread, switching at __syncthreads and
// at warp shuffles, so barriers and shuffles have their CUDA meaning. Blocks
// run one after another, which lets `__shared__` be `static`.
//
// It checks what a GPU would leave undefined and a test should catch: a
// __syncthreads that some threads of the block never reach, a full-mask
// shuffle with lanes missing, and deadlock. Each becomes the launch's error.
// It does not model memory ordering between blocks or timing; kernels that
// need inter-block communication within one launch are out of its scope.
//
// Only what the runtime's kernels use is provided.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_SUPPORT_CUDAEMULATOR_H
#define KILN_TEST_SUPPORT_CUDAEMULATOR_H

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <utility>

namespace kiln::emu {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

/// The calling fiber's coordinates.
const Dim3 &threadIndex();
const Dim3 &blockIndex();
const Dim3 &blockShape();
const Dim3 &gridShape();
/// The block's dynamic shared memory (the launch's sharedBytes).
void *dynamicShared();

void syncThreads();
/// Exchanges 8 bytes with lane `source` of the calling warp; every lane in
/// `mask` must call it.
uint64_t shuffle(unsigned mask, uint64_t value, int source);

/// Runs `body` once per thread of a grid of blocks. Returns "" or what went
/// wrong (see above).
std::string launch(Dim3 grid, Dim3 block, size_t sharedBytes,
                   const std::function<void()> &body);

template <typename T> T shflXor(unsigned mask, T value, int laneMask) {
  static_assert(sizeof(T) <= 8);
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  int lane = static_cast<int>(threadIndex().x % 32);
  bits = shuffle(mask, bits, lane ^ laneMask);
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

template <typename T> T shflIndex(unsigned mask, T value, int source) {
  static_assert(sizeof(T) <= 8);
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = shuffle(mask, bits, source % 32);
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

/// A kernel's launch: its parameters unpacked from the driver's `void **`
/// by the kernel's own signature, as cuLaunchKernel does.
using Launcher = std::function<std::string(Dim3 grid, Dim3 block,
                                           size_t sharedBytes, void **params)>;

template <typename... Args, size_t... I>
void callWith(void (*fn)(Args...), void **params, std::index_sequence<I...>) {
  fn(*static_cast<std::remove_reference_t<Args> *>(params[I])...);
}

template <typename... Args> Launcher launcher(void (*fn)(Args...)) {
  return [fn](Dim3 grid, Dim3 block, size_t sharedBytes, void **params) {
    return launch(grid, block, sharedBytes, [&] {
      callWith(fn, params, std::index_sequence_for<Args...>{});
    });
  };
}

} // namespace kiln::emu

// The CUDA spellings the kernels use.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__
#define __shared__ static
#define KILN_DYNAMIC_SHARED(type, name)                                        \
  type *name = static_cast<type *>(::kiln::emu::dynamicShared())
#define threadIdx (::kiln::emu::threadIndex())
#define blockIdx (::kiln::emu::blockIndex())
#define blockDim (::kiln::emu::blockShape())
#define gridDim (::kiln::emu::gridShape())
#define __syncthreads() ::kiln::emu::syncThreads()
#define __shfl_xor_sync(mask, value, laneMask)                                 \
  ::kiln::emu::shflXor(mask, value, laneMask)
#define __shfl_sync(mask, value, source)                                       \
  ::kiln::emu::shflIndex(mask, value, source)

using std::max;
using std::min;
inline float __expf(float x) { return std::exp(x); }
inline float __fdividef(float x, float y) { return x / y; }

#endif // KILN_TEST_SUPPORT_CUDAEMULATOR_H
