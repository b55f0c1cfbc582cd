//===- TokenizerTest.cpp - tokenizer.json against Hugging Face tokenizers -===//
//
// Every string of test/golden/tokenizers/strings.json (and the 400 of
// random_strings.json, drawn from every character class) encodes to the ids
// `tokenizers` gives (expected.json, made by make_tokenizers.py) and those
// ids decode to its text, for each tokenizer there; then one error for each
// kind of broken or unsupported tokenizer.json.
//
//===----------------------------------------------------------------------===//

#include "support/Tokenizer.h"

#include "support/Files.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using Json = nlohmann::json;
const std::string kDir = KILN_TOKENIZER_GOLDEN;

Json readJson(const std::string &path) {
  auto text = kiln::readFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? Json::parse(*text) : Json();
}

class TokenizerGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerGoldenTest, MatchesHuggingFaceTokenizers) {
  Json strings = readJson(kDir + "/strings.json");
  for (const Json &drawn : readJson(kDir + "/random_strings.json"))
    strings.push_back(drawn);
  Json expected = readJson(kDir + "/expected.json")[GetParam()];
  ASSERT_EQ(strings.size(), expected.size());
  auto tokenizer = kiln::Tokenizer::open(kDir + "/" + GetParam());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  int matched = 0;
  for (size_t i = 0; i < strings.size(); ++i) {
    std::string text = strings[i].get<std::string>();
    auto ids = (*tokenizer)->encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    auto want = expected[i]["ids"].get<std::vector<int64_t>>();
    EXPECT_EQ(*ids, want) << "string " << i << ": '" << text << "'";
    auto decoded = (*tokenizer)->decode(want);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, expected[i]["decoded"].get<std::string>())
        << "string " << i;
    matched += *ids == want && *decoded == expected[i]["decoded"];
  }
  std::printf("%s: %d of %zu strings match\n", GetParam().c_str(), matched,
              strings.size());
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, TokenizerGoldenTest,
                         ::testing::Values("wordpiece_uncased",
                                           "wordpiece_cased",
                                           "all-MiniLM-L6-v2", "bpe_bytelevel",
                                           "bpe_roberta", "unigram_t5",
                                           "unigram_bytes", "bpe_llama2",
                                           "bpe_llama3", "unigram_t5_spiece"),
                         [](const auto &info) {
                           std::string name = info.param;
                           for (char &c : name)
                             if (c == '-')
                               c = '_';
                           return name;
                         });

/// A folder holding only a slow tokenizer's files, written from golden
/// tokenizer `name`'s tokenizer.json: BERT's vocab.txt, or GPT-2's and
/// RoBERTa's vocab.json and merges.txt; plus tokenizer_config.json.
std::string slowTokenizerFolder(const std::string &name,
                                const std::string &config) {
  Json tokenizer = readJson(kDir + "/" + name + "/tokenizer.json");
  const Json &model = tokenizer["model"];
  std::string dir = ::testing::TempDir() + "kiln-slow-" + name + "-" +
                    std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  if (model["type"] == "WordPiece") {
    std::vector<std::string> tokens(model["vocab"].size());
    for (const auto &[token, id] : model["vocab"].items())
      tokens[id.get<size_t>()] = token;
    std::ofstream vocab(dir + "/vocab.txt");
    for (const std::string &t : tokens)
      vocab << t << "\n";
  } else {
    std::ofstream(dir + "/vocab.json") << model["vocab"].dump();
    std::ofstream merges(dir + "/merges.txt");
    merges << "#version: 0.2\n";
    for (const Json &m : model["merges"])
      merges << (m.is_string()
                     ? m.get<std::string>()
                     : m[0].get<std::string>() + " " + m[1].get<std::string>())
             << "\n";
  }
  std::ofstream(dir + "/tokenizer_config.json") << config;
  return dir;
}

TEST(TokenizerTest, FromSlowTokenizerFiles) {
  // What transformers' converters make of the files is what the Hub's
  // tokenizer.json holds: the same ids for every golden string.
  const std::pair<std::string, std::string> cases[] = {
      {"all-MiniLM-L6-v2", R"({"do_lower_case": true})"},
      {"bpe_bytelevel",
       R"({"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": false,
           "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
           "unk_token": "<|endoftext|>"})"},
      {"bpe_roberta",
       R"({"tokenizer_class": "RobertaTokenizer", "add_prefix_space": true,
           "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
           "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>",
           "mask_token": {"content": "<mask>", "lstrip": true}})"}};
  Json strings = readJson(kDir + "/strings.json");
  for (const Json &drawn : readJson(kDir + "/random_strings.json"))
    strings.push_back(drawn);
  for (const auto &[name, config] : cases) {
    std::string dir = slowTokenizerFolder(name, config);
    auto tokenizer = kiln::Tokenizer::open(dir);
    ASSERT_TRUE(tokenizer.ok()) << name << ": " << tokenizer.status();
    Json expected = readJson(kDir + "/expected.json")[name];
    int matched = 0;
    for (size_t i = 0; i < strings.size(); ++i) {
      auto ids = (*tokenizer)->encode(strings[i].get<std::string>());
      ASSERT_TRUE(ids.ok()) << ids.status();
      matched += *ids == expected[i]["ids"].get<std::vector<int64_t>>();
    }
    EXPECT_EQ(matched, static_cast<int>(strings.size())) << name;
    std::printf("%s from its slow files: %d of %zu strings match\n",
                name.c_str(), matched, strings.size());
    std::filesystem::remove_all(dir);
  }
  std::string empty =
      ::testing::TempDir() + "kiln-no-tokenizer-" + std::to_string(::getpid());
  std::filesystem::create_directories(empty);
  auto none = kiln::tokenizerJson(empty);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  // A spiece.model that is not one, and a SentencePiece BPE model (one
  // piece "a", model_type 2), which Kiln does not convert.
  std::ofstream(empty + "/spiece.model") << "\x0a\x05";
  EXPECT_EQ(kiln::tokenizerJson(empty).status().message(),
            empty + "/spiece.model: not a SentencePiece model (malformed)");
  std::ofstream(empty + "/spiece.model")
      << std::string("\x0a\x03\x0a\x01\x61\x12\x02\x18\x02", 9);
  EXPECT_EQ(kiln::tokenizerJson(empty).status().code(),
            absl::StatusCode::kUnimplemented);
  // A Unigram model with pieces <pad> </s> <unk> a: refused for another
  // tokenizer class, without its end token, with too many extra ids, or
  // with an unknown id outside its pieces.
  auto piece = [](const std::string &text, char type) {
    std::string body = std::string("\x0a") + char(text.size()) + text +
                       std::string("\x15\0\0\0\0", 5) + "\x18" + type;
    return std::string("\x0a") + char(body.size()) + body;
  };
  const std::string unigram =
      piece("<pad>", 3) + piece("</s>", 3) + piece("<unk>", 2) + piece("a", 1);
  auto convert = [&](const std::string &model, const std::string &config) {
    return kiln::tokenizerJsonFromSentencePiece(model, config, "m");
  };
  EXPECT_TRUE(convert(unigram, "").ok());
  EXPECT_EQ(convert(unigram, R"({"tokenizer_class": "AlbertTokenizer"})")
                .status()
                .code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(convert(unigram, R"({"eos_token": "<eos>"})").status().message(),
            "m: not a SentencePiece model (it has no '<eos>' piece)");
  EXPECT_EQ(convert(unigram, R"({"extra_ids": -1})").status().message(),
            "m: tokenizer_config.json's extra_ids is -1");
  EXPECT_EQ(convert(unigram + std::string("\x12\x03\xc0\x02\x09", 5), "")
                .status()
                .message(),
            "m: not a SentencePiece model (its unknown piece is not one of "
            "its pieces)");
  EXPECT_EQ(convert(unigram, "[1]").status().message(),
            "m: tokenizer_config.json is not a JSON object");
  // A normalizer character map the tokenizer.json reader would refuse
  // (too short; a trie size that is not whole u32 units) is refused here,
  // not written (found by fuzzing).
  for (const std::string &charsmap :
       {std::string("abc"), std::string("\x03\x00\x00\x00xy", 6)}) {
    std::string normalizer =
        std::string("\x12") + char(charsmap.size()) + charsmap;
    EXPECT_EQ(
        convert(unigram + "\x1a" + char(normalizer.size()) + normalizer, "")
            .status()
            .message(),
        "m: not a SentencePiece model (its normalizer's character map "
        "is malformed)");
  }
  std::filesystem::remove_all(empty);
}

TEST_P(TokenizerGoldenTest, PairsMatchHuggingFaceTokenizers) {
  // A cross-encoder's input: the pair template's ids and type ids.
  Json pairs = readJson(kDir + "/pairs.json");
  Json expected = readJson(kDir + "/expected_pairs.json")[GetParam()];
  ASSERT_EQ(pairs.size(), expected.size());
  auto tokenizer = kiln::Tokenizer::open(kDir + "/" + GetParam());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  int matched = 0;
  for (size_t i = 0; i < pairs.size(); ++i) {
    auto encoded = (*tokenizer)
                       ->encodePair(pairs[i][0].get<std::string>(),
                                    pairs[i][1].get<std::string>());
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    auto ids = expected[i]["ids"].get<std::vector<int64_t>>();
    auto types = expected[i]["type_ids"].get<std::vector<int64_t>>();
    EXPECT_EQ(encoded->ids, ids) << "pair " << i;
    EXPECT_EQ(encoded->typeIds, types) << "pair " << i;
    matched += encoded->ids == ids && encoded->typeIds == types;
  }
  std::printf("%s: %d of %zu pairs match\n", GetParam().c_str(), matched,
              pairs.size());
}

TEST(TokenizerTest, WithoutSpecialTokensAndBackToText) {
  auto tokenizer = kiln::Tokenizer::open(kDir + "/all-MiniLM-L6-v2");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->vocabSize(), 30522);
  auto ids = (*tokenizer)->encode("Hello, world!", false);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int64_t>{7592, 1010, 2088, 999}));
  auto kept = (*tokenizer)->decode({101, 7592, 102}, false);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, "[CLS] hello [SEP]");
}

std::string errorOf(const std::string &json) {
  auto t = kiln::Tokenizer::parse(json, "tok.json");
  return t.ok() ? "" : std::string(t.status().message());
}

TEST(TokenizerTest, BrokenFilesAreOneError) {
  const std::string vocab = R"("vocab": {"[UNK]": 0, "a": 1})";
  const std::string model =
      R"("model": {"type": "WordPiece", "unk_token": "[UNK]", )" + vocab + "}";
  EXPECT_EQ(errorOf("{"), "tok.json: not valid JSON");
  EXPECT_EQ(errorOf("[1]"),
            "tok.json: not a JSON object (a tokenizer.json is one)");
  EXPECT_EQ(errorOf("{}"), "tok.json: 'model' is missing");
  EXPECT_EQ(errorOf(R"({"model": {"type": "WordLevel"}})"),
            "tok.json: model type 'WordLevel' is not supported yet (Kiln reads "
            "WordPiece, BPE and Unigram tokenizers)");
  EXPECT_EQ(errorOf(R"({"model": {"type": "BPE", "vocab": {"a": 0}}})"),
            "tok.json: model: BPE without a 'merges' list");
  EXPECT_EQ(
      errorOf(
          R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a a"]}})"),
      "tok.json: model: merge 0 makes 'aa', which is not in the "
      "vocabulary");
  EXPECT_EQ(
      errorOf(
          R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}})"),
      "tok.json: model: merge 0 ('a') is not two tokens");
  EXPECT_EQ(
      errorOf(
          R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "dropout": 0.1}})"),
      "tok.json: model: BPE with 'dropout' is not supported yet");
  EXPECT_EQ(
      errorOf(
          R"({"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {}}})"),
      "tok.json: model: 'vocab' is missing or empty");
  EXPECT_EQ(errorOf(R"({"model": {"unk_token": "<unk>", )" + vocab + "}}"),
            "tok.json: model: the unknown token '<unk>' is not in the "
            "vocabulary");
  EXPECT_EQ(errorOf(R"({"model": {"unk_token": 3, )" + vocab + "}}"),
            "tok.json: model: 'unk_token' has the wrong type");
  EXPECT_EQ(
      errorOf(
          R"({"model": {"unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 0}}})"),
      "tok.json: model: id 0 is given to both '[UNK]' and 'a'");
  EXPECT_EQ(
      errorOf(R"({"model": {"unk_token": "[UNK]", "vocab": {"[UNK]": -4}}})"),
      "tok.json: model: the id of '[UNK]' is not an integer in [0, "
      "2^24)");
  EXPECT_EQ(errorOf("{" + model + R"(, "normalizer": {"type": "Nmt"}})"),
            "tok.json: normalizer 'Nmt' is not supported yet (Kiln reads "
            "BertNormalizer, Precompiled, Strip, Replace, Prepend, Lowercase, "
            "NFC, NFD, NFKC, NFKD and Sequence)");
  EXPECT_EQ(
      errorOf("{" + model + R"(, "pre_tokenizer": {"type": "Punctuation"}})"),
      "tok.json: pre_tokenizer 'Punctuation' is not supported yet (Kiln "
      "reads BertPreTokenizer, ByteLevel, WhitespaceSplit, Metaspace, Split "
      "and Sequence)");
  EXPECT_EQ(
      errorOf(
          "{" + model +
          R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\d+"}, "behavior": "Isolated"}})"),
      "tok.json: pre_tokenizer: Split by '\\d+' (Isolated) is not "
      "supported yet (Kiln reads Llama 3's and GPT-2's patterns, isolated)");
  EXPECT_EQ(
      errorOf(
          "{" + model +
          R"(, "pre_tokenizer": {"type": "Metaspace", "prepend_scheme": "sometimes"}})"),
      "tok.json: pre_tokenizer: Metaspace's prepend_scheme 'sometimes' is "
      "unknown");
  EXPECT_EQ(
      errorOf(
          "{" + model +
          R"(, "normalizer": {"type": "Precompiled", "precompiled_charsmap": "!!"}})"),
      "tok.json: normalizer: Precompiled's 'precompiled_charsmap' is not a "
      "base64 SentencePiece character map");
  EXPECT_EQ(
      errorOf(
          "{" + model +
          R"(, "normalizer": {"type": "Replace", "pattern": {"Regex": "\\p{L}+"}, "content": ""}})"),
      "tok.json: normalizer: Replace's pattern '\\p{L}+' is not supported "
      "yet (Kiln reads strings and ASCII regular expressions)");
  EXPECT_EQ(
      errorOf(
          R"({"model": {"type": "Unigram", "vocab": [["a", 0], ["a", -1]]}})"),
      "tok.json: model: the piece 'a' is in the vocabulary twice");
  EXPECT_EQ(errorOf(R"({"model": {"type": "Unigram", "vocab": [["a", "x"]]}})"),
            "tok.json: model: vocabulary entry 0 is not [piece, score]");
  EXPECT_EQ(
      errorOf(
          R"({"model": {"type": "Unigram", "unk_id": 5, "vocab": [["a", 0]]}})"),
      "tok.json: model: 'unk_id' is not an id of the vocabulary");
  EXPECT_EQ(errorOf("{" + model +
                    R"(, "added_tokens": [{"id": 1, "content": "[X]"}]})"),
            "tok.json: added token '[X]' takes id 1, which is 'a'");
  EXPECT_EQ(errorOf("{" + model + R"(, "added_tokens": [{"id": 2}]})"),
            "tok.json: added token: 'content' is missing");
  EXPECT_EQ(
      errorOf(
          "{" + model +
          R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}}})"),
      "tok.json: post_processor: special token '[CLS]' is not defined");
  EXPECT_EQ(
      errorOf(
          "{" + model +
          R"(, "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 7], "sep": ["[SEP]", 1]}})"),
      "tok.json: post_processor: 'cls' is not [token, id] with an id in "
      "the vocabulary");
  EXPECT_EQ(errorOf("{" + model + R"(, "decoder": {"type": "CTC"}})"),
            "tok.json: decoder 'CTC' is not supported yet (Kiln reads "
            "WordPiece, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, "
            "Strip and Sequence)");
  EXPECT_EQ(errorOf("{" + model +
                    R"(, "decoder": {"type": "Strip", "content": "ab"}})"),
            "tok.json: decoder: Strip's content is not one character or its "
            "counts are negative");
  EXPECT_EQ(
      errorOf(
          "{" + model +
          R"(, "pre_tokenizer": {"type": "Metaspace", "replacement": "ab"}})"),
      "tok.json: pre_tokenizer: Metaspace's replacement is not one "
      "character");
  EXPECT_EQ(
      errorOf(
          "{" + model +
          R"(, "decoder": {"type": "Replace", "pattern": {"Regex": "a"}, "content": ""}})"),
      "tok.json: decoder: Replace's pattern is not {String: text} (Kiln "
      "reads string patterns)");
  const std::string cls =
      R"("special_tokens": {"[UNK]": {"id": "[UNK]", "ids": [0]}})";
  EXPECT_EQ(
      errorOf(
          "{" + model +
          R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A"}}], "pair": [{"Sequence": {"id": "A"}}, {"Sequence": {"id": "C"}}], )" +
          cls + "}}"),
      "tok.json: post_processor: 'pair' names sequence 'C'");
  EXPECT_EQ(
      errorOf(
          "{" + model +
          R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A"}}], "pair": [{"Sequence": {"id": "A"}}], )" +
          cls + "}}"),
      "tok.json: post_processor: 'pair' does not hold the sequence");
  EXPECT_EQ(
      errorOf(
          "{" + model +
          R"(, "post_processor": {"type": "Sequence", "processors": [{"type": "BertProcessing", "cls": ["[UNK]", 0], "sep": ["a", 1]}, {"type": "BertProcessing", "cls": ["[UNK]", 0], "sep": ["a", 1]}]}})"),
      "tok.json: post_processor: more than one processor adds special "
      "tokens (Kiln reads one)");
  // A tokenizer without a pair template refuses a pair.
  auto pairless = kiln::Tokenizer::parse(
      "{" + model +
          R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A"}}], "pair": [], )" +
          cls + "}}",
      "tok.json");
  ASSERT_TRUE(pairless.ok()) << pairless.status();
  EXPECT_EQ((*pairless)->encodePair("a", "a").status().message(),
            "tok.json: its post-processor has no template for a pair of "
            "sequences");
  // Ids may have gaps; a post-processor id must name a token (a fuzzed
  // file once encoded [CLS] as an id nothing decodes).
  EXPECT_EQ(
      errorOf(
          R"({"model": {"unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 5}}, "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 2], "sep": ["[SEP]", 5]}})"),
      "tok.json: post_processor: 'cls' is not [token, id] with an id in "
      "the vocabulary");
  EXPECT_EQ(errorOf(R"({"model": 3})"), "tok.json: 'model' is not an object");
  EXPECT_EQ(
      errorOf(
          R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a"]]}})"),
      "tok.json: model: merge 0 is not two tokens");
  EXPECT_EQ(
      errorOf(
          R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "continuing_subword_prefix": "##"}})"),
      "tok.json: model: BPE with 'continuing_subword_prefix' is not "
      "supported yet");
  EXPECT_EQ(errorOf("{" + model + R"(, "added_tokens": {}})"),
            "tok.json: 'added_tokens' is not a list");
  EXPECT_EQ(errorOf("{" + model + R"(, "added_tokens": [3]})"),
            "tok.json: an added token is not an object");
  EXPECT_EQ(
      errorOf("{" + model + R"(, "added_tokens": [{"id": 2, "content": ""}]})"),
      "tok.json: added token '' is empty or its id is outside [0, "
      "2^24)");
  EXPECT_EQ(errorOf("{" + model + "," +
                    "\"added_tokens\": [{\"id\": 2, \"content\": \"\xff\"}]}"),
            "tok.json: not valid JSON");
  const std::string single =
      R"(, "post_processor": {"type": "TemplateProcessing", "special_tokens": {}, "single": )";
  EXPECT_EQ(errorOf("{" + model + single + R"([]}})"),
            "tok.json: post_processor: 'single' does not hold the sequence");
  EXPECT_EQ(
      errorOf("{" + model + single +
              R"([{"Sequence": {"id": "A"}}, {"Sequence": {"id": "A"}}]}})"),
      "tok.json: post_processor: 'single' holds the sequence twice");
  EXPECT_EQ(errorOf("{" + model + single + R"([{"Other": 1}]}})"),
            "tok.json: post_processor: a piece of 'single' is malformed");
  EXPECT_EQ(
      errorOf("{" + model + R"(, "post_processor": {"type": "Sequence"}})"),
      "tok.json: post_processor: a Sequence without 'processors'");
  EXPECT_EQ(
      errorOf("{" + model + R"(, "post_processor": {"type": "Roberta"}})"),
      "tok.json: post_processor 'Roberta' is not supported yet (Kiln reads "
      "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel and "
      "Sequence)");
  EXPECT_EQ(errorOf("{" + model + "}"), "");

  auto tokenizer = kiln::Tokenizer::parse("{" + model + "}", "tok.json");
  ASSERT_TRUE(tokenizer.ok());
  auto bad = (*tokenizer)->encode("a\xff");
  EXPECT_EQ(bad.status().message(), "the text is not valid UTF-8 (byte 1)");
  auto outside = (*tokenizer)->decode({0, 2});
  EXPECT_EQ(outside.status().message(),
            "id 2 is outside the vocabulary of tok.json");
  auto missing = kiln::Tokenizer::open(kDir + "/no-such-folder");
  EXPECT_FALSE(missing.ok());
}

} // namespace
