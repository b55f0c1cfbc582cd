//===- GoldenTest.cpp - the interpreter against Hugging Face outputs ------===//
//
// For every fixture under test/golden/fixtures (tiny random-weight models
// and the outputs transformers computed for them, made by
// test/golden/make_fixtures.py), runs the model folder through the
// interpreter, as built and after --kiln-decompose, and checks:
//   * every named output within 1e-4 relative norm error of HF's (padded
//     positions excluded; NaN never passes);
//   * greedy ids equal to HF's up to the first step whose recorded top-2
//     logit gap is below 1e-3 (where a near-tie may legitimately flip).
//
//===----------------------------------------------------------------------===//

#include "frontend/ModelRunner.h"
#include "frontend/Npy.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::vector<std::string> fixtureNames() {
  std::vector<std::string> names;
  for (const auto &entry : fs::directory_iterator(KILN_GOLDEN_DIR))
    if (fs::exists(entry.path() / "golden.json"))
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

Json readJson(const fs::path &path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return Json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
}

struct Case {
  std::string fixture;
  bool decompose;
};

void PrintTo(const Case &c, std::ostream *os) {
  *os << c.fixture << (c.decompose ? " (decomposed)" : "");
}

class GoldenTest : public ::testing::TestWithParam<Case> {};

TEST_P(GoldenTest, MatchesTransformers) {
  const Case &param = GetParam();
  fs::path dir = fs::path(KILN_GOLDEN_DIR) / param.fixture;
  Json golden = readJson(dir / "golden.json");
  ASSERT_FALSE(golden.is_discarded()) << dir;

  mlir::MLIRContext context;
  auto model = kiln::loadModel(context, dir.string(), param.decompose);
  ASSERT_TRUE(model.ok()) << model.status();

  kiln::RunRequest request;
  std::vector<int64_t> lengths = golden["lengths"].get<std::vector<int64_t>>();
  auto padded = golden["input_ids"].get<std::vector<std::vector<int64_t>>>();
  for (size_t b = 0; b < padded.size(); ++b)
    request.inputIds.emplace_back(padded[b].begin(),
                                  padded[b].begin() + lengths[b]);
  if (golden.contains("token_type_ids")) {
    auto types =
        golden["token_type_ids"].get<std::vector<std::vector<int64_t>>>();
    for (size_t b = 0; b < types.size(); ++b)
      request.tokenTypeIds.emplace_back(types[b].begin(),
                                        types[b].begin() + lengths[b]);
  }
  if (golden.contains("generate")) {
    request.maxNewTokens = golden["generate"]["max_new_tokens"].get<int64_t>();
    request.ignoreEos = true;
  }
  auto result = kiln::runModel(*model, request);
  ASSERT_TRUE(result.ok()) << result.status();

  const int64_t paddedLength = padded.front().size();
  for (auto it = golden["outputs"].begin(); it != golden["outputs"].end();
       ++it) {
    auto expected = kiln::readNpy((dir / it.value().get<std::string>()).string());
    ASSERT_TRUE(expected.ok()) << expected.status();
    const kiln::HostTensor *ours = nullptr;
    for (const auto &[name, tensor] : result->outputs)
      if (name == it.key())
        ours = &tensor;
    ASSERT_NE(ours, nullptr) << "no output named " << it.key();
    ASSERT_EQ(ours->shape, expected->shape) << it.key();

    // Positions past a sequence's length are padding: not compared.
    bool perPosition =
        expected->shape.size() >= 3 && expected->shape[1] == paddedLength;
    int64_t perRow = expected->values.size() / expected->shape[0];
    int64_t perToken = perPosition ? perRow / paddedLength : perRow;
    double diff = 0, norm = 0;
    bool finite = true;
    for (size_t i = 0; i < expected->values.size(); ++i) {
      int64_t b = i / perRow, s = (i % perRow) / perToken;
      if (perPosition && s >= lengths[b])
        continue;
      double ref = expected->values[i], got = ours->values[i];
      finite = finite && std::isfinite(got);
      diff += (got - ref) * (got - ref);
      norm += ref * ref;
    }
    double relative = std::sqrt(diff / norm);
    EXPECT_TRUE(finite) << it.key() << " holds NaN or infinity";
    EXPECT_LE(relative, 1e-4) << param.fixture << " " << it.key();
    std::cout << "[golden] " << param.fixture
              << (param.decompose ? " (decomposed) " : " ") << it.key()
              << ": relative error " << relative << "\n";
  }

  if (!golden.contains("generate"))
    return;
  auto ids = golden["generate"]["ids"].get<std::vector<std::vector<int64_t>>>();
  auto gaps =
      golden["generate"]["top2_gaps"].get<std::vector<std::vector<double>>>();
  ASSERT_EQ(result->generated.size(), ids.size());
  for (size_t b = 0; b < ids.size(); ++b) {
    ASSERT_EQ(result->generated[b].size(), ids[b].size()) << "sequence " << b;
    for (size_t t = 0; t < ids[b].size(); ++t) {
      if (gaps[b][t] < 1e-3)
        break; // a near-tie: later tokens may legitimately differ
      EXPECT_EQ(result->generated[b][t], ids[b][t])
          << "sequence " << b << " step " << t;
    }
  }
}

std::vector<Case> allCases() {
  std::vector<Case> cases;
  for (const std::string &name : fixtureNames())
    for (bool decompose : {false, true})
      cases.push_back({name, decompose});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, GoldenTest, ::testing::ValuesIn(allCases()),
    [](const ::testing::TestParamInfo<Case> &info) {
      return info.param.fixture + (info.param.decompose ? "_decomposed" : "");
    });

} // namespace
