//===- Attention.cu - the CUDA executor's own kernels ---------------------===//
//
// Compiled by nvcc at build time into a fatbin (sm_90 SASS + PTX) that
// kiln-run carries and loads through the driver; kiln-run links no CUDA
// library. fp32 throughout, the reference path for checking:
//   kiln_cache_write  the new key/value rows into the kv cache at each
//                     sequence's position;
//   kiln_attention    softmax(scale * Q K^T + bias + mask) V, one block per
//                     (batch, head, query row), keys past the causal limit
//                     never read.
//
//===----------------------------------------------------------------------===//

#include <cfloat>
#include <cstdint>

namespace {

__device__ int64_t position(const void *positions, int wide, int64_t b) {
  return wide ? static_cast<const int64_t *>(positions)[b]
              : static_cast<const int32_t *>(positions)[b];
}

__device__ float maskValue(const void *mask, int kind, int64_t i) {
  switch (kind) {
  case 1:
    return static_cast<const int8_t *>(mask)[i] != 0;
  case 2:
    return static_cast<const int32_t *>(mask)[i];
  case 3:
    return static_cast<float>(static_cast<const int64_t *>(mask)[i]);
  case 4:
    return static_cast<const float *>(mask)[i];
  }
  return 1;
}

__device__ float blockReduce(float v, float *scratch, bool isMax) {
  for (int o = 16; o > 0; o /= 2) {
    float other = __shfl_xor_sync(0xffffffff, v, o);
    v = isMax ? fmaxf(v, other) : v + other;
  }
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  int warps = (blockDim.x + 31) / 32;
  v = threadIdx.x < warps ? scratch[threadIdx.x] : (isMax ? -FLT_MAX : 0.0f);
  if (warp == 0)
    for (int o = 16; o > 0; o /= 2) {
      float other = __shfl_xor_sync(0xffffffff, v, o);
      v = isMax ? fmaxf(v, other) : v + other;
    }
  if (threadIdx.x == 0)
    scratch[0] = v;
  __syncthreads();
  v = scratch[0];
  __syncthreads();
  return v;
}

} // namespace

extern "C" __global__ void
kiln_cache_write(float *cache, const float *rows, const void *positions,
                 int wide, int64_t batch, int64_t count, int64_t maxSeq,
                 int64_t width) {
  int64_t total = batch * count * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t e = i % width, r = (i / width) % count, b = i / (width * count);
    int64_t at = position(positions, wide, b) + r;
    if (at >= 0 && at < maxSeq)
      cache[(b * maxSeq + at) * width + e] = rows[i];
  }
}

/// Grid (sq, heads, batch); dynamic shared memory: sk floats of scores.
extern "C" __global__ void
kiln_attention(const float *q, const float *k, const float *v, float *out,
               int64_t sq, int64_t sk, int64_t heads, int64_t kvHeads,
               int64_t headDim, float scale, int causal,
               const void *positions, int wide, const void *mask,
               int maskKind, const float *bias, int64_t biasB, int64_t biasH,
               int64_t biasI, int64_t biasJ) {
  extern __shared__ float scores[];
  __shared__ float scratch[32];
  int64_t i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  int64_t kvh = h / (heads / kvHeads);
  int64_t qStride = heads * headDim, kvStride = kvHeads * headDim;
  const float *qi = q + (b * sq + i) * qStride + h * headDim;
  const float *kb = k + b * sk * kvStride + kvh * headDim;
  const float *vb = v + b * sk * kvStride + kvh * headDim;
  int64_t offset = positions ? position(positions, wide, b) : sk - sq;
  int64_t limit = causal ? min(max(i + offset + 1, int64_t(0)), sk) : sk;

  float best = -FLT_MAX;
  for (int64_t j = threadIdx.x; j < limit; j += blockDim.x) {
    const float *kj = kb + j * kvStride;
    float dot = 0;
    for (int64_t e = 0; e < headDim; ++e)
      dot += qi[e] * kj[e];
    float s = dot * scale;
    if (bias)
      s += bias[b * biasB + h * biasH + i * biasI + j * biasJ];
    if (maskKind)
      s += (1.0f - maskValue(mask, maskKind, b * sk + j)) * -FLT_MAX;
    scores[j] = s;
    best = fmaxf(best, s);
  }
  best = blockReduce(best, scratch, true);
  float sum = 0;
  for (int64_t j = threadIdx.x; j < limit; j += blockDim.x) {
    float p = expf(scores[j] - best);
    scores[j] = p;
    sum += p;
  }
  sum = blockReduce(sum, scratch, false);
  float inv = limit > 0 ? 1.0f / sum : 0.0f;
  float *oi = out + (b * sq + i) * qStride + h * headDim;
  for (int64_t e = threadIdx.x; e < headDim; e += blockDim.x) {
    float acc = 0;
    for (int64_t j = 0; j < limit; ++j)
      acc += scores[j] * vb[j * kvStride + e];
    oi[e] = acc * inv;
  }
}
