//===- Pooling.h - sentence embeddings from an encoder's hidden states ----===//
//
// What sentence-transformers does after the transformer: one vector per
// sequence from last_hidden_state, the mean over its real tokens (padding
// excluded) or its first token, optionally scaled to unit length.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_POOLING_H
#define KILN_RUNTIME_POOLING_H

#include "runtime/Tensor.h"

#include "absl/status/statusor.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::rt {

enum class Pooling { Mean, Cls };

/// "mean" or "cls"; nullopt for anything else.
std::optional<Pooling> poolingNamed(const std::string &name);

/// [B, width] f32 from `hidden` [B, L, width] f32 (Kiln's outputs are), where
/// sequence b has `lengths[b]` real tokens at the start (right padding).
/// `normalize`: each row divided by its L2 norm (left as is if zero).
absl::StatusOr<Tensor> poolEmbeddings(const Tensor &hidden,
                                      const std::vector<int64_t> &lengths,
                                      Pooling pooling, bool normalize);

} // namespace kiln::rt

#endif // KILN_RUNTIME_POOLING_H
