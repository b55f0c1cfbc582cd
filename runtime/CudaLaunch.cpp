//===- CudaLaunch.cpp - launches of the runtime's own CUDA kernels --------===//

#include "runtime/CudaLaunch.h"

#include "runtime/CudaDriver.h"
#include "runtime/StepPlan.h"
#include "support/Quantize.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kiln::rt {

namespace {

/// Without cuFuncSetAttribute a kernel gets at most 48 KiB of dynamic
/// shared memory; every launch here stays within it.
constexpr int64_t kSharedLimit = 48 << 10;
constexpr int64_t kRows = 16; // query rows per kiln_attention block

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// kiln_attention's dynamic shared memory for head dim `d` and key tiles of
/// `keys` (see the kernel's comment).
int64_t tiledSharedBytes(int64_t d, int64_t keys) {
  return 4 * (2 * kRows * d + keys * (2 * d + 1) + kRows * keys);
}

/// The largest key tile that fits: a multiple of 16 up to 64 when one
/// does, else anything from 15 down; 0 when none fits.
int64_t tileKeys(int64_t d) {
  for (int64_t keys = 64; keys >= 16; keys -= 16)
    if (tiledSharedBytes(d, keys) <= kSharedLimit)
      return keys;
  for (int64_t keys = 15; keys >= 1; --keys)
    if (tiledSharedBytes(d, keys) <= kSharedLimit)
      return keys;
  return 0;
}

int64_t decodeSharedBytes(int64_t d, int64_t chunk) {
  return 4 * (d + chunk + kOwnKernelThreads);
}

} // namespace

const char *ownKernelName(OwnKernel kernel) {
  switch (kernel) {
  case OwnKernel::CacheWrite:
    return "kiln_cache_write";
  case OwnKernel::Attention:
    return "kiln_attention";
  case OwnKernel::DecodeAttention:
    return "kiln_decode_attention";
  case OwnKernel::DecodeCombine:
    return "kiln_decode_combine";
  case OwnKernel::GemmEpilogue:
    return "kiln_gemm_epilogue";
  case OwnKernel::Narrow:
    return "kiln_narrow";
  case OwnKernel::Norm:
    return "kiln_norm";
  case OwnKernel::QuantGemv:
    return "kiln_quant_gemv";
  case OwnKernel::Dequantize:
    return "kiln_dequantize";
  case OwnKernel::QuantizeRows:
    return "kiln_quantize_rows";
  case OwnKernel::Int8Gemm:
    return "kiln_int8_gemm";
  case OwnKernel::Int8Epilogue:
    return "kiln_int8_epilogue";
  case OwnKernel::RankShare:
    return "kiln_rank_share";
  case OwnKernel::WidenEpilogue:
    return "kiln_widen_epilogue";
  }
  return "";
}

KernelLaunch cacheWriteLaunch(CUdeviceptr cache, CUdeviceptr rows,
                              CUdeviceptr positions, bool widePositions,
                              int64_t batch, int64_t count, int64_t maxSeq,
                              int64_t width) {
  KernelLaunch l;
  l.kernel = OwnKernel::CacheWrite;
  // A grid-stride loop: any grid is correct; at most 65535 blocks.
  l.grid[0] = static_cast<unsigned>(std::clamp<int64_t>(
      ceilDiv(batch * count * width, kOwnKernelThreads), 1, 65535));
  l.add(cache).add(rows).add(positions).add(int(widePositions)).add(batch);
  l.add(count).add(maxSeq).add(width);
  return l;
}

KernelLaunch gemmEpilogueLaunch(CUdeviceptr c, CUdeviceptr bias,
                                CUdeviceptr residual, int64_t rows, int64_t n,
                                int activation) {
  KernelLaunch l;
  l.kernel = OwnKernel::GemmEpilogue;
  l.grid[0] = static_cast<unsigned>(
      std::clamp<int64_t>(ceilDiv(rows * n, kOwnKernelThreads), 1, 65535));
  l.add(c).add(bias).add(residual).add(rows).add(n).add(activation);
  return l;
}

namespace {

/// Output channels per block of kiln_quant_gemv and kiln_int8_gemm (a warp
/// each), and rows of A per kiln_int8_gemm warp.
constexpr int64_t kChannelsPerBlock = kOwnKernelThreads / 32;
constexpr int64_t kInt8RowsPerWarp = 8;

/// W8A8's workspace: the int8 rows, then their f32 scales (aligned).
int64_t int8RowBytes(const QuantFormat &f, int64_t rows) {
  return (rows * f.paddedCols() + 255) / 256 * 256;
}

} // namespace

int64_t quantGemmWorkspaceBytes(const DeviceQuantWeight &w, int64_t rows) {
  const QuantFormat &f = w.format;
  if (w.actBits == 8)
    return int8RowBytes(f, rows) + 4 * rows;
  return rows > kQuantGemvRows ? 4 * f.rows * f.cols : 0;
}

KernelLaunch quantGemvLaunch(const DeviceQuantWeight &w, CUdeviceptr c,
                             CUdeviceptr a, int64_t m, int64_t lda,
                             const DeviceEpilogue &epilogue) {
  const QuantFormat &f = w.format;
  KernelLaunch l;
  l.kernel = OwnKernel::QuantGemv;
  l.grid[0] = static_cast<unsigned>(ceilDiv(f.rows, kChannelsPerBlock));
  l.add(c).add(a).add(w.values).add(w.scales).add(epilogue.bias);
  l.add(epilogue.residual).add(m).add(f.rows).add(f.cols).add(lda);
  l.add(f.rowBytes()).add(f.group).add(f.bits).add(epilogue.activation);
  return l;
}

KernelLaunch dequantizeLaunch(const DeviceQuantWeight &w, CUdeviceptr out) {
  const QuantFormat &f = w.format;
  KernelLaunch l;
  l.kernel = OwnKernel::Dequantize;
  l.grid[0] = static_cast<unsigned>(std::clamp<int64_t>(
      ceilDiv(f.rows * f.cols, kOwnKernelThreads), 1, 65535));
  l.add(out).add(w.values).add(w.scales).add(f.rows).add(f.cols);
  l.add(f.rowBytes()).add(f.group).add(f.bits);
  return l;
}

namespace {

/// Where W8A8's int8 rows' scales follow them in the workspace.
CUdeviceptr int8RowScales(const DeviceQuantWeight &w, int64_t m,
                          CUdeviceptr workspace) {
  return workspace + int8RowBytes(w.format, m);
}

KernelLaunch quantizeRowsLaunch(const DeviceQuantWeight &w, CUdeviceptr a,
                                int64_t m, int64_t lda, CUdeviceptr workspace) {
  const QuantFormat &f = w.format;
  KernelLaunch quantize;
  quantize.kernel = OwnKernel::QuantizeRows;
  quantize.grid[0] = static_cast<unsigned>(m);
  quantize.add(workspace).add(int8RowScales(w, m, workspace)).add(a);
  quantize.add(w.invSmooth).add(f.cols).add(lda).add(f.paddedCols());
  return quantize;
}

} // namespace

KernelLaunch int8EpilogueLaunch(const DeviceQuantWeight &w, CUdeviceptr c,
                                int64_t m, CUdeviceptr workspace,
                                const DeviceEpilogue &epilogue) {
  const int64_t n = w.format.rows;
  KernelLaunch l;
  l.kernel = OwnKernel::Int8Epilogue;
  l.grid[0] = static_cast<unsigned>(
      std::clamp<int64_t>(ceilDiv(m * n, kOwnKernelThreads), 1, 65535));
  l.add(c).add(int8RowScales(w, m, workspace)).add(w.scales);
  l.add(epilogue.bias).add(epilogue.residual).add(m).add(n);
  l.add(epilogue.activation);
  return l;
}

std::vector<KernelLaunch> w8a8Launches(const DeviceQuantWeight &w,
                                       CUdeviceptr c, CUdeviceptr a, int64_t m,
                                       int64_t lda, CUdeviceptr workspace,
                                       const DeviceEpilogue &epilogue) {
  const QuantFormat &f = w.format;
  KernelLaunch product;
  product.kernel = OwnKernel::Int8Gemm;
  product.grid[0] = static_cast<unsigned>(ceilDiv(f.rows, kChannelsPerBlock));
  product.grid[1] = static_cast<unsigned>(ceilDiv(m, kInt8RowsPerWarp));
  product.add(c).add(workspace).add(int8RowScales(w, m, workspace));
  product.add(w.values).add(w.scales);
  product.add(epilogue.bias).add(epilogue.residual).add(m).add(f.rows);
  product.add(f.paddedCols()).add(epilogue.activation);
  return {quantizeRowsLaunch(w, a, m, lda, workspace), product};
}

KernelLaunch widenEpilogueLaunch(CUdeviceptr c, CUdeviceptr d,
                                 const DeviceEpilogue &epilogue, int64_t rows,
                                 int64_t n, bool bf16) {
  KernelLaunch l;
  l.kernel = OwnKernel::WidenEpilogue;
  l.grid[0] = static_cast<unsigned>(
      std::clamp<int64_t>(ceilDiv(rows * n, kOwnKernelThreads), 1, 65535));
  l.add(c).add(d).add(epilogue.bias).add(epilogue.residual).add(rows).add(n);
  l.add(epilogue.activation).add(int(bf16));
  return l;
}

absl::StatusOr<KernelLaunch>
rankShareLaunch(CUdeviceptr out, int64_t begin, int64_t end, int64_t cols,
                const std::vector<CUdeviceptr> &inputs) {
  if (inputs.empty() || inputs.size() > kRankShareMaxRanks)
    return absl::InvalidArgumentError(
        absl::StrCat("kiln_rank_share takes 1 to ", kRankShareMaxRanks,
                     " ranks, not ", inputs.size()));
  KernelLaunch l;
  l.kernel = OwnKernel::RankShare;
  l.grid[0] = static_cast<unsigned>(std::clamp<int64_t>(
      ceilDiv(std::max<int64_t>(end - begin, 1), kOwnKernelThreads), 1, 65535));
  l.add(out).add(begin).add(end).add(cols).add(int(inputs.size()));
  for (size_t r = 0; r < kRankShareMaxRanks; ++r)
    l.add(r < inputs.size() ? inputs[r] : CUdeviceptr{0});
  return l;
}

KernelLaunch narrowLaunch(CUdeviceptr dst, CUdeviceptr src, int64_t count,
                          bool bf16) {
  KernelLaunch l;
  l.kernel = OwnKernel::Narrow;
  l.grid[0] = static_cast<unsigned>(
      std::clamp<int64_t>(ceilDiv(count, kOwnKernelThreads), 1, 65535));
  l.add(dst).add(src).add(count).add(int(bf16));
  return l;
}

absl::StatusOr<KernelLaunch> normLaunch(CUdeviceptr out, CUdeviceptr x,
                                        CUdeviceptr scale, CUdeviceptr bias,
                                        const NormPlan &plan,
                                        const std::string &where) {
  if (plan.rows > 0x7fffffff)
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", plan.rows, " rows exceed the norm kernel's grid"));
  KernelLaunch l;
  l.kernel = OwnKernel::Norm;
  l.grid[0] = static_cast<unsigned>(plan.rows);
  l.add(out).add(x).add(scale).add(bias).add(plan.width).add(plan.epsilon);
  l.add(int(plan.rms));
  return l;
}

DecodeSplit decodeSplit(const AttentionPlan &p, int multiprocessors) {
  DecodeSplit s;
  int64_t blocks = std::max<int64_t>(p.batch * p.heads, 1);
  s.splits = std::max<int64_t>(ceilDiv(2 * multiprocessors, blocks), 1);
  s.splits = std::min(s.splits, std::max<int64_t>(ceilDiv(p.sk, 64), 1));
  s.chunk = ceilDiv(p.sk, s.splits);
  if (s.chunk > 2048) {
    s.chunk = 2048;
    s.splits = ceilDiv(p.sk, s.chunk);
  }
  return s;
}

int64_t attentionWorkspaceBytes(const AttentionPlan &p, int multiprocessors) {
  if (p.sq != 1)
    return 0;
  DecodeSplit s = decodeSplit(p, multiprocessors);
  return 4 * p.batch * p.heads * s.splits * (p.headDim + 2);
}

absl::StatusOr<std::vector<KernelLaunch>>
attentionLaunches(const DeviceAttention &a, int multiprocessors,
                  CUdeviceptr workspace, const std::string &where) {
  const AttentionPlan &p = a.plan;
  if (p.batch > 65535 || p.heads > 65535)
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", p.batch, " sequences of ", p.heads,
                     " heads exceed the attention kernels' grid (65535 each)"));
  auto terms = [&](KernelLaunch &l) {
    l.add(p.scale).add(int(p.causal)).add(a.positions);
    l.add(int(a.widePositions)).add(a.mask).add(a.maskKind).add(a.bias);
    for (int64_t stride : p.biasStrides)
      l.add(stride);
  };
  std::vector<KernelLaunch> launches;
  if (p.batch == 0 || p.sq == 0 || p.heads == 0)
    return launches;
  if (p.sq == 1) {
    DecodeSplit s = decodeSplit(p, multiprocessors);
    KernelLaunch partial;
    partial.kernel = OwnKernel::DecodeAttention;
    partial.grid[0] = static_cast<unsigned>(s.splits);
    partial.grid[1] = static_cast<unsigned>(p.heads);
    partial.grid[2] = static_cast<unsigned>(p.batch);
    partial.sharedBytes = decodeSharedBytes(p.headDim, s.chunk);
    if (static_cast<int64_t>(partial.sharedBytes) > kSharedLimit)
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": head dim ", p.headDim,
                       " is too large for the decode attention kernel"));
    partial.add(a.q).add(a.k).add(a.v).add(workspace).add(p.sk);
    partial.add(p.heads).add(p.kvHeads).add(p.headDim);
    terms(partial);
    partial.add(s.chunk);
    launches.push_back(std::move(partial));

    KernelLaunch combine;
    combine.kernel = OwnKernel::DecodeCombine;
    combine.grid[0] = static_cast<unsigned>(p.heads);
    combine.grid[1] = static_cast<unsigned>(p.batch);
    combine.add(workspace).add(a.out).add(p.heads).add(p.headDim);
    combine.add(s.splits);
    launches.push_back(std::move(combine));
    return launches;
  }
  int64_t keys = tileKeys(p.headDim);
  if (keys == 0)
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": head dim ", p.headDim,
        " is too large for the attention kernel's 48 KiB of shared memory"));
  KernelLaunch l;
  l.kernel = OwnKernel::Attention;
  int64_t tiles = ceilDiv(p.sq, kRows);
  if (tiles > 0x7fffffff)
    return absl::InvalidArgumentError(where + ": too many query rows");
  l.grid[0] = static_cast<unsigned>(std::max<int64_t>(tiles, 1));
  l.grid[1] = static_cast<unsigned>(p.heads);
  l.grid[2] = static_cast<unsigned>(p.batch);
  l.sharedBytes = tiledSharedBytes(p.headDim, keys);
  l.add(a.q).add(a.k).add(a.v).add(a.out).add(p.sq).add(p.sk);
  l.add(p.heads).add(p.kvHeads).add(p.headDim);
  terms(l);
  l.add(keys);
  launches.push_back(std::move(l));
  return launches;
}

} // namespace kiln::rt
