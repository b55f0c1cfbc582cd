//===- CudaLaunch.h - launches of the runtime's own CUDA kernels ----------===//
//
// What the CUDA executor launches of its own kernels (attention, cache
// writes, norms, gemm epilogues, narrowing, gemms on quantized weights), as
// data: which of
// runtime/cuda/Kernels.cu's kernels, its grid, its dynamic shared memory
// and its parameters packed as cuLaunchKernel takes them. Kept apart from the
// executor so that a test runs the very same launches through the CPU
// emulator of those kernels (test/support/CudaEmulator.h).
//
// Attention paths: a step with one query row (decode, or T5's decoder against
// the encoder) takes flash-decoding (kiln_decode_attention split along the
// keys, then kiln_decode_combine); every other step takes the tiled
// kiln_attention. Both are fp32.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_CUDALAUNCH_H
#define KILN_RUNTIME_CUDALAUNCH_H

#include "runtime/CudaDriver.h"
#include "runtime/StepPlan.h"
#include "support/Quantize.h"

#include "absl/status/statusor.h"

#include <cstring>
#include <vector>

namespace kiln::rt {

enum class OwnKernel {
  CacheWrite,
  Attention,
  DecodeAttention,
  DecodeCombine,
  GemmEpilogue,
  Narrow,
  Norm,
  QuantGemv,
  Dequantize,
  QuantizeRows,
  Int8Gemm,
  Int8Epilogue,
  WidenEpilogue,
  RankShare
};
inline constexpr int kOwnKernelCount = 14;
/// The kernel's symbol in the fatbin.
const char *ownKernelName(OwnKernel kernel);

/// Threads per block of every launch here.
inline constexpr unsigned kOwnKernelThreads = 256;

/// One kernel launch; params() gives cuLaunchKernel's `void **`.
class KernelLaunch {
public:
  OwnKernel kernel = OwnKernel::Attention;
  unsigned grid[3] = {1, 1, 1};
  size_t sharedBytes = 0;

  template <typename T> KernelLaunch &add(T value) {
    static_assert(sizeof(T) <= 8);
    uint64_t slot = 0;
    std::memcpy(&slot, &value, sizeof(T));
    slots_.push_back(slot);
    return *this;
  }
  void **params() {
    pointers_.clear();
    for (uint64_t &slot : slots_)
      pointers_.push_back(&slot);
    return pointers_.data();
  }
  size_t paramCount() const { return slots_.size(); }

private:
  std::vector<uint64_t> slots_;
  std::vector<void *> pointers_;
};

/// An attention step's device buffers (0 where absent) and plan.
struct DeviceAttention {
  AttentionPlan plan;
  CUdeviceptr q = 0, k = 0, v = 0, out = 0;
  CUdeviceptr positions = 0, mask = 0, bias = 0;
  bool widePositions = true;
  int maskKind = 0; // 1 i8/i1, 2 i32, 3 i64, 4 f32
};

/// kiln_cache_write of `rows` ([batch, count, width]) into `cache`.
KernelLaunch cacheWriteLaunch(CUdeviceptr cache, CUdeviceptr rows,
                              CUdeviceptr positions, bool widePositions,
                              int64_t batch, int64_t count, int64_t maxSeq,
                              int64_t width);

/// kiln_gemm_epilogue over C's `rows` x `n` (bias, residual: 0 for none;
/// activation as artifact::Activation).
KernelLaunch gemmEpilogueLaunch(CUdeviceptr c, CUdeviceptr bias,
                                CUdeviceptr residual, int64_t rows, int64_t n,
                                int activation);

/// A quantized weight (kilnc --quantize) on the device, in
/// support/Quantize.h's layout; `invSmooth` 1 / SmoothQuant's factors (W8A8
/// only, 0 for none).
struct DeviceQuantWeight {
  QuantFormat format;
  CUdeviceptr values = 0, scales = 0, invSmooth = 0;
  int actBits = 0; // 8: W8A8
};

/// A gemm step's epilogue on the device (0 for absent buffers; activation
/// as artifact::Activation).
struct DeviceEpilogue {
  CUdeviceptr bias = 0, residual = 0;
  int activation = 0;
};

/// Rows of A up to which a weight-only quantized gemm runs kiln_quant_gemv
/// (the stored bytes read once); above, kiln_dequantize writes W as f32 for
/// cuBLASLt.
inline constexpr int64_t kQuantGemvRows = 8;

/// Device workspace bytes a gemm of `rows` rows of A on `w` needs: W8A8's
/// int8 rows and their scales, or W as f32 past kQuantGemvRows rows.
int64_t quantGemmWorkspaceBytes(const DeviceQuantWeight &w, int64_t rows);

/// C [m, n] = A [m, k] (leading dim lda) times W^T, with the epilogue, for
/// m <= kQuantGemvRows rows.
KernelLaunch quantGemvLaunch(const DeviceQuantWeight &w, CUdeviceptr c,
                             CUdeviceptr a, int64_t m, int64_t lda,
                             const DeviceEpilogue &epilogue);
/// W as f32 row-major [n, k] at `out` (quantGemmWorkspaceBytes of it).
KernelLaunch dequantizeLaunch(const DeviceQuantWeight &w, CUdeviceptr out);
/// W8A8: A's m rows quantized into the workspace (int8 rows, then their
/// scales), then the int8 product into C with the epilogue (two launches).
std::vector<KernelLaunch> w8a8Launches(const DeviceQuantWeight &w,
                                       CUdeviceptr c, CUdeviceptr a, int64_t m,
                                       int64_t lda, CUdeviceptr workspace,
                                       const DeviceEpilogue &epilogue);

/// W8A8 after w8a8Launches' first launch, for a library's int8 gemm that
/// wrote the int32 sums S [m, n] of the workspace's int8 rows (row-major,
/// w.format.paddedCols() each) into C's buffer: C = epilogue(S times both
/// scales), in place.
KernelLaunch int8EpilogueLaunch(const DeviceQuantWeight &w, CUdeviceptr c,
                                int64_t m, CUdeviceptr workspace,
                                const DeviceEpilogue &epilogue);

/// kiln_widen_epilogue: C [rows, n] f32 = epilogue(D as f32), D bf16 or
/// f16.
KernelLaunch widenEpilogueLaunch(CUdeviceptr c, CUdeviceptr d,
                                 const DeviceEpilogue &epilogue, int64_t rows,
                                 int64_t n, bool bf16);

/// The most ranks kiln_rank_share reads from (its operands are parameters).
inline constexpr size_t kRankShareMaxRanks = 8;

/// kiln_rank_share: elements [begin, end) of a collective's result into
/// out[0, end - begin), from every rank's operand (`inputs`, rank order,
/// device pointers of one context): their sum (cols == 0), or their
/// [rows, cols] side by side (all_gather, cols > 0). More ranks than
/// kRankShareMaxRanks, or none, is an error.
absl::StatusOr<KernelLaunch>
rankShareLaunch(CUdeviceptr out, int64_t begin, int64_t end, int64_t cols,
                const std::vector<CUdeviceptr> &inputs);

/// kiln_narrow of `count` f32 values at `src` into bf16 or f16 at `dst`.
KernelLaunch narrowLaunch(CUdeviceptr dst, CUdeviceptr src, int64_t count,
                          bool bf16);

/// kiln_norm over `rows` rows of `width` (bias: 0 for none), or why the
/// kernel cannot take them.
absl::StatusOr<KernelLaunch> normLaunch(CUdeviceptr out, CUdeviceptr x,
                                        CUdeviceptr scale, CUdeviceptr bias,
                                        const NormPlan &plan,
                                        const std::string &where);

/// The flash-decoding split of a one-row step: `splits` chunks of `chunk`
/// keys, enough blocks to fill `multiprocessors` twice over, chunks of at
/// least 64 and at most 2048 keys. Depends only on the shapes, so a decode
/// step launches identically at every position.
struct DecodeSplit {
  int64_t splits = 1, chunk = 0;
};
DecodeSplit decodeSplit(const AttentionPlan &plan, int multiprocessors);
/// Bytes of the partial results flash-decoding needs (0 for other steps).
int64_t attentionWorkspaceBytes(const AttentionPlan &plan, int multiprocessors);

/// The launches of one attention step (after its cache writes), or why the
/// kernels cannot take it. `workspace` holds attentionWorkspaceBytes.
absl::StatusOr<std::vector<KernelLaunch>>
attentionLaunches(const DeviceAttention &step, int multiprocessors,
                  CUdeviceptr workspace, const std::string &where);

} // namespace kiln::rt

#endif // KILN_RUNTIME_CUDALAUNCH_H
