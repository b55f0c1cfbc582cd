//===- Tokenizer.cpp - Hugging Face tokenizer.json: text to ids and back --===//
//
// Each step follows the `tokenizers` library's (Rust) definition of it, named
// in the comments, so that the ids are the ones transformers gives; the
// character classes are theirs too (Rust's White_Space, the Unicode
// categories), with utf8proc's tables.
//
//===----------------------------------------------------------------------===//

#include "support/Tokenizer.h"

#include "support/Files.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kiln {

namespace {

using Json = nlohmann::json;
using CodePoints = std::vector<int32_t>;

//===----------------------------------------------------------------------===//
// Characters
//===----------------------------------------------------------------------===//

/// Rust's char::is_whitespace: the White_Space property.
bool isWhitespace(int32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

utf8proc_category_t category(int32_t c) { return utf8proc_category(c); }

/// tokenizers' is_control (normalizers/bert.rs): the "other" categories
/// (Cc, Cf, Cn, Co, Cs), except tab, newline and carriage return.
bool isControl(int32_t c) {
  if (c == '\t' || c == '\n' || c == '\r')
    return false;
  switch (category(c)) {
  case UTF8PROC_CATEGORY_CC:
  case UTF8PROC_CATEGORY_CF:
  case UTF8PROC_CATEGORY_CN:
  case UTF8PROC_CATEGORY_CO:
  case UTF8PROC_CATEGORY_CS:
    return true;
  default:
    return false;
  }
}

/// tokenizers' is_chinese_char: the CJK Unified Ideographs blocks.
bool isChinese(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/// tokenizers' is_bert_punc: ASCII punctuation or a Unicode P* category.
bool isPunctuation(int32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return true;
  utf8proc_category_t k = category(c);
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/// A character of a word, for single_word added tokens (regex \w).
bool isWordChar(int32_t c) {
  utf8proc_category_t k = category(c);
  return c == '_' || (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
         (k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_NO) ||
         k == UTF8PROC_CATEGORY_PC;
}

bool isLetter(int32_t c) {
  utf8proc_category_t k = category(c);
  return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

bool isNumber(int32_t c) {
  utf8proc_category_t k = category(c);
  return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/// GPT-2's byte-to-character table (pre_tokenizers/byte_level.rs
/// bytes_char): printable Latin-1 bytes stand for themselves, the others
/// for U+0100 onwards, so every byte is a visible character.
const std::vector<int32_t> &byteChars() {
  static const std::vector<int32_t> table = [] {
    std::vector<int32_t> t(256, -1);
    for (int b = 0; b < 256; ++b)
      if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)
        t[b] = b;
    int32_t next = 256;
    for (int b = 0; b < 256; ++b)
      if (t[b] < 0)
        t[b] = next++;
    return t;
  }();
  return table;
}

/// `bytes` as UTF-8 with each invalid sequence one U+FFFD, as Rust's
/// String::from_utf8_lossy (the maximal invalid prefix of a sequence).
std::string lossyUtf8(const std::string &bytes) {
  std::string out;
  const auto *b = reinterpret_cast<const uint8_t *>(bytes.data());
  size_t n = bytes.size(), i = 0;
  while (i < n) {
    uint8_t lead = b[i];
    size_t need = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (lead < 0x80)
      need = 1;
    else if (lead >= 0xC2 && lead <= 0xDF)
      need = 2;
    else if (lead >= 0xE0 && lead <= 0xEF) {
      need = 3;
      lo = lead == 0xE0 ? 0xA0 : 0x80;
      hi = lead == 0xED ? 0x9F : 0xBF;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      need = 4;
      lo = lead == 0xF0 ? 0x90 : 0x80;
      hi = lead == 0xF4 ? 0x8F : 0xBF;
    }
    size_t good = need ? 1 : 0;
    while (good > 0 && good < need && i + good < n) {
      uint8_t c = b[i + good];
      if (c < (good == 1 ? lo : 0x80) || c > (good == 1 ? hi : 0xBF))
        break;
      ++good;
    }
    if (need && good == need) {
      out.append(bytes, i, need);
      i += need;
    } else {
      out += "\xEF\xBF\xBD";
      i += std::max<size_t>(good, 1);
    }
  }
  return out;
}

/// The pieces GPT-2's pattern cuts `text` into (pre_tokenizers/byte_level:
/// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+,
/// leftmost alternative first). Written out because RE2 has no lookahead.
std::vector<CodePoints> gpt2Pieces(const CodePoints &t) {
  std::vector<CodePoints> pieces;
  size_t n = t.size(), i = 0;
  auto run = [&](size_t from, auto &&pred) {
    while (from < n && pred(t[from]))
      ++from;
    return from;
  };
  auto other = [](int32_t c) {
    return !isWhitespace(c) && !isLetter(c) && !isNumber(c);
  };
  while (i < n) {
    size_t end = i;
    if (t[i] == '\'' && i + 1 < n) {
      int32_t a = t[i + 1], b = i + 2 < n ? t[i + 2] : 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd')
        end = i + 2;
      else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') ||
               (a == 'l' && b == 'l'))
        end = i + 3;
    }
    size_t body = t[i] == ' ' ? i + 1 : i; // the optional leading space
    if (end == i && body < n && isLetter(t[body]))
      end = run(body, isLetter);
    if (end == i && body < n && isNumber(t[body]))
      end = run(body, isNumber);
    if (end == i && body < n && other(t[body]))
      end = run(body, other);
    if (end == i) { // whitespace: all of it, less the last before a non-space
      size_t stop = run(i, isWhitespace);
      end = stop == n || stop - i == 1 ? stop : stop - 1;
    }
    pieces.emplace_back(t.begin() + i, t.begin() + end);
    i = end;
  }
  return pieces;
}

absl::StatusOr<CodePoints> decodeUtf8(std::string_view text) {
  CodePoints out;
  out.reserve(text.size());
  const auto *p = reinterpret_cast<const utf8proc_uint8_t *>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  size_t offset = 0;
  while (left > 0) {
    utf8proc_int32_t c;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &c);
    if (n <= 0)
      return absl::InvalidArgumentError(
          absl::StrCat("the text is not valid UTF-8 (byte ", offset, ")"));
    out.push_back(c);
    p += n;
    left -= n;
    offset += static_cast<size_t>(n);
  }
  return out;
}

void appendUtf8(int32_t c, std::string &out) {
  utf8proc_uint8_t buffer[4];
  utf8proc_ssize_t n = utf8proc_encode_char(c, buffer);
  out.append(reinterpret_cast<const char *>(buffer), static_cast<size_t>(n));
}

std::string encodeUtf8(const CodePoints &text) {
  std::string out;
  out.reserve(text.size());
  for (int32_t c : text)
    appendUtf8(c, out);
  return out;
}

/// Canonical decomposition (NFD) of `text`.
CodePoints nfd(const CodePoints &text) {
  std::string utf8 = encodeUtf8(text);
  utf8proc_uint8_t *mapped = nullptr;
  utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t *>(utf8.data()),
      static_cast<utf8proc_ssize_t>(utf8.size()), &mapped,
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  if (n < 0) // only on invalid input, which decodeUtf8 has refused
    return text;
  std::string decomposed(reinterpret_cast<const char *>(mapped),
                         static_cast<size_t>(n));
  std::free(mapped);
  auto out = decodeUtf8(decomposed);
  return out.ok() ? *out : text;
}

//===----------------------------------------------------------------------===//
// tokenizer.json
//===----------------------------------------------------------------------===//

struct AddedToken {
  std::string content;
  CodePoints chars; // normalized when `normalized`
  int64_t id = 0;
  bool special = false, lstrip = false, rstrip = false, singleWord = false,
       normalized = false;
};

/// BertNormalizer's options (normalizers/bert.rs).
struct BertNormalizer {
  bool cleanText = true, chineseChars = true, stripAccents = true,
       lowercase = true;

  CodePoints operator()(const CodePoints &text) const {
    CodePoints out;
    out.reserve(text.size());
    for (int32_t c : text) {
      if (cleanText && (c == 0 || c == 0xFFFD || isControl(c)))
        continue;
      if (cleanText && isWhitespace(c))
        c = ' ';
      if (chineseChars && isChinese(c)) {
        out.insert(out.end(), {' ', c, ' '});
        continue;
      }
      out.push_back(c);
    }
    if (stripAccents) {
      CodePoints kept;
      for (int32_t c : nfd(out))
        if (category(c) != UTF8PROC_CATEGORY_MN)
          kept.push_back(c);
      out = std::move(kept);
    }
    if (lowercase) {
      // Rust's char::to_lowercase: the simple mapping, except U+0130
      // (capital I with dot above), the one character whose unconditional
      // lowercase is two.
      CodePoints lowered;
      lowered.reserve(out.size());
      for (int32_t c : out) {
        if (c == 0x130)
          lowered.insert(lowered.end(), {'i', 0x307});
        else
          lowered.push_back(utf8proc_tolower(c));
      }
      out = std::move(lowered);
    }
    return out;
  }
};

/// A JSON member of `object` as `T`, or an error naming `where`.
template <typename T>
absl::StatusOr<T> member(const Json &object, const char *key,
                         const std::string &where,
                         std::optional<T> fallback = std::nullopt) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (fallback)
      return *fallback;
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": '", key, "' is missing"));
  }
  if constexpr (std::is_same_v<T, bool>) {
    if (it->is_boolean())
      return it->template get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (it->is_string())
      return it->template get<std::string>();
  } else {
    if (it->is_number_integer())
      return it->template get<T>();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": '", key, "' has the wrong type"));
}

} // namespace

struct Tokenizer::Impl {
  std::string origin;
  std::unordered_map<std::string, int64_t> vocab;
  std::vector<std::string> tokens; // by id
  std::vector<bool> specialIds;    // by id
  std::vector<AddedToken> added;
  std::optional<BertNormalizer> normalizer;
  enum class Model { WordPiece, Bpe } model = Model::WordPiece;
  enum class PreTokenizer { None, Bert, ByteLevel } pre = PreTokenizer::None;
  enum class Decoder { None, WordPiece, ByteLevel } decoderKind = Decoder::None;
  bool addPrefixSpace = false, useRegex = true; // ByteLevel
  std::string unkToken, prefix = "##";
  int64_t unkId = -1, maxWordChars = 100;
  std::map<std::pair<std::string, std::string>, int64_t> mergeRanks; // BPE
  bool ignoreMerges = false;
  std::vector<int64_t> before, after; // the post-processor's ids around A
  bool cleanup = true;
  std::string decoderPrefix = "##";

  /// Whether `id` names a token (ids may have gaps).
  bool isToken(int64_t id) const {
    return id >= 0 && id < static_cast<int64_t>(tokens.size()) &&
           !tokens[id].empty();
  }
  /// The component `field` of kind `type`, which Kiln does not read yet;
  /// `reads` names the kinds it does.
  absl::Status unsupported(const char *field, const std::string &type,
                           const char *reads) const {
    return error(absl::StrCat(
        field, " '", type, "' is not supported yet (Kiln reads ", reads, ")"));
  }
  absl::Status error(const std::string &what) const {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", what));
  }
  absl::Status parse(const Json &root);
  absl::Status parseModel(const Json &model);
  absl::Status parseAddedTokens(const Json &list);
  absl::Status parseNormalizer(const Json &n);
  absl::Status parsePostProcessor(const Json &p);
  absl::StatusOr<std::vector<int64_t>> specialIdsOf(const Json &tokens,
                                                    const std::string &name);

  /// Splits `text` at the added tokens whose `normalized` flag is
  /// `normalized` (AddedVocabulary::find_matches: leftmost-longest, then
  /// single_word, lstrip and rstrip): each piece is either an added token's
  /// id or text (-1) still to tokenize.
  std::vector<std::pair<int64_t, CodePoints>> splitAdded(const CodePoints &text,
                                                         bool normalized) const;
  void wordPiece(const CodePoints &word, std::vector<int64_t> &ids) const;
  void bpe(const CodePoints &word, std::vector<int64_t> &ids) const;
  absl::Status parseMerges(const Json &merges);
  void tokenize(const CodePoints &text, std::vector<int64_t> &ids) const;
};

absl::Status Tokenizer::Impl::parseModel(const Json &model) {
  if (!model.is_object())
    return error("'model' is not an object");
  auto type = member<std::string>(model, "type", origin + ": model",
                                  std::string("WordPiece"));
  if (!type.ok())
    return type.status();
  if (*type != "WordPiece" && *type != "BPE")
    return unsupported("model type", *type, "WordPiece and BPE tokenizers");
  if (*type == "BPE") {
    this->model = Model::Bpe;
    const std::string where = origin + ": model";
    for (const char *key :
         {"continuing_subword_prefix", "end_of_word_suffix", "dropout"})
      if (model.contains(key) && !model[key].is_null() &&
          model[key] != "") // GPT-2's file writes "" for none
        return error(
            absl::StrCat("model: BPE with '", key, "' is not supported yet"));
    auto fallback = member<bool>(model, "byte_fallback", where, false);
    auto ignore = member<bool>(model, "ignore_merges", where, false);
    auto unk = member<std::string>(model, "unk_token", where, std::string());
    for (const absl::Status &st :
         {fallback.status(), ignore.status(), unk.status()})
      if (!st.ok())
        return st;
    if (*fallback)
      return error("model: BPE with byte_fallback is not supported yet");
    ignoreMerges = *ignore;
    unkToken = *unk;
  } else {
    auto unk = member<std::string>(model, "unk_token", origin + ": model");
    auto prefixValue =
        member<std::string>(model, "continuing_subword_prefix",
                            origin + ": model", std::string("##"));
    auto maxChars = member<int64_t>(model, "max_input_chars_per_word",
                                    origin + ": model", int64_t{100});
    for (const absl::Status &s :
         {unk.status(), prefixValue.status(), maxChars.status()})
      if (!s.ok())
        return s;
    unkToken = *unk;
    prefix = *prefixValue;
    maxWordChars = *maxChars;
  }
  auto vocabIt = model.find("vocab");
  if (vocabIt == model.end() || !vocabIt->is_object() || vocabIt->empty())
    return error("model: 'vocab' is missing or empty");
  for (const auto &[token, id] : vocabIt->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() >= (int64_t{1} << 24))
      return error(absl::StrCat("model: the id of '", token,
                                "' is not an integer in [0, 2^24)"));
    int64_t value = id.get<int64_t>();
    vocab[token] = value;
    if (value >= static_cast<int64_t>(tokens.size()))
      tokens.resize(value + 1);
    if (!tokens[value].empty())
      return error(absl::StrCat("model: id ", value, " is given to both '",
                                tokens[value], "' and '", token, "'"));
    tokens[value] = token;
  }
  auto unkIt = vocab.find(unkToken);
  if (this->model == Model::Bpe) {
    if (!unkToken.empty() && unkIt != vocab.end())
      unkId = unkIt->second;
    auto merges = model.find("merges");
    if (merges == model.end() || !merges->is_array())
      return error("model: BPE without a 'merges' list");
    return parseMerges(*merges);
  }
  if (unkIt == vocab.end())
    return error(absl::StrCat("model: the unknown token '", unkToken,
                              "' is not in "
                              "the vocabulary"));
  unkId = unkIt->second;
  return absl::OkStatus();
}

absl::Status Tokenizer::Impl::parseMerges(const Json &merges) {
  // Either "a b" strings (older files) or ["a", "b"] pairs.
  int64_t rank = 0;
  for (const Json &m : merges) {
    std::pair<std::string, std::string> pair;
    if (m.is_string()) {
      std::string text = m.get<std::string>();
      size_t space = text.find(' ');
      if (space == std::string::npos || space == 0 ||
          space + 1 >= text.size() ||
          text.find(' ', space + 1) != std::string::npos)
        return error(absl::StrCat("model: merge ", rank, " ('", text,
                                  "') is not two tokens"));
      pair = {text.substr(0, space), text.substr(space + 1)};
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() &&
               m[1].is_string()) {
      pair = {m[0].get<std::string>(), m[1].get<std::string>()};
    } else {
      return error(absl::StrCat("model: merge ", rank, " is not two tokens"));
    }
    if (!vocab.count(pair.first + pair.second))
      return error(absl::StrCat("model: merge ", rank, " makes '",
                                pair.first + pair.second,
                                "', which is not in the vocabulary"));
    mergeRanks.emplace(std::move(pair), rank++);
  }
  return absl::OkStatus();
}

absl::Status Tokenizer::Impl::parseNormalizer(const Json &n) {
  if (n.is_null())
    return absl::OkStatus();
  auto type = member<std::string>(n, "type", origin + ": normalizer");
  if (!type.ok())
    return type.status();
  if (*type != "BertNormalizer")
    return unsupported("normalizer", *type, "BertNormalizer");
  const std::string where = origin + ": normalizer";
  BertNormalizer b;
  auto clean = member<bool>(n, "clean_text", where, true);
  auto chinese = member<bool>(n, "handle_chinese_chars", where, true);
  auto lower = member<bool>(n, "lowercase", where, true);
  for (const absl::Status &s :
       {clean.status(), chinese.status(), lower.status()})
    if (!s.ok())
      return s;
  b.cleanText = *clean;
  b.chineseChars = *chinese;
  b.lowercase = *lower;
  // strip_accents: null follows lowercase.
  auto strip = member<bool>(n, "strip_accents", where, b.lowercase);
  if (!strip.ok())
    return strip.status();
  b.stripAccents = *strip;
  normalizer = b;
  return absl::OkStatus();
}

absl::Status Tokenizer::Impl::parseAddedTokens(const Json &list) {
  if (list.is_null())
    return absl::OkStatus();
  if (!list.is_array())
    return error("'added_tokens' is not a list");
  for (const Json &t : list) {
    const std::string where = origin + ": added token";
    if (!t.is_object())
      return error("an added token is not an object");
    AddedToken a;
    auto content = member<std::string>(t, "content", where);
    auto id = member<int64_t>(t, "id", where);
    auto special = member<bool>(t, "special", where, false);
    auto lstrip = member<bool>(t, "lstrip", where, false);
    auto rstrip = member<bool>(t, "rstrip", where, false);
    auto single = member<bool>(t, "single_word", where, false);
    for (const absl::Status &s :
         {content.status(), id.status(), special.status(), lstrip.status(),
          rstrip.status(), single.status()})
      if (!s.ok())
        return s;
    a.content = *content;
    a.id = *id;
    a.special = *special;
    a.lstrip = *lstrip;
    a.rstrip = *rstrip;
    a.singleWord = *single;
    // Special tokens are matched as written unless they say otherwise.
    auto normalized = member<bool>(t, "normalized", where, !a.special);
    if (!normalized.ok())
      return normalized.status();
    a.normalized = *normalized;
    if (a.content.empty() || a.id < 0 || a.id >= (int64_t{1} << 24))
      return error(absl::StrCat("added token '", a.content,
                                "' is empty or its id is outside [0, 2^24)"));
    auto chars = decodeUtf8(a.content);
    if (!chars.ok())
      return error(
          absl::StrCat("added token ", a.id, ": ", chars.status().message()));
    a.chars = *chars;
    added.push_back(std::move(a));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>>
Tokenizer::Impl::specialIdsOf(const Json &specials, const std::string &name) {
  auto it = specials.find(name);
  if (it == specials.end() || !it->is_object())
    return error(absl::StrCat("post_processor: special token '", name,
                              "' is not defined"));
  auto ids = it->find("ids");
  if (ids == it->end() || !ids->is_array())
    return error(
        absl::StrCat("post_processor: special token '", name, "' has no ids"));
  std::vector<int64_t> out;
  for (const Json &id : *ids) {
    if (!id.is_number_integer() || !isToken(id.get<int64_t>()))
      return error(absl::StrCat("post_processor: an id of '", name,
                                "' is outside the vocabulary"));
    out.push_back(id.get<int64_t>());
  }
  return out;
}

absl::Status Tokenizer::Impl::parsePostProcessor(const Json &p) {
  if (p.is_null())
    return absl::OkStatus();
  auto type = member<std::string>(p, "type", origin + ": post_processor");
  if (!type.ok())
    return type.status();
  auto idOf = [&](const char *key) -> absl::StatusOr<int64_t> {
    auto it = p.find(key);
    if (it == p.end() || !it->is_array() || it->size() != 2 ||
        !(*it)[1].is_number_integer() || !isToken((*it)[1].get<int64_t>()))
      return error(absl::StrCat("post_processor: '", key,
                                "' is not [token, id] with an id in the "
                                "vocabulary"));
    return (*it)[1].get<int64_t>();
  };
  if (*type == "ByteLevel") // offsets only: the ids pass through
    return absl::OkStatus();
  if (*type == "BertProcessing" || *type == "RobertaProcessing") {
    auto cls = idOf("cls");
    auto sep = idOf("sep");
    if (!cls.ok())
      return cls.status();
    if (!sep.ok())
      return sep.status();
    before = {*cls};
    after = {*sep};
    return absl::OkStatus();
  }
  if (*type != "TemplateProcessing")
    return unsupported("post_processor", *type,
                       "TemplateProcessing and BertProcessing");
  auto single = p.find("single");
  auto specials = p.find("special_tokens");
  if (single == p.end() || !single->is_array() || specials == p.end() ||
      !specials->is_object())
    return error("post_processor: 'single' or 'special_tokens' is missing");
  bool seenSequence = false;
  for (const Json &piece : *single) {
    if (!piece.is_object() || piece.size() != 1)
      return error("post_processor: a piece of 'single' is malformed");
    if (piece.contains("Sequence")) {
      if (seenSequence)
        return error("post_processor: 'single' holds the sequence twice");
      seenSequence = true;
      continue;
    }
    auto special = piece.find("SpecialToken");
    if (special == piece.end() || !special->is_object())
      return error("post_processor: a piece of 'single' is malformed");
    auto name =
        member<std::string>(*special, "id", origin + ": post_processor");
    if (!name.ok())
      return name.status();
    auto ids = specialIdsOf(*specials, *name);
    if (!ids.ok())
      return ids.status();
    std::vector<int64_t> &side = seenSequence ? after : before;
    side.insert(side.end(), ids->begin(), ids->end());
  }
  if (!seenSequence)
    return error("post_processor: 'single' does not hold the sequence");
  return absl::OkStatus();
}

absl::Status Tokenizer::Impl::parse(const Json &root) {
  if (!root.is_object())
    return error("not a JSON object (a tokenizer.json is one)");
  auto model = root.find("model");
  if (model == root.end())
    return error("'model' is missing");
  if (absl::Status s = parseModel(*model); !s.ok())
    return s;
  auto field = [&](const char *key) -> const Json & {
    static const Json null;
    auto it = root.find(key);
    return it == root.end() ? null : *it;
  };
  if (absl::Status s = parseAddedTokens(field("added_tokens")); !s.ok())
    return s;
  if (absl::Status s = parseNormalizer(field("normalizer")); !s.ok())
    return s;
  const Json &pre = field("pre_tokenizer");
  if (!pre.is_null()) {
    auto type = member<std::string>(pre, "type", origin + ": pre_tokenizer");
    if (!type.ok())
      return type.status();
    if (*type == "BertPreTokenizer") {
      this->pre = PreTokenizer::Bert;
    } else if (*type == "ByteLevel") {
      const std::string where = origin + ": pre_tokenizer";
      auto prefixSpace = member<bool>(pre, "add_prefix_space", where, true);
      auto regex = member<bool>(pre, "use_regex", where, true);
      if (!prefixSpace.ok())
        return prefixSpace.status();
      if (!regex.ok())
        return regex.status();
      this->pre = PreTokenizer::ByteLevel;
      addPrefixSpace = *prefixSpace;
      useRegex = *regex;
    } else {
      return unsupported("pre_tokenizer", *type,
                         "BertPreTokenizer and ByteLevel");
    }
  }
  const Json &decoder = field("decoder");
  if (!decoder.is_null()) {
    const std::string where = origin + ": decoder";
    auto type = member<std::string>(decoder, "type", where);
    if (!type.ok())
      return type.status();
    if (*type == "ByteLevel") {
      decoderKind = Decoder::ByteLevel;
    } else if (*type == "WordPiece") {
      auto p = member<std::string>(decoder, "prefix", where, std::string("##"));
      auto c = member<bool>(decoder, "cleanup", where, true);
      if (!p.ok())
        return p.status();
      if (!c.ok())
        return c.status();
      decoderKind = Decoder::WordPiece;
      decoderPrefix = *p;
      cleanup = *c;
    } else {
      return unsupported("decoder", *type, "WordPiece and ByteLevel");
    }
  }

  // Added tokens take their ids; one outside the model's vocabulary grows
  // it. A normalized one is matched in normalized text, so its content is
  // normalized too.
  for (AddedToken &a : added) {
    if (a.id >= static_cast<int64_t>(tokens.size()))
      tokens.resize(a.id + 1);
    if (!tokens[a.id].empty() && tokens[a.id] != a.content)
      return error(absl::StrCat("added token '", a.content, "' takes id ", a.id,
                                ", which is '", tokens[a.id], "'"));
    tokens[a.id] = a.content;
    if (a.normalized && normalizer)
      a.chars = (*normalizer)(a.chars);
  }
  specialIds.assign(tokens.size(), false);
  for (const AddedToken &a : added)
    if (a.special)
      specialIds[a.id] = true;
  // Last: its ids must name tokens of the whole vocabulary.
  return parsePostProcessor(field("post_processor"));
}

std::vector<std::pair<int64_t, CodePoints>>
Tokenizer::Impl::splitAdded(const CodePoints &text, bool normalized) const {
  std::vector<std::pair<int64_t, CodePoints>> pieces;
  size_t emitted = 0; // text before this offset is in `pieces`
  size_t at = 0;
  while (at < text.size()) {
    const AddedToken *best = nullptr;
    for (const AddedToken &a : added) {
      if (a.normalized != normalized || a.chars.empty() ||
          a.chars.size() > text.size() - at ||
          (best && a.chars.size() <= best->chars.size()))
        continue;
      if (std::equal(a.chars.begin(), a.chars.end(), text.begin() + at))
        best = &a;
    }
    if (!best) {
      ++at;
      continue;
    }
    size_t start = at, stop = at + best->chars.size();
    if (best->singleWord && ((start > 0 && isWordChar(text[start - 1])) ||
                             (stop < text.size() && isWordChar(text[stop])))) {
      ++at;
      continue;
    }
    if (best->lstrip)
      while (start > emitted && isWhitespace(text[start - 1]))
        --start;
    if (best->rstrip)
      while (stop < text.size() && isWhitespace(text[stop]))
        ++stop;
    if (emitted < start)
      pieces.push_back(
          {-1, CodePoints(text.begin() + emitted, text.begin() + start)});
    pieces.push_back({best->id, {}});
    emitted = at = stop;
  }
  if (emitted < text.size())
    pieces.push_back({-1, CodePoints(text.begin() + emitted, text.end())});
  return pieces;
}

void Tokenizer::Impl::wordPiece(const CodePoints &word,
                                std::vector<int64_t> &ids) const {
  // models/wordpiece: the longest vocabulary entry from the start, then
  // from where it ended (with the continuation prefix); a word with a part
  // that matches nothing, or longer than max_input_chars_per_word, is one
  // unknown token.
  if (static_cast<int64_t>(word.size()) > maxWordChars) {
    ids.push_back(unkId);
    return;
  }
  std::vector<int64_t> pieces;
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    int64_t found = -1;
    while (start < end) {
      std::string piece = start > 0 ? prefix : std::string();
      piece += encodeUtf8(CodePoints(word.begin() + start, word.begin() + end));
      auto it = vocab.find(piece);
      if (it != vocab.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (found < 0) {
      ids.push_back(unkId);
      return;
    }
    pieces.push_back(found);
    start = end;
  }
  ids.insert(ids.end(), pieces.begin(), pieces.end());
}

void Tokenizer::Impl::bpe(const CodePoints &word,
                          std::vector<int64_t> &ids) const {
  // models/bpe: the word's characters, then, again and again, the pair of
  // neighbours with the lowest merge rank (the leftmost among equals)
  // merged into one symbol; each symbol is then a vocabulary entry.
  std::vector<std::string> symbols;
  for (int32_t c : word) {
    symbols.emplace_back();
    appendUtf8(c, symbols.back());
  }
  if (ignoreMerges) {
    std::string whole;
    for (const std::string &sym : symbols)
      whole += sym;
    if (auto it = vocab.find(whole); it != vocab.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  while (symbols.size() > 1) {
    int64_t best = -1;
    size_t at = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = mergeRanks.find({symbols[i], symbols[i + 1]});
      if (it != mergeRanks.end() && (best < 0 || it->second < best)) {
        best = it->second;
        at = i;
      }
    }
    if (best < 0)
      break;
    symbols[at] += symbols[at + 1];
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  for (const std::string &sym : symbols) {
    if (auto it = vocab.find(sym); it != vocab.end())
      ids.push_back(it->second);
    else if (unkId >= 0)
      ids.push_back(unkId);
  }
}

void Tokenizer::Impl::tokenize(const CodePoints &text,
                               std::vector<int64_t> &ids) const {
  auto word = [&](const CodePoints &w) {
    if (w.empty())
      return;
    if (model == Model::Bpe)
      bpe(w, ids);
    else
      wordPiece(w, ids);
  };
  switch (pre) {
  case PreTokenizer::None: // the text is one word
    word(text);
    return;
  case PreTokenizer::Bert: {
    // pre_tokenizers/bert: whitespace separates words and is dropped; each
    // punctuation mark is a word of its own.
    CodePoints current;
    for (int32_t c : text) {
      if (isWhitespace(c) || isPunctuation(c)) {
        word(current);
        current.clear();
        if (!isWhitespace(c))
          word({c});
        continue;
      }
      current.push_back(c);
    }
    word(current);
    return;
  }
  case PreTokenizer::ByteLevel: {
    // pre_tokenizers/byte_level: a space in front (add_prefix_space), GPT-2's
    // pattern, then each piece's UTF-8 bytes as byte characters.
    if (text.empty())
      return;
    CodePoints spaced = text;
    if (addPrefixSpace && spaced.front() != ' ')
      spaced.insert(spaced.begin(), ' ');
    std::vector<CodePoints> pieces =
        useRegex ? gpt2Pieces(spaced) : std::vector<CodePoints>{spaced};
    for (const CodePoints &piece : pieces) {
      CodePoints mapped;
      for (char byte : encodeUtf8(piece))
        mapped.push_back(byteChars()[static_cast<uint8_t>(byte)]);
      word(mapped);
    }
    return;
  }
  }
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>>
Tokenizer::parse(std::string_view json, const std::string &origin) {
  Json root = Json::parse(json.begin(), json.end(), nullptr,
                          /*allow_exceptions=*/false);
  auto impl = std::make_unique<Impl>();
  impl->origin = origin;
  if (root.is_discarded())
    return impl->error("not valid JSON");
  if (absl::Status s = impl->parse(root); !s.ok())
    return s;
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Tokenizer>>
Tokenizer::open(const std::string &path) {
  std::string file = path;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    file = (std::filesystem::path(path) / "tokenizer.json").string();
  auto text = readFile(file);
  if (!text.ok())
    return text.status();
  return parse(*text, file);
}

absl::StatusOr<std::vector<int64_t>>
Tokenizer::encode(std::string_view text, bool addSpecialTokens) const {
  const Impl &s = *impl_;
  auto chars = decodeUtf8(text);
  if (!chars.ok())
    return chars.status();
  std::vector<int64_t> ids;
  if (addSpecialTokens)
    ids = s.before;
  for (auto &[id, raw] : s.splitAdded(*chars, /*normalized=*/false)) {
    if (id >= 0) {
      ids.push_back(id);
      continue;
    }
    CodePoints normal = s.normalizer ? (*s.normalizer)(raw) : raw;
    for (auto &[innerId, piece] : s.splitAdded(normal, /*normalized=*/true)) {
      if (innerId >= 0)
        ids.push_back(innerId);
      else
        s.tokenize(piece, ids);
    }
  }
  if (addSpecialTokens)
    ids.insert(ids.end(), s.after.begin(), s.after.end());
  return ids;
}

absl::StatusOr<std::string> Tokenizer::decode(const std::vector<int64_t> &ids,
                                              bool skipSpecialTokens) const {
  const Impl &s = *impl_;
  std::vector<std::string> pieces;
  for (int64_t id : ids) {
    if (!s.isToken(id))
      return absl::InvalidArgumentError(
          absl::StrCat("id ", id, " is outside the vocabulary of ", s.origin));
    if (skipSpecialTokens && s.specialIds[id])
      continue;
    pieces.push_back(s.tokens[id]);
  }
  if (s.decoderKind == Impl::Decoder::ByteLevel) {
    // decoders/byte_level: each token's characters back to their bytes (a
    // token with a character outside the table stays as written), then
    // the bytes as UTF-8, invalid sequences replaced.
    static const std::unordered_map<int32_t, uint8_t> kBytes = [] {
      std::unordered_map<int32_t, uint8_t> m;
      for (int b = 0; b < 256; ++b)
        m[byteChars()[b]] = static_cast<uint8_t>(b);
      return m;
    }();
    std::string bytes;
    for (const std::string &piece : pieces) {
      auto chars = decodeUtf8(piece);
      std::string mapped;
      bool all = chars.ok();
      for (int32_t c : all ? *chars : CodePoints()) {
        auto it = kBytes.find(c);
        if (it == kBytes.end()) {
          all = false;
          break;
        }
        mapped += static_cast<char>(it->second);
      }
      bytes += all ? mapped : piece;
    }
    return lossyUtf8(bytes);
  }
  if (s.decoderKind != Impl::Decoder::WordPiece) {
    std::string out;
    for (size_t i = 0; i < pieces.size(); ++i)
      out += (i ? " " : "") + pieces[i];
    return out;
  }
  // decoders/wordpiece: a continuation joins the previous piece, any other
  // piece is preceded by a space; cleanup undoes the pre-tokenizer's
  // spaces before punctuation and contractions, piece by piece.
  static const std::pair<const char *, const char *> kCleanup[] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
      {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
      {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  std::string out;
  for (size_t i = 0; i < pieces.size(); ++i) {
    std::string piece = pieces[i];
    if (i > 0) {
      if (piece.rfind(s.decoderPrefix, 0) == 0)
        piece.erase(0, s.decoderPrefix.size());
      else
        piece = " " + piece;
    }
    if (s.cleanup)
      for (const auto &[from, to] : kCleanup) {
        std::string f = from;
        for (size_t at = piece.find(f); at != std::string::npos;
             at = piece.find(f, at + std::string_view(to).size()))
          piece.replace(at, f.size(), to);
      }
    out += piece;
  }
  return out;
}

int64_t Tokenizer::vocabSize() const {
  return static_cast<int64_t>(impl_->tokens.size());
}

} // namespace kiln
