//===- Sampling.cpp - picking the next token from logits ------------------===//

#include "runtime/Sampling.h"

#include "support/Status.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace kiln::rt {

absl::Status SamplingOptions::validate() const {
  if (greedy)
    return absl::OkStatus();
  if (!(temperature > 0) || !std::isfinite(temperature))
    return fieldError("temperature",
                      absl::StrCat("must be > 0, got ", temperature));
  if (topK < 0)
    return fieldError("top_k", absl::StrCat("must be >= 0, got ", topK));
  if (!(topP > 0 && topP <= 1))
    return fieldError("top_p", absl::StrCat("must be in (0, 1], got ", topP));
  return absl::OkStatus();
}

int64_t Sampler::pick(const float *logits, int64_t vocab) {
  if (options_.greedy)
    return std::max_element(logits, logits + vocab) - logits;

  // Candidates by descending logit (ties: lower id first, deterministic).
  std::vector<int64_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  int64_t keep = options_.topK > 0 ? std::min(options_.topK, vocab) : vocab;
  auto byLogit = [&](int64_t a, int64_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + keep, order.end(), byLogit);
  order.resize(keep);

  std::vector<double> p(keep);
  double top = logits[order[0]] / options_.temperature, sum = 0;
  for (int64_t i = 0; i < keep; ++i) {
    p[i] = std::exp(logits[order[i]] / options_.temperature - top);
    sum += p[i];
  }
  // Top-p: the most likely tokens until their mass reaches p (at least one).
  if (options_.topP < 1) {
    double mass = 0;
    int64_t n = 0;
    while (n < keep && mass < options_.topP * sum)
      mass += p[n++];
    p.resize(std::max<int64_t>(n, 1));
    sum = std::accumulate(p.begin(), p.end(), 0.0);
  }
  double draw = std::uniform_real_distribution<double>(0, sum)(rng_);
  for (size_t i = 0; i < p.size(); ++i) {
    draw -= p[i];
    if (draw < 0)
      return order[i];
  }
  return order[p.size() - 1];
}

} // namespace kiln::rt
