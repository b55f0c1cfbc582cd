//===- Precision.cpp - bf16/f16 buffers read and written as f32 -----------===//

#include "runtime/Precision.h"

#include "runtime/Tensor.h"
#include "runtime/ThreadPool.h"
#include "support/Half.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

namespace kiln::rt {

using artifact::DType;

namespace {

/// Conversions shorter than this run on the calling thread.
constexpr int64_t kSplitElements = 1 << 16;

void overChunks(int64_t n, ThreadPool &pool,
                const std::function<void(int64_t, int64_t)> &body) {
  if (n < kSplitElements) {
    body(0, n);
    return;
  }
  constexpr int64_t kChunk = 1 << 14;
  pool.parallelFor((n + kChunk - 1) / kChunk, [&](int64_t begin, int64_t end) {
    body(begin * kChunk, std::min(n, end * kChunk));
  });
}

} // namespace

void widen(DType dtype, const void *from, float *to, int64_t n,
           ThreadPool &pool) {
  const auto *h = static_cast<const uint16_t *>(from);
  const bool bf16 = dtype == DType::BF16;
  overChunks(n, pool, [&](int64_t begin, int64_t end) {
    if (bf16)
      for (int64_t i = begin; i < end; ++i)
        to[i] = bf16ToFloat(h[i]);
    else
      for (int64_t i = begin; i < end; ++i)
        to[i] = halfToFloat(h[i]);
  });
}

void narrow(DType dtype, const float *from, void *to, int64_t n,
            ThreadPool &pool) {
  if (!isHalf(dtype)) {
    std::memcpy(to, from, n * sizeof(float));
    return;
  }
  auto *h = static_cast<uint16_t *>(to);
  const bool bf16 = dtype == DType::BF16;
  overChunks(n, pool, [&](int64_t begin, int64_t end) {
    if (bf16)
      for (int64_t i = begin; i < end; ++i)
        h[i] = floatToBf16(from[i]);
    else
      for (int64_t i = begin; i < end; ++i)
        h[i] = floatToHalf(from[i]);
  });
}

const float *asF32(DType dtype, const void *buffer, int64_t n,
                   std::vector<float> &scratch, ThreadPool &pool) {
  if (!isHalf(dtype))
    return static_cast<const float *>(buffer);
  if (static_cast<int64_t>(scratch.size()) < n)
    scratch.resize(n);
  widen(dtype, buffer, scratch.data(), n, pool);
  return scratch.data();
}

float *f32Destination(DType dtype, void *buffer, int64_t n,
                      std::vector<float> &scratch) {
  if (!isHalf(dtype))
    return static_cast<float *>(buffer);
  if (static_cast<int64_t>(scratch.size()) < n)
    scratch.resize(n);
  return scratch.data();
}

} // namespace kiln::rt
