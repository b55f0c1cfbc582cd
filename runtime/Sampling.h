//===- Sampling.h - picking the next token from logits --------------------===//
//
// Greedy (argmax, the first maximum as torch.argmax), or sampling as
// transformers' generate does it: logits / temperature, then top-k, then
// top-p (the smallest set of most likely tokens whose probability reaches
// p), then a draw. The draws come from one seeded generator, consumed
// sequence by sequence, so a seed reproduces a run exactly.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_RUNTIME_SAMPLING_H
#define KILN_RUNTIME_SAMPLING_H

#include "absl/status/status.h"

#include <cstdint>
#include <random>

namespace kiln::rt {

struct SamplingOptions {
  bool greedy = true;
  int64_t topK = 0;  // 0: no top-k filter
  double topP = 1.0; // 1: no top-p filter
  double temperature = 1.0;
  uint64_t seed = 0;

  /// Range checks, with messages naming the flag.
  absl::Status validate() const;
};

class Sampler {
public:
  explicit Sampler(const SamplingOptions &options)
      : options_(options), rng_(options.seed) {}
  /// The next token from `vocab` logits.
  int64_t pick(const float *logits, int64_t vocab);

private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

} // namespace kiln::rt

#endif // KILN_RUNTIME_SAMPLING_H
