//===- Pooling.cpp - sentence embeddings from an encoder's hidden states --===//

#include "runtime/Pooling.h"

#include "artifact/Artifact.h"
#include "runtime/DimExpr.h"
#include "runtime/Tensor.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiln::rt {

std::optional<Pooling> poolingNamed(const std::string &name) {
  if (name == "mean")
    return Pooling::Mean;
  if (name == "cls")
    return Pooling::Cls;
  return std::nullopt;
}

absl::StatusOr<Tensor> poolEmbeddings(const Tensor &hidden,
                                      const std::vector<int64_t> &lengths,
                                      Pooling pooling, bool normalize) {
  if (hidden.dtype != DType::F32 || hidden.shape.size() != 3 ||
      hidden.shape[0] != static_cast<int64_t>(lengths.size()))
    return absl::InvalidArgumentError(
        absl::StrCat("pooling needs f32 hidden states [", lengths.size(),
                     ", length, width], got ", dtypeName(hidden.dtype), " ",
                     formatDims(hidden.shape)));
  const int64_t batch = hidden.shape[0], length = hidden.shape[1],
                width = hidden.shape[2];
  for (size_t b = 0; b < lengths.size(); ++b)
    if (lengths[b] < 1 || lengths[b] > length)
      return absl::InvalidArgumentError(
          absl::StrCat("pooling: sequence ", b, " has ", lengths[b],
                       " tokens, the hidden states hold ", length));
  const std::vector<float> values = toFloat(hidden);
  Tensor pooled = Tensor::zeros(DType::F32, {batch, width});
  float *out = pooled.data<float>();
  for (int64_t b = 0; b < batch; ++b) {
    float *row = out + b * width;
    const int64_t count = pooling == Pooling::Mean ? lengths[b] : 1;
    // Summed in double: a mean over 512 tokens keeps f32's precision.
    std::vector<double> sum(width, 0.0);
    for (int64_t t = 0; t < count; ++t) {
      const float *h = values.data() + (b * length + t) * width;
      for (int64_t w = 0; w < width; ++w)
        sum[w] += h[w];
    }
    double norm = 0;
    for (int64_t w = 0; w < width; ++w) {
      sum[w] /= static_cast<double>(count);
      norm += sum[w] * sum[w];
    }
    norm = std::sqrt(norm);
    const double scale = normalize && norm > 0 ? 1.0 / norm : 1.0;
    for (int64_t w = 0; w < width; ++w)
      row[w] = static_cast<float>(sum[w] * scale);
  }
  return pooled;
}

} // namespace kiln::rt
