//===- Golden.h - reading and comparing the golden fixtures (tests only) --===//
//
// Shared by the golden tests, the CPU lowering test and npy-diff: the list
// of fixtures, and the error measure every comparison against transformers
// uses (relative norm error, padding excluded).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TEST_SUPPORT_GOLDEN_H
#define KILN_TEST_SUPPORT_GOLDEN_H

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace kiln::test {

/// The fixtures under `dir` (folders holding a golden.json), sorted.
inline std::vector<std::string> goldenFixtureNames(const std::string &dir) {
  std::vector<std::string> names;
  for (const auto &entry : std::filesystem::directory_iterator(dir))
    if (std::filesystem::exists(entry.path() / "golden.json"))
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

/// A fixture's request, as golden.json records it: each sequence's real
/// ids (and token types, for BERT and RoBERTa) without the padding, and
/// how many tokens the decoders generate.
struct GoldenInputs {
  std::vector<std::vector<int64_t>> ids, tokenTypes;
  std::vector<int64_t> lengths;
  int64_t paddedLength = 0;
  int64_t newTokens = 0;
};

inline GoldenInputs goldenInputs(const nlohmann::json &golden) {
  GoldenInputs in;
  in.lengths = golden["lengths"].get<std::vector<int64_t>>();
  auto padded = golden["input_ids"].get<std::vector<std::vector<int64_t>>>();
  in.paddedLength = padded.empty() ? 0 : padded.front().size();
  for (size_t b = 0; b < padded.size(); ++b)
    in.ids.emplace_back(padded[b].begin(), padded[b].begin() + in.lengths[b]);
  if (golden.contains("token_type_ids")) {
    auto t = golden["token_type_ids"].get<std::vector<std::vector<int64_t>>>();
    for (size_t b = 0; b < t.size(); ++b)
      in.tokenTypes.emplace_back(t[b].begin(), t[b].begin() + in.lengths[b]);
  }
  if (golden.contains("generate"))
    in.newTokens = golden["generate"]["max_new_tokens"].get<int64_t>();
  return in;
}

/// ||got - expected|| / ||expected|| over row-major arrays of `shape`. When
/// `lengths` has one entry per row and dim 1 is the padded length (the
/// longest of them), positions past each sequence's length are padding and
/// are skipped. `finite` is cleared if `got` holds NaN or an infinity where
/// it is compared. With `skipNonFiniteExpected`, positions where `expected`
/// is not finite are skipped too: they stand for unspecified results.
template <typename Got, typename Expected>
double relativeErrorExcludingPadding(const std::vector<int64_t> &shape,
                                     const Got &got, const Expected &expected,
                                     const std::vector<int64_t> &lengths,
                                     bool &finite,
                                     bool skipNonFiniteExpected = false) {
  int64_t rows = shape.empty() ? 1 : shape[0];
  int64_t perRow = rows ? static_cast<int64_t>(expected.size()) / rows : 0;
  bool masked = shape.size() >= 3 && !lengths.empty() &&
                static_cast<int64_t>(lengths.size()) == rows &&
                shape[1] == *std::max_element(lengths.begin(), lengths.end());
  int64_t perToken = masked ? perRow / shape[1] : perRow;
  double diff = 0, norm = 0;
  finite = true;
  for (size_t i = 0; i < expected.size(); ++i) {
    int64_t b = i / perRow, s = (i % perRow) / perToken;
    if (masked && s >= lengths[b])
      continue;
    double g = got[i], e = expected[i];
    if (skipNonFiniteExpected && !std::isfinite(e))
      continue;
    finite = finite && std::isfinite(g);
    diff += (g - e) * (g - e);
    norm += e * e;
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

} // namespace kiln::test

#endif // KILN_TEST_SUPPORT_GOLDEN_H
