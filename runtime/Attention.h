//===- Attention.h - the CPU attention step -------------------------------===//
//
// softmax(scale * Q K^T + bias + mask) V per head, as kiln.attention
// defines it (grouped-query heads, causal masking aligned bottom-right or at
// each sequence's cache position, an additive padding mask, T5's additive
// bias), in f32 with an online softmax over tiles of keys, parallel over
// (batch, head, block of query rows), vectorized for the host's ISA. Keys a
// causal mask hides are never visited, so a decode step's cost grows with
// the positions actually filled, not with the cache's capacity.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_ATTENTION_H
#define KILN_RUNTIME_ATTENTION_H

#include "runtime/CpuIsa.h"
#include "runtime/StepPlan.h"
#include "runtime/ThreadPool.h"

#include <cstdint>
#include <vector>

namespace kiln::rt {

struct AttentionArgs {
  const float *q = nullptr; // [B, Sq, H * D]
  const float *k = nullptr; // [B, Sk, KV * D]
  const float *v = nullptr; // [B, Sk, KV * D]
  float *out = nullptr;     // [B, Sq, H * D]
  int64_t batch = 0, sq = 0, sk = 0, heads = 0, kvHeads = 0, headDim = 0;
  float scale = 1;
  bool causal = false;
  /// Per sequence, the causal offset: query i sees keys j <= i + offset.
  std::vector<int64_t> offsets;
  /// Key mask [B, Sk] as 0/1 per key (padding), or empty.
  std::vector<float> keyMask;
  /// Additive bias broadcast to [B, H, Sq, Sk]: element strides (0 where
  /// the bias has size 1), or no bias.
  const float *bias = nullptr;
  int64_t biasStrides[4] = {0, 0, 0, 0};
};

/// The shape, scale, causality and bias strides of a planned step; the
/// buffers, causal offsets and key mask are the caller's to fill.
AttentionArgs attentionArgs(const AttentionPlan &plan);

/// `isa` picks the code variant (tests run each one the CPU has); one the
/// CPU lacks falls back to the host's best.
void attention(const AttentionArgs &args, ThreadPool &pool,
               CpuIsa isa = hostIsa());

} // namespace kiln::rt

#endif // KILN_RUNTIME_ATTENTION_H
