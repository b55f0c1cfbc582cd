//===- EmulatedKernels.cpp - the runtime's CUDA kernels, run on the CPU ---===//

#include "test/support/EmulatedKernels.h"

#include "test/support/CudaEmulator.h"

#include "runtime/cuda/Kernels.cu"

#include <vector>

namespace kiln::test {

namespace {

template <typename... Args>
EmulatedKernel make(const char *name, void (*fn)(Args...)) {
  EmulatedKernel k;
  k.name = name;
  k.arity = sizeof...(Args);
  emu::Launcher run = emu::launcher(fn);
  k.launch = [run](const unsigned grid[3], const unsigned block[3],
                   size_t sharedBytes, void **params) {
    return run({grid[0], grid[1], grid[2]}, {block[0], block[1], block[2]},
               sharedBytes, params);
  };
  return k;
}

const std::vector<EmulatedKernel> &all() {
  static const std::vector<EmulatedKernel> kernels = {
      make("kiln_cache_write", kiln_cache_write),
      make("kiln_attention", kiln_attention),
      make("kiln_decode_attention", kiln_decode_attention),
      make("kiln_decode_combine", kiln_decode_combine),
      make("kiln_gemm_epilogue", kiln_gemm_epilogue),
      make("kiln_narrow", kiln_narrow),
      make("kiln_norm", kiln_norm),
      make("kiln_quant_gemv", kiln_quant_gemv),
      make("kiln_dequantize", kiln_dequantize),
      make("kiln_quantize_rows", kiln_quantize_rows),
      make("kiln_int8_gemm", kiln_int8_gemm),
      make("kiln_int8_epilogue", kiln_int8_epilogue),
      make("kiln_widen_epilogue", kiln_widen_epilogue),
      make("kiln_rank_share", kiln_rank_share),
  };
  return kernels;
}

} // namespace

const EmulatedKernel *emulatedKernel(const std::string &name) {
  for (const EmulatedKernel &k : all())
    if (k.name == name)
      return &k;
  return nullptr;
}

bool isEmulatedKernel(const void *p) {
  for (const EmulatedKernel &k : all())
    if (&k == p)
      return true;
  return false;
}

} // namespace kiln::test
