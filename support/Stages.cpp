//===- Stages.cpp - a model's layers and their split into pipeline stages -===//

#include "support/Stages.h"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <regex>
#include <string>
#include <vector>

namespace kiln {

std::string layerOf(const std::string &name) {
  // The first layer keyword: T5's "encoder.block.2.layer.0" is block 2.
  static const std::regex layer(
      R"(^((?:.*?\.)?(?:layers|h|layer|block)\.\d+)(?:\.|$))");
  std::smatch match;
  if (std::regex_search(name, match, layer))
    return match[1];
  return "";
}

std::vector<size_t> splitStages(const std::vector<double> &costs,
                                size_t parts) {
  const size_t n = costs.size();
  std::vector<double> prefix(n + 1, 0);
  for (size_t i = 0; i < n; ++i)
    prefix[i + 1] = prefix[i] + costs[i];
  const double inf = std::numeric_limits<double>::infinity();
  // best[k][i]: the first i items in k groups; cut[k][i]: where the last
  // group starts.
  std::vector<std::vector<double>> best(parts + 1,
                                        std::vector<double>(n + 1, inf));
  std::vector<std::vector<size_t>> cut(parts + 1,
                                       std::vector<size_t>(n + 1, 0));
  best[0][0] = 0;
  for (size_t k = 1; k <= parts; ++k)
    for (size_t i = k; i <= n; ++i)
      for (size_t j = k - 1; j < i; ++j) {
        double cost = std::max(best[k - 1][j], prefix[i] - prefix[j]);
        if (cost < best[k][i]) {
          best[k][i] = cost;
          cut[k][i] = j;
        }
      }
  std::vector<size_t> starts(parts);
  size_t i = n;
  for (size_t k = parts; k >= 1; --k) {
    starts[k - 1] = cut[k][i];
    i = cut[k][i];
  }
  return starts;
}

} // namespace kiln
