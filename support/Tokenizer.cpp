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
#include "support/Status.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
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

/// The pieces Llama 3's pattern cuts `text` into
/// ((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
///  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+, the first
/// alternative that matches at each position, as a backtracking engine
/// finds it). Written out because RE2 has no lookahead.
std::vector<CodePoints> llama3Pieces(const CodePoints &t) {
  std::vector<CodePoints> pieces;
  const size_t n = t.size();
  auto newline = [](int32_t c) { return c == '\r' || c == '\n'; };
  auto other = [](int32_t c) {
    return !isWhitespace(c) && !isLetter(c) && !isNumber(c);
  };
  auto lower = [](int32_t c) {
    return c == 0x17F ? 's' : (c >= 'A' && c <= 'Z' ? c + 32 : c);
  };
  auto run = [&](size_t from, auto &&pred) {
    while (from < n && pred(t[from]))
      ++from;
    return from;
  };
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (t[i] == '\'' && i + 1 < n) {
      int32_t a = lower(t[i + 1]), b = i + 2 < n ? lower(t[i + 2]) : 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd')
        end = i + 2;
      else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') ||
               (a == 'l' && b == 'l'))
        end = i + 3;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (end == i) {
      if (isLetter(t[i]))
        end = run(i, isLetter);
      else if (!newline(t[i]) && !isNumber(t[i]) && i + 1 < n &&
               isLetter(t[i + 1]))
        end = run(i + 1, isLetter);
    }
    // \p{N}{1,3}
    if (end == i && isNumber(t[i])) {
      end = i + 1;
      while (end < n && end < i + 3 && isNumber(t[end]))
        ++end;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    if (end == i) {
      size_t body = t[i] == ' ' && i + 1 < n && other(t[i + 1]) ? i + 1 : i;
      if (other(t[body]))
        end = run(run(body, other), newline);
    }
    if (end == i) {
      // \s*[\r\n]+: up to the last line break of the whitespace run.
      size_t stop = run(i, isWhitespace);
      for (size_t k = stop; k > i && end == i; --k)
        if (newline(t[k - 1]))
          end = k;
      // \s+(?!\S), then \s+: all of it, less the last before a
      // non-space.
      if (end == i)
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

/// `text` through utf8proc_map with `options` (NFC, NFKC, ...).
CodePoints unicodeMap(const CodePoints &text, int options) {
  std::string utf8 = encodeUtf8(text);
  utf8proc_uint8_t *mapped = nullptr;
  utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t *>(utf8.data()),
                   static_cast<utf8proc_ssize_t>(utf8.size()), &mapped,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | options));
  if (n < 0)
    return text;
  std::string out(reinterpret_cast<const char *>(mapped),
                  static_cast<size_t>(n));
  std::free(mapped);
  auto chars = decodeUtf8(out);
  return chars.ok() ? *chars : text;
}

/// Canonical decomposition (NFD) of `text`.
CodePoints nfd(const CodePoints &text) {
  return unicodeMap(text, UTF8PROC_DECOMPOSE);
}

/// Rust's char::to_lowercase over `text`: the simple mapping, except
/// U+0130 (capital I with dot above), the one character whose
/// unconditional lowercase is two.
CodePoints lowercase(const CodePoints &text) {
  CodePoints lowered;
  lowered.reserve(text.size());
  for (int32_t c : text) {
    if (c == 0x130)
      lowered.insert(lowered.end(), {'i', 0x307});
    else
      lowered.push_back(utf8proc_tolower(c));
  }
  return lowered;
}

/// SentencePiece's compiled normalization rules, as the Precompiled
/// normalizer holds them (normalizers/precompiled.rs, the spm_precompiled
/// crate): a Darts-clone double-array trie over UTF-8 byte strings whose
/// values index NUL-terminated replacements.
class CharsMap {
public:
  /// The blob: a little-endian u32 trie size in bytes, the trie's u32
  /// units, then the replacements.
  static std::optional<CharsMap> parse(const std::string &blob) {
    if (blob.size() < 4)
      return std::nullopt;
    auto u32 = [&](size_t at) {
      uint32_t v = 0;
      for (int i = 3; i >= 0; --i)
        v = (v << 8) | static_cast<uint8_t>(blob[at + i]);
      return v;
    };
    uint32_t trieBytes = u32(0);
    if (trieBytes % 4 != 0 || trieBytes > blob.size() - 4 || trieBytes == 0)
      return std::nullopt;
    CharsMap map;
    for (size_t at = 4; at < 4 + trieBytes; at += 4)
      map.units_.push_back(u32(at));
    map.normalized_ = blob.substr(4 + trieBytes);
    return map;
  }

  /// The replacement of the shortest rule that is a prefix of `bytes`
  /// (the crate takes the first match, whatever its length), or nullopt.
  std::optional<std::string_view> transform(std::string_view bytes) const {
    size_t node = 0;
    if (units_.empty())
      return std::nullopt;
    node ^= offset(units_[0]);
    for (char ch : bytes) {
      auto c = static_cast<uint8_t>(ch);
      if (c == 0)
        break;
      node ^= c;
      if (node >= units_.size() || label(units_[node]) != c)
        return std::nullopt;
      uint32_t unit = units_[node];
      node ^= offset(unit);
      if ((unit >> 8) & 1) { // has a leaf: a rule ends here
        if (node >= units_.size())
          return std::nullopt;
        size_t begin = units_[node] & ((1u << 31) - 1);
        if (begin >= normalized_.size())
          return std::nullopt;
        size_t end = normalized_.find('\0', begin);
        return std::string_view(normalized_)
            .substr(begin,
                    end == std::string::npos ? std::string::npos : end - begin);
      }
    }
    return std::nullopt;
  }

private:
  static uint32_t label(uint32_t unit) { return unit & ((1u << 31) | 0xFF); }
  static size_t offset(uint32_t unit) {
    return (unit >> 10) << ((unit & (1u << 9)) >> 6);
  }
  std::vector<uint32_t> units_;
  std::string normalized_;
};

/// The Precompiled normalizer: each extended grapheme cluster shorter than
/// 6 bytes replaced whole when a rule matches it, else each of its
/// characters replaced by its rule or kept.
CodePoints precompiled(const CharsMap &map, const CodePoints &text) {
  std::string out;
  auto apply = [&](const std::string &part) {
    if (auto replaced = map.transform(part)) {
      out += *replaced;
      return true;
    }
    return false;
  };
  utf8proc_int32_t state = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = i + 1;
    while (end < text.size() &&
           !utf8proc_grapheme_break_stateful(text[end - 1], text[end], &state))
      ++end;
    state = 0;
    std::string grapheme =
        encodeUtf8(CodePoints(text.begin() + i, text.begin() + end));
    if (grapheme.size() >= 6 || !apply(grapheme))
      for (size_t k = i; k < end; ++k) {
        std::string part;
        appendUtf8(text[k], part);
        if (!apply(part))
          out += part;
      }
    i = end;
  }
  // Replacements that are not UTF-8 (a damaged map) end the rule's text.
  auto chars = decodeUtf8(lossyUtf8(out));
  return chars.ok() ? *chars : text;
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
    if (lowercase)
      out = kiln::lowercase(out);
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
  /// The normalizer, as the steps of a Sequence (one for a single one).
  using Normalizer = std::function<CodePoints(const CodePoints &)>;
  std::vector<Normalizer> normalizers;
  enum class Model { WordPiece, Bpe, Unigram } model = Model::WordPiece;
  /// The pre-tokenizer, as the steps of a Sequence: each splits every
  /// piece further. `atStart`: the piece begins the input (Metaspace's
  /// "first" prepend scheme).
  struct Piece {
    CodePoints text;
    bool atStart = false;
  };
  using PreTokenizer = std::function<void(std::vector<Piece> &)>;
  std::vector<PreTokenizer> preTokenizers;
  /// The decoder, as the steps of a Sequence: each maps the token strings
  /// to new ones (decode_chain); the result is their concatenation. None:
  /// the tokens joined with spaces.
  using Decoder =
      std::function<std::vector<std::string>(std::vector<std::string>)>;
  std::vector<Decoder> decoders;
  bool hasDecoder = false;
  std::string unkToken, prefix = "##";
  /// Unigram: each id's log probability, the lowest, the longest piece in
  /// bytes, and byte fallback (<0xXX> tokens for what is unknown).
  std::vector<double> scores;
  double minScore = 0;
  size_t longestPiece = 0;
  bool byteFallback = false;
  int64_t unkId = -1, maxWordChars = 100;
  std::map<std::pair<std::string, std::string>, int64_t> mergeRanks; // BPE
  bool ignoreMerges = false;
  /// The post-processor's templates, for one sequence and for a pair: each
  /// item a sequence (0: A, 1: B) or special tokens' ids (sequence -1),
  /// with its type id. Without a post-processor (or ByteLevel's): A; A then
  /// B with type id 1, as tokenizers' default_process gives.
  struct TemplateItem {
    int sequence = -1;
    std::vector<int64_t> ids;
    int64_t typeId = 0;
  };
  std::vector<TemplateItem> single = {{0, {}, 0}},
                            pair = {{0, {}, 0}, {1, {}, 1}};
  bool templated = false; // a post-processor set them
  bool fuseUnk = false;   // BPE: consecutive unknown characters, one token

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
  absl::Status parseUnigram(const Json &model);
  absl::Status parsePreTokenizer(const Json &pre);
  absl::Status parseDecoder(const Json &decoder);
  CodePoints normalize(const CodePoints &text) const {
    CodePoints out = text;
    for (const Normalizer &n : normalizers)
      out = n(out);
    return out;
  }
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
  /// With byte_fallback, the <0xXX> tokens of `piece`'s bytes when the
  /// vocabulary has every one; else none.
  std::vector<std::string> byteTokens(std::string_view piece) const {
    std::vector<std::string> out;
    for (char b : byteFallback ? piece : std::string_view()) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<uint8_t>(b));
      if (!vocab.count(name))
        return {};
      out.emplace_back(name);
    }
    return out;
  }
  void unigram(const CodePoints &word, std::vector<int64_t> &ids) const;
  absl::Status parseMerges(const Json &merges);
  void tokenize(const CodePoints &text, bool atStart,
                std::vector<int64_t> &ids) const;
  /// `text`'s ids without the post-processor's tokens.
  absl::StatusOr<std::vector<int64_t>>
  tokenizeText(std::string_view text) const;
  Encoding applyTemplate(const std::vector<TemplateItem> &items,
                         const std::vector<int64_t> *sequences[2],
                         bool addSpecialTokens) const;
};

absl::Status Tokenizer::Impl::parseModel(const Json &model) {
  if (!model.is_object())
    return error("'model' is not an object");
  auto type = member<std::string>(model, "type", origin + ": model",
                                  std::string("WordPiece"));
  if (!type.ok())
    return type.status();
  if (*type == "Unigram")
    return parseUnigram(model);
  if (*type != "WordPiece" && *type != "BPE")
    return unsupported("model type", *type,
                       "WordPiece, BPE and Unigram tokenizers");
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
    auto fuse = member<bool>(model, "fuse_unk", where, false);
    auto ignore = member<bool>(model, "ignore_merges", where, false);
    auto unk = member<std::string>(model, "unk_token", where, std::string());
    for (const absl::Status &st :
         {fallback.status(), fuse.status(), ignore.status(), unk.status()})
      if (!st.ok())
        return st;
    byteFallback = *fallback;
    fuseUnk = *fuse;
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

absl::Status Tokenizer::Impl::parseUnigram(const Json &model) {
  // models/unigram: the vocabulary is a list of [piece, log probability],
  // ids in order.
  this->model = Model::Unigram;
  const std::string where = origin + ": model";
  auto fallback = member<bool>(model, "byte_fallback", where, false);
  if (!fallback.ok())
    return fallback.status();
  byteFallback = *fallback;
  auto list = model.find("vocab");
  if (list == model.end() || !list->is_array() || list->empty() ||
      list->size() > (size_t{1} << 24))
    return error("model: 'vocab' is missing, empty or larger than 2^24");
  for (const Json &entry : *list) {
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() ||
        !entry[1].is_number())
      return error(absl::StrCat("model: vocabulary entry ", tokens.size(),
                                " is not [piece, score]"));
    std::string piece = entry[0].get<std::string>();
    double score = entry[1].get<double>();
    if (piece.empty() || !std::isfinite(score) || !decodeUtf8(piece).ok())
      return error(absl::StrCat("model: vocabulary entry ", tokens.size(),
                                " is empty, not UTF-8 or has no finite score"));
    if (!vocab.emplace(piece, static_cast<int64_t>(tokens.size())).second)
      return error(absl::StrCat("model: the piece '", piece,
                                "' is in the vocabulary twice"));
    minScore = tokens.empty() ? score : std::min(minScore, score);
    longestPiece = std::max(longestPiece, piece.size());
    tokens.push_back(std::move(piece));
    scores.push_back(score);
  }
  auto unk = model.find("unk_id");
  if (unk != model.end() && !unk->is_null()) {
    if (!unk->is_number_integer() || unk->get<int64_t>() < 0 ||
        unk->get<int64_t>() >= static_cast<int64_t>(tokens.size()))
      return error("model: 'unk_id' is not an id of the vocabulary");
    unkId = unk->get<int64_t>();
  }
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
  const std::string where = origin + ": normalizer";
  auto type = member<std::string>(n, "type", where);
  if (!type.ok())
    return type.status();
  if (*type == "Sequence") {
    auto list = n.find("normalizers");
    if (list == n.end() || !list->is_array())
      return error("normalizer: a Sequence without 'normalizers'");
    for (const Json &step : *list)
      if (absl::Status s = parseNormalizer(step); !s.ok())
        return s;
    return absl::OkStatus();
  }
  if (*type == "BertNormalizer") {
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
    normalizers.push_back(b);
    return absl::OkStatus();
  }
  if (*type == "Precompiled") {
    // SentencePiece's rules (T5, ALBERT, XLNet...); null or empty: none.
    auto charsmap = n.find("precompiled_charsmap");
    if (charsmap == n.end() || charsmap->is_null() ||
        (charsmap->is_string() && charsmap->get<std::string>().empty()))
      return absl::OkStatus();
    std::string blob;
    std::optional<CharsMap> map;
    if (charsmap->is_string() &&
        absl::Base64Unescape(charsmap->get<std::string>(), &blob))
      map = CharsMap::parse(blob);
    if (!map)
      return error("normalizer: Precompiled's 'precompiled_charsmap' is not "
                   "a base64 SentencePiece character map");
    normalizers.push_back([map = std::move(*map)](const CodePoints &text) {
      return precompiled(map, text);
    });
    return absl::OkStatus();
  }
  if (*type == "Strip") {
    auto left = member<bool>(n, "strip_left", where, true);
    auto right = member<bool>(n, "strip_right", where, true);
    if (!left.ok())
      return left.status();
    if (!right.ok())
      return right.status();
    normalizers.push_back([left = *left, right = *right](CodePoints text) {
      size_t begin = 0, end = text.size();
      while (left && begin < end && isWhitespace(text[begin]))
        ++begin;
      while (right && end > begin && isWhitespace(text[end - 1]))
        --end;
      return CodePoints(text.begin() + begin, text.begin() + end);
    });
    return absl::OkStatus();
  }
  if (*type == "Replace") {
    auto content = member<std::string>(n, "content", where);
    auto pattern = n.find("pattern");
    if (!content.ok())
      return content.status();
    if (pattern == n.end() || !pattern->is_object() || pattern->size() != 1 ||
        !pattern->begin()->is_string())
      return error("normalizer: Replace's 'pattern' is not {String|Regex}");
    std::string text = pattern->begin()->get<std::string>();
    if (pattern->contains("String")) {
      auto from = decodeUtf8(text);
      auto to = decodeUtf8(*content);
      if (!from.ok() || !to.ok() || from->empty())
        return error("normalizer: Replace's pattern or content is not "
                     "UTF-8 text");
      normalizers.push_back([from = *from, to = *to](const CodePoints &t) {
        CodePoints out;
        for (size_t i = 0; i < t.size();) {
          if (i + from.size() <= t.size() &&
              std::equal(from.begin(), from.end(), t.begin() + i)) {
            out.insert(out.end(), to.begin(), to.end());
            i += from.size();
          } else {
            out.push_back(t[i++]);
          }
        }
        return out;
      });
      return absl::OkStatus();
    }
    // A regular expression: std::regex matches bytes, which is exact for
    // an ASCII pattern (the ones SentencePiece conversions write, e.g. "
    // {2,}").
    if (!pattern->contains("Regex") ||
        std::any_of(text.begin(), text.end(),
                    [](char c) { return static_cast<uint8_t>(c) >= 0x80; }) ||
        text.find("\\p") != std::string::npos)
      return error(absl::StrCat("normalizer: Replace's pattern '", text,
                                "' is not supported yet (Kiln reads strings "
                                "and ASCII regular expressions)"));
    std::regex re;
    try {
      re = std::regex(text, std::regex::ECMAScript);
    } catch (const std::regex_error &) {
      return error(absl::StrCat("normalizer: Replace's pattern '", text,
                                "' is not a regular expression"));
    }
    normalizers.push_back([re, to = *content](const CodePoints &t) {
      std::string replaced = std::regex_replace(encodeUtf8(t), re, to);
      auto chars = decodeUtf8(replaced);
      return chars.ok() ? *chars : t;
    });
    return absl::OkStatus();
  }
  if (*type == "Prepend") {
    auto text = member<std::string>(n, "prepend", where);
    if (!text.ok())
      return text.status();
    auto chars = decodeUtf8(*text);
    if (!chars.ok())
      return error("normalizer: Prepend's text is not UTF-8");
    normalizers.push_back([chars = *chars](const CodePoints &t) {
      CodePoints out = t;
      if (!out.empty())
        out.insert(out.begin(), chars.begin(), chars.end());
      return out;
    });
    return absl::OkStatus();
  }
  if (*type == "Lowercase") {
    normalizers.push_back([](const CodePoints &t) { return lowercase(t); });
    return absl::OkStatus();
  }
  static const std::map<std::string, int> kForms = {
      {"NFC", UTF8PROC_COMPOSE},
      {"NFD", UTF8PROC_DECOMPOSE},
      {"NFKC", UTF8PROC_COMPOSE | UTF8PROC_COMPAT},
      {"NFKD", UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT}};
  if (auto form = kForms.find(*type); form != kForms.end()) {
    normalizers.push_back([options = form->second](const CodePoints &t) {
      return unicodeMap(t, options);
    });
    return absl::OkStatus();
  }
  return unsupported("normalizer", *type,
                     "BertNormalizer, Precompiled, Strip, Replace, Prepend, "
                     "Lowercase, NFC, NFD, NFKC, NFKD and Sequence");
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
  if (*type == "Sequence") {
    auto list = p.find("processors");
    if (list == p.end() || !list->is_array())
      return error("post_processor: a Sequence without 'processors'");
    for (const Json &step : *list)
      if (absl::Status s = parsePostProcessor(step); !s.ok())
        return s;
    return absl::OkStatus();
  }
  if (templated)
    return error("post_processor: more than one processor adds special "
                 "tokens (Kiln reads one)");
  templated = true;
  if (*type == "BertProcessing" || *type == "RobertaProcessing") {
    // [CLS] A [SEP] (B [SEP], type 1); RoBERTa: <s> A </s> (</s> B </s>,
    // type 0).
    auto cls = idOf("cls");
    auto sep = idOf("sep");
    if (!cls.ok())
      return cls.status();
    if (!sep.ok())
      return sep.status();
    single = {{-1, {*cls}, 0}, {0, {}, 0}, {-1, {*sep}, 0}};
    if (*type == "BertProcessing")
      pair = {{-1, {*cls}, 0},
              {0, {}, 0},
              {-1, {*sep}, 0},
              {1, {}, 1},
              {-1, {*sep}, 1}};
    else
      pair = {{-1, {*cls}, 0},
              {0, {}, 0},
              {-1, {*sep, *sep}, 0},
              {1, {}, 0},
              {-1, {*sep}, 0}};
    return absl::OkStatus();
  }
  if (*type != "TemplateProcessing")
    return unsupported("post_processor", *type,
                       "TemplateProcessing, BertProcessing, "
                       "RobertaProcessing, ByteLevel and Sequence");
  auto specials = p.find("special_tokens");
  if (specials == p.end() || !specials->is_object())
    return error("post_processor: 'single' or 'special_tokens' is missing");
  // One template: its pieces in order, each sequence once.
  auto read = [&](const char *key, int sequences,
                  std::vector<TemplateItem> &out) -> absl::Status {
    auto list = p.find(key);
    if (list == p.end() || !list->is_array())
      return error(absl::StrCat("post_processor: '", key, "' is missing"));
    out.clear();
    std::vector<bool> seen(2, false);
    for (const Json &piece : *list) {
      if (!piece.is_object() || piece.size() != 1 ||
          !piece.begin()->is_object())
        return error(absl::StrCat("post_processor: a piece of '", key,
                                  "' is malformed"));
      const Json &body = *piece.begin();
      auto typeId = member<int64_t>(body, "type_id",
                                    origin + ": post_processor", int64_t{0});
      auto name = member<std::string>(body, "id", origin + ": post_processor");
      if (!typeId.ok())
        return typeId.status();
      if (!name.ok())
        return name.status();
      if (*typeId < 0 || *typeId > 255)
        return error(absl::StrCat("post_processor: a type id of '", key,
                                  "' is outside [0, 255]"));
      if (piece.contains("Sequence")) {
        int which = *name == "A" ? 0 : *name == "B" ? 1 : 2;
        if (which >= sequences)
          return error(absl::StrCat("post_processor: '", key,
                                    "' names sequence '", *name, "'"));
        if (seen[which])
          return error(absl::StrCat("post_processor: '", key,
                                    "' holds the sequence twice"));
        seen[which] = true;
        out.push_back({which, {}, *typeId});
        continue;
      }
      if (!piece.contains("SpecialToken"))
        return error(absl::StrCat("post_processor: a piece of '", key,
                                  "' is malformed"));
      auto ids = specialIdsOf(*specials, *name);
      if (!ids.ok())
        return ids.status();
      out.push_back({-1, *ids, *typeId});
    }
    for (int k = 0; k < sequences; ++k)
      if (!seen[k])
        return error(absl::StrCat("post_processor: '", key,
                                  "' does not hold the sequence"));
    return absl::OkStatus();
  };
  if (absl::Status st = read("single", 1, single); !st.ok())
    return st;
  // A template without a usable pair form encodes single sequences only.
  auto pairList = p.find("pair");
  if (pairList != p.end() && pairList->is_array() && !pairList->empty()) {
    if (absl::Status st = read("pair", 2, pair); !st.ok())
      return st;
  } else {
    pair.clear();
  }
  return absl::OkStatus();
}

namespace {

/// Metaspace's settings, in the pre-tokenizer and the decoder: the
/// replacement character and the prepend scheme ("always", "first",
/// "never"; older files say add_prefix_space).
struct MetaspaceSettings {
  int32_t replacement = 0x2581;
  std::string prepend = "always";
  bool split = true;
};

absl::StatusOr<MetaspaceSettings> metaspaceSettings(const Json &j,
                                                    const std::string &where) {
  MetaspaceSettings m;
  auto replacement =
      member<std::string>(j, "replacement", where, std::string("\u2581"));
  auto split = member<bool>(j, "split", where, true);
  auto legacy = member<bool>(j, "add_prefix_space", where, true);
  auto scheme = member<std::string>(j, "prepend_scheme", where,
                                    std::string(*legacy ? "always" : "never"));
  for (const absl::Status &s :
       {replacement.status(), split.status(), legacy.status(), scheme.status()})
    if (!s.ok())
      return s;
  auto chars = decodeUtf8(*replacement);
  if (!chars.ok() || chars->size() != 1)
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": Metaspace's replacement is not one character"));
  if (*scheme != "always" && *scheme != "first" && *scheme != "never")
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": Metaspace's prepend_scheme '", *scheme, "' is unknown"));
  m.replacement = chars->front();
  m.prepend = *scheme;
  m.split = *split;
  return m;
}

} // namespace

absl::Status Tokenizer::Impl::parsePreTokenizer(const Json &pre) {
  if (pre.is_null())
    return absl::OkStatus();
  const std::string where = origin + ": pre_tokenizer";
  auto type = member<std::string>(pre, "type", where);
  if (!type.ok())
    return type.status();
  if (*type == "Sequence") {
    auto list = pre.find("pretokenizers");
    if (list == pre.end() || !list->is_array())
      return error("pre_tokenizer: a Sequence without 'pretokenizers'");
    for (const Json &step : *list)
      if (absl::Status s = parsePreTokenizer(step); !s.ok())
        return s;
    return absl::OkStatus();
  }
  // Each step maps every piece to the pieces it splits into.
  auto eachPiece = [](auto split) -> PreTokenizer {
    return [split](std::vector<Piece> &pieces) {
      std::vector<Piece> out;
      for (const Piece &p : pieces)
        split(p, out);
      pieces = std::move(out);
    };
  };
  if (*type == "BertPreTokenizer") {
    // pre_tokenizers/bert: whitespace separates words and is dropped; each
    // punctuation mark is a word of its own.
    preTokenizers.push_back(
        eachPiece([](const Piece &p, std::vector<Piece> &out) {
          CodePoints current;
          bool start = p.atStart;
          auto flush = [&]() {
            if (!current.empty())
              out.push_back({current, start});
            current.clear();
            start = false;
          };
          for (int32_t c : p.text) {
            if (isWhitespace(c) || isPunctuation(c)) {
              flush();
              if (!isWhitespace(c))
                out.push_back({{c}, false});
              start = false;
              continue;
            }
            current.push_back(c);
          }
          flush();
        }));
    return absl::OkStatus();
  }
  if (*type == "WhitespaceSplit") {
    // pre_tokenizers/whitespace: WhitespaceSplit, runs of non-whitespace.
    preTokenizers.push_back(
        eachPiece([](const Piece &p, std::vector<Piece> &out) {
          size_t i = 0;
          while (i < p.text.size()) {
            size_t begin = i;
            while (begin < p.text.size() && isWhitespace(p.text[begin]))
              ++begin;
            size_t end = begin;
            while (end < p.text.size() && !isWhitespace(p.text[end]))
              ++end;
            if (end > begin)
              out.push_back(
                  {CodePoints(p.text.begin() + begin, p.text.begin() + end),
                   p.atStart && begin == 0});
            i = end;
          }
        }));
    return absl::OkStatus();
  }
  if (*type == "Metaspace") {
    // pre_tokenizers/metaspace: spaces become the replacement, which is put
    // in front (always, or for the input's first piece), and each one
    // begins a new piece (split, MergedWithNext).
    auto settings = metaspaceSettings(pre, where);
    if (!settings.ok())
      return settings.status();
    preTokenizers.push_back(eachPiece([m = *settings](const Piece &p,
                                                      std::vector<Piece> &out) {
      CodePoints text = p.text;
      for (int32_t &c : text)
        if (c == ' ')
          c = m.replacement;
      bool prepend =
          m.prepend == "always" || (m.prepend == "first" && p.atStart);
      if (prepend && (text.empty() || text.front() != m.replacement))
        text.insert(text.begin(), m.replacement);
      if (!m.split) {
        out.push_back({text, p.atStart});
        return;
      }
      size_t begin = 0;
      for (size_t i = 1; i <= text.size(); ++i)
        if (i == text.size() || text[i] == m.replacement) {
          if (i > begin)
            out.push_back({CodePoints(text.begin() + begin, text.begin() + i),
                           p.atStart && begin == 0});
          begin = i;
        }
    }));
    return absl::OkStatus();
  }
  if (*type == "Split") {
    // pre_tokenizers/split with a regular expression, each match a piece
    // (Isolated). RE2 and std::regex have no lookahead, so the patterns
    // are the ones written out here: Llama 3's and GPT-2's.
    static const std::string kLlama3 =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
        "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
        "\\s+(?!\\S)|\\s+";
    static const std::string kGpt2 =
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
        "?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    auto pattern = pre.find("pattern");
    auto behavior = member<std::string>(pre, "behavior", where);
    auto invert = member<bool>(pre, "invert", where, false);
    if (!behavior.ok())
      return behavior.status();
    if (!invert.ok())
      return invert.status();
    std::string regex;
    if (pattern != pre.end() && pattern->is_object() &&
        pattern->contains("Regex") && (*pattern)["Regex"].is_string())
      regex = (*pattern)["Regex"].get<std::string>();
    if ((regex != kLlama3 && regex != kGpt2) || *behavior != "Isolated" ||
        *invert)
      return error(absl::StrCat(
          "pre_tokenizer: Split by '", regex.empty() ? "?" : regex, "' (",
          *behavior, *invert ? ", inverted" : "",
          ") is not supported yet (Kiln reads Llama 3's and GPT-2's "
          "patterns, isolated)"));
    auto split = regex == kLlama3 ? llama3Pieces : gpt2Pieces;
    preTokenizers.push_back(
        eachPiece([split](const Piece &p, std::vector<Piece> &out) {
          bool start = p.atStart;
          for (CodePoints &piece : split(p.text)) {
            out.push_back({std::move(piece), start});
            start = false;
          }
        }));
    return absl::OkStatus();
  }
  if (*type == "ByteLevel") {
    // pre_tokenizers/byte_level: a space in front (add_prefix_space),
    // GPT-2's pattern, then each piece's UTF-8 bytes as byte characters.
    auto prefixSpace = member<bool>(pre, "add_prefix_space", where, true);
    auto regex = member<bool>(pre, "use_regex", where, true);
    if (!prefixSpace.ok())
      return prefixSpace.status();
    if (!regex.ok())
      return regex.status();
    preTokenizers.push_back(
        eachPiece([prefixSpace = *prefixSpace,
                   regex = *regex](const Piece &p, std::vector<Piece> &out) {
          if (p.text.empty())
            return;
          CodePoints spaced = p.text;
          if (prefixSpace && spaced.front() != ' ')
            spaced.insert(spaced.begin(), ' ');
          std::vector<CodePoints> pieces =
              regex ? gpt2Pieces(spaced) : std::vector<CodePoints>{spaced};
          bool start = p.atStart;
          for (const CodePoints &piece : pieces) {
            CodePoints mapped;
            for (char byte : encodeUtf8(piece))
              mapped.push_back(byteChars()[static_cast<uint8_t>(byte)]);
            out.push_back({std::move(mapped), start});
            start = false;
          }
        }));
    return absl::OkStatus();
  }
  return unsupported("pre_tokenizer", *type,
                     "BertPreTokenizer, ByteLevel, WhitespaceSplit, "
                     "Metaspace, Split and Sequence");
}

absl::Status Tokenizer::Impl::parseDecoder(const Json &decoder) {
  if (decoder.is_null())
    return absl::OkStatus();
  hasDecoder = true;
  const std::string where = origin + ": decoder";
  auto type = member<std::string>(decoder, "type", where);
  if (!type.ok())
    return type.status();
  using Tokens = std::vector<std::string>;
  if (*type == "Sequence") {
    auto list = decoder.find("decoders");
    if (list == decoder.end() || !list->is_array())
      return error("decoder: a Sequence without 'decoders'");
    for (const Json &step : *list)
      if (absl::Status s = parseDecoder(step); !s.ok())
        return s;
    return absl::OkStatus();
  }
  if (*type == "ByteLevel") {
    // decoders/byte_level: each token's characters back to their bytes (a
    // token with a character outside the table stays as written), then all
    // the bytes as one UTF-8 string, invalid sequences replaced.
    decoders.push_back([](const Tokens &tokens) {
      static const std::unordered_map<int32_t, uint8_t> kBytes = [] {
        std::unordered_map<int32_t, uint8_t> m;
        for (int b = 0; b < 256; ++b)
          m[byteChars()[b]] = static_cast<uint8_t>(b);
        return m;
      }();
      std::string bytes;
      for (const std::string &piece : tokens) {
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
      return Tokens{lossyUtf8(bytes)};
    });
    return absl::OkStatus();
  }
  if (*type == "Metaspace") {
    // decoders/metaspace: the replacement is a space again, except in the
    // first token (the one the pre-tokenizer put it in front of) unless
    // nothing was prepended.
    auto settings = metaspaceSettings(decoder, where);
    if (!settings.ok())
      return settings.status();
    decoders.push_back(
        [replacement = settings->replacement,
         prepends = settings->prepend != "never"](Tokens tokens) {
          for (size_t i = 0; i < tokens.size(); ++i) {
            auto chars = decodeUtf8(tokens[i]);
            if (!chars.ok())
              continue;
            std::string out;
            for (int32_t c : *chars) {
              if (c != replacement)
                appendUtf8(c, out);
              else if (i != 0 || !prepends)
                out += ' ';
            }
            tokens[i] = std::move(out);
          }
          return tokens;
        });
    return absl::OkStatus();
  }
  if (*type == "WordPiece") {
    // decoders/wordpiece: a continuation joins the previous token, any
    // other token is preceded by a space; cleanup undoes the
    // pre-tokenizer's spaces before punctuation and contractions.
    auto p = member<std::string>(decoder, "prefix", where, std::string("##"));
    auto c = member<bool>(decoder, "cleanup", where, true);
    if (!p.ok())
      return p.status();
    if (!c.ok())
      return c.status();
    decoders.push_back([prefix = *p, cleanup = *c](Tokens tokens) {
      static const std::pair<const char *, const char *> kCleanup[] = {
          {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
          {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
          {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
      for (size_t i = 0; i < tokens.size(); ++i) {
        std::string &piece = tokens[i];
        if (i > 0) {
          if (piece.rfind(prefix, 0) == 0)
            piece.erase(0, prefix.size());
          else
            piece = " " + piece;
        }
        if (cleanup)
          for (const auto &[from, to] : kCleanup) {
            std::string f = from;
            for (size_t at = piece.find(f); at != std::string::npos;
                 at = piece.find(f, at + std::string_view(to).size()))
              piece.replace(at, f.size(), to);
          }
      }
      return tokens;
    });
    return absl::OkStatus();
  }
  if (*type == "Replace") {
    // decoders: Replace, a string in each token (Llama 2's U+2581 -> " ").
    auto content = member<std::string>(decoder, "content", where);
    auto pattern = decoder.find("pattern");
    if (!content.ok())
      return content.status();
    if (pattern == decoder.end() || !pattern->is_object() ||
        !pattern->contains("String") || !(*pattern)["String"].is_string() ||
        (*pattern)["String"].get<std::string>().empty())
      return error("decoder: Replace's pattern is not {String: text} (Kiln "
                   "reads string patterns)");
    decoders.push_back([from = (*pattern)["String"].get<std::string>(),
                        to = *content](Tokens tokens) {
      for (std::string &token : tokens)
        for (size_t at = token.find(from); at != std::string::npos;
             at = token.find(from, at + to.size()))
          token.replace(at, from.size(), to);
      return tokens;
    });
    return absl::OkStatus();
  }
  if (*type == "ByteFallback") {
    // decoders/byte_fallback: runs of <0xXX> tokens become the text of
    // their bytes, or one U+FFFD per byte when those are not UTF-8.
    decoders.push_back([](const Tokens &tokens) {
      Tokens out;
      std::string bytes;
      size_t count = 0;
      auto flush = [&]() {
        if (count == 0)
          return;
        if (decodeUtf8(bytes).ok())
          out.push_back(bytes);
        else
          for (size_t i = 0; i < count; ++i)
            out.push_back("\xEF\xBF\xBD");
        bytes.clear();
        count = 0;
      };
      for (const std::string &token : tokens) {
        long byte = -1;
        if (token.size() == 6 && token.rfind("<0x", 0) == 0 &&
            token[5] == '>' && std::isxdigit(static_cast<uint8_t>(token[3])) &&
            std::isxdigit(static_cast<uint8_t>(token[4])))
          byte = std::strtol(token.substr(3, 2).c_str(), nullptr, 16);
        if (byte >= 0) {
          bytes += static_cast<char>(byte);
          ++count;
          continue;
        }
        flush();
        out.push_back(token);
      }
      flush();
      return out;
    });
    return absl::OkStatus();
  }
  if (*type == "Fuse") {
    decoders.push_back([](const Tokens &tokens) {
      std::string all;
      for (const std::string &t : tokens)
        all += t;
      return Tokens{all};
    });
    return absl::OkStatus();
  }
  if (*type == "Strip") {
    // decoders/strip: up to `start` leading and `stop` trailing `content`
    // characters off each token.
    auto content = member<std::string>(decoder, "content", where);
    auto start = member<int64_t>(decoder, "start", where, int64_t{0});
    auto stop = member<int64_t>(decoder, "stop", where, int64_t{0});
    for (const absl::Status &s :
         {content.status(), start.status(), stop.status()})
      if (!s.ok())
        return s;
    auto c = decodeUtf8(*content);
    if (!c.ok() || c->size() != 1 || *start < 0 || *stop < 0)
      return error("decoder: Strip's content is not one character or its "
                   "counts are negative");
    decoders.push_back(
        [c = c->front(), start = *start, stop = *stop](Tokens tokens) {
          for (std::string &token : tokens) {
            auto chars = decodeUtf8(token);
            if (!chars.ok())
              continue;
            size_t begin = 0, end = chars->size();
            while (begin < end && static_cast<int64_t>(begin) < start &&
                   (*chars)[begin] == c)
              ++begin;
            for (int64_t k = 0;
                 k < stop && end > begin && (*chars)[end - 1] == c; ++k)
              --end;
            token = encodeUtf8(
                CodePoints(chars->begin() + begin, chars->begin() + end));
          }
          return tokens;
        });
    return absl::OkStatus();
  }
  return unsupported("decoder", *type,
                     "WordPiece, ByteLevel, Metaspace, Replace, ByteFallback, "
                     "Fuse, Strip and Sequence");
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
  if (absl::Status s = parsePreTokenizer(field("pre_tokenizer")); !s.ok())
    return s;
  if (absl::Status s = parseDecoder(field("decoder")); !s.ok())
    return s;

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
    if (a.normalized)
      a.chars = normalize(a.chars);
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
  // models/bpe (merge_word): each character a symbol if it is in the
  // vocabulary; else its bytes as <0xXX> tokens (byte_fallback), else the
  // unknown token (consecutive ones fused with fuse_unk; an unknown one
  // waits until the next known character, as there). Then, again and
  // again, the pair of neighbours with the lowest merge rank (the leftmost
  // among equals) merges into one symbol.
  std::vector<std::string> symbols;
  if (ignoreMerges) {
    std::string whole = encodeUtf8(word);
    if (auto it = vocab.find(whole); it != vocab.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  // An unknown symbol is kept as an empty string (no merge names one).
  size_t pendingUnknown = 0;
  auto flushUnknown = [&]() {
    for (; pendingUnknown > 0; --pendingUnknown)
      symbols.emplace_back();
  };
  for (int32_t c : word) {
    std::string piece;
    appendUtf8(c, piece);
    if (vocab.count(piece)) {
      flushUnknown();
      symbols.push_back(std::move(piece));
      continue;
    }
    if (std::vector<std::string> bytes = byteTokens(piece); !bytes.empty()) {
      symbols.insert(symbols.end(), bytes.begin(), bytes.end());
      continue;
    }
    if (unkId >= 0)
      pendingUnknown = fuseUnk ? 1 : pendingUnknown + 1;
  }
  flushUnknown();
  while (symbols.size() > 1) {
    int64_t best = -1;
    size_t at = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (symbols[i].empty() || symbols[i + 1].empty())
        continue;
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
    if (sym.empty())
      ids.push_back(unkId);
    else if (auto it = vocab.find(sym); it != vocab.end())
      ids.push_back(it->second);
  }
}

void Tokenizer::Impl::unigram(const CodePoints &word,
                              std::vector<int64_t> &ids) const {
  // models/unigram (encode_optimized, SentencePiece's Viterbi): over the
  // word's bytes, the best-scoring split into vocabulary pieces; where no
  // one-character piece starts, the character may be unknown (the lowest
  // score less 10). Among equal scores the path found first stays: the
  // earliest start of the last piece. Consecutive unknown characters fuse
  // into one unknown token, or with byte_fallback become <0xXX> tokens.
  if (word.empty())
    return;
  const std::string text = encodeUtf8(word);
  const size_t size = text.size();
  const double unkScore = minScore - 10.0;
  struct Best {
    double score = 0;
    int64_t id = -1;
    size_t start = 0;
    bool reached = false;
  };
  std::vector<Best> best(size + 1);
  best[0].reached = true;
  auto offer = [&](size_t start, size_t end, int64_t id, double score) {
    Best &target = best[end];
    double total = best[start].score + score;
    if (!target.reached || total > target.score)
      target = {total, id, start, true};
  };
  for (size_t start = 0; start < size;) {
    size_t charBytes = 1;
    while (start + charBytes < size &&
           (static_cast<uint8_t>(text[start + charBytes]) & 0xC0) == 0x80)
      ++charBytes;
    if (best[start].reached) {
      bool single = false;
      for (size_t n = 1; n <= longestPiece && start + n <= size; ++n) {
        auto it = vocab.find(text.substr(start, n));
        if (it == vocab.end())
          continue;
        offer(start, start + n, it->second, scores[it->second]);
        single = single || n == charBytes;
      }
      if (!single && unkId >= 0)
        offer(start, start + charBytes, unkId, unkScore);
    }
    start += charBytes;
  }
  if (!best[size].reached) { // no unknown token to fall back on
    if (unkId >= 0)
      ids.push_back(unkId);
    return;
  }
  std::vector<std::string> pieces;
  std::string unknown;
  for (size_t end = size; end > 0;) {
    const Best &b = best[end];
    std::string piece = text.substr(b.start, end - b.start);
    if (b.id == unkId) {
      unknown.insert(0, piece);
    } else {
      if (!unknown.empty())
        pieces.push_back(std::move(unknown));
      unknown.clear();
      pieces.push_back(std::move(piece));
    }
    end = b.start;
  }
  if (!unknown.empty())
    pieces.push_back(std::move(unknown));
  for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
    if (auto found = vocab.find(*it); found != vocab.end()) {
      ids.push_back(found->second);
      continue;
    }
    std::vector<std::string> bytes = byteTokens(*it);
    for (const std::string &byte : bytes)
      ids.push_back(vocab.at(byte));
    if (bytes.empty() && unkId >= 0)
      ids.push_back(unkId);
  }
}

void Tokenizer::Impl::tokenize(const CodePoints &text, bool atStart,
                               std::vector<int64_t> &ids) const {
  std::vector<Piece> pieces = {{text, atStart}};
  for (const PreTokenizer &step : preTokenizers)
    step(pieces);
  for (const Piece &p : pieces) {
    if (p.text.empty())
      continue;
    switch (model) {
    case Model::Bpe:
      bpe(p.text, ids);
      break;
    case Model::Unigram:
      unigram(p.text, ids);
      break;
    case Model::WordPiece:
      wordPiece(p.text, ids);
      break;
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

namespace {

/// The lines of `text` (LF or CRLF; no empty last line).
std::vector<std::string> lines(const std::string &text) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos)
      end = text.size();
    out.push_back(text.substr(begin, end - begin));
    if (!out.back().empty() && out.back().back() == '\r')
      out.back().pop_back();
    begin = end + 1;
  }
  return out;
}

/// A special token of tokenizer_config.json (a string, or an object with
/// "content"), or `fallback`.
std::string specialToken(const Json &config, const char *key,
                         const std::string &fallback) {
  auto it = config.find(key);
  if (it == config.end())
    return fallback;
  if (it->is_string())
    return it->get<std::string>();
  if (it->is_object() && it->contains("content") &&
      (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  return fallback;
}

/// tokenizer.json for a folder with BERT's vocab.txt, as transformers'
/// BertConverter writes it (BertNormalizer as tokenizer_config.json says,
/// BertPreTokenizer, WordPiece, [CLS] $A [SEP], the WordPiece decoder).
absl::StatusOr<std::string> fromVocabTxt(const std::string &text,
                                         const Json &config,
                                         const std::string &origin) {
  Json vocab = Json::object();
  for (const std::string &token : lines(text))
    if (!vocab.contains(token))
      vocab[token] = static_cast<int64_t>(vocab.size());
  auto id = [&](const std::string &token) -> absl::StatusOr<int64_t> {
    if (!vocab.contains(token))
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": the special token '", token, "' is not in vocab.txt"));
    return vocab[token].get<int64_t>();
  };
  const std::string unk = specialToken(config, "unk_token", "[UNK]"),
                    cls = specialToken(config, "cls_token", "[CLS]"),
                    sep = specialToken(config, "sep_token", "[SEP]");
  // BertTokenizer's special tokens, as the config names them or by default.
  Json added = Json::array();
  for (auto [key, fallback] :
       {std::pair<const char *, const char *>{"pad_token", "[PAD]"},
        {"unk_token", "[UNK]"},
        {"cls_token", "[CLS]"},
        {"sep_token", "[SEP]"},
        {"mask_token", "[MASK]"}}) {
    std::string token = specialToken(config, key, fallback);
    if (token.empty() || !vocab.contains(token))
      continue;
    added.push_back({{"id", vocab[token]},
                     {"content", token},
                     {"special", true},
                     {"normalized", false}});
  }
  KILN_ASSIGN_OR_RETURN(int64_t clsId, id(cls));
  KILN_ASSIGN_OR_RETURN(int64_t sepId, id(sep));
  bool lower = config.value("do_lower_case", true);
  Json strip = config.contains("strip_accents") ? config["strip_accents"]
                                                : Json(nullptr);
  Json tokenizer = {
      {"added_tokens", added},
      {"normalizer",
       {{"type", "BertNormalizer"},
        {"clean_text", true},
        {"handle_chinese_chars", config.value("tokenize_chinese_chars", true)},
        {"strip_accents", strip},
        {"lowercase", lower}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor",
       {{"type", "BertProcessing"},
        {"cls", {cls, clsId}},
        {"sep", {sep, sepId}}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
      {"model",
       {{"type", "WordPiece"},
        {"unk_token", unk},
        {"continuing_subword_prefix", "##"},
        {"max_input_chars_per_word", 100},
        {"vocab", vocab}}}};
  return tokenizer.dump();
}

/// tokenizer.json for a folder with GPT-2's or RoBERTa's vocab.json and
/// merges.txt, as transformers' GPT2Converter / RobertaConverter write it
/// (ByteLevel with tokenizer_config.json's add_prefix_space, BPE, the
/// ByteLevel decoder; RoBERTa's <s> $A </s>).
absl::StatusOr<std::string> fromVocabJson(const std::string &vocabText,
                                          const std::string &mergesText,
                                          const Json &config,
                                          const std::string &origin) {
  Json vocab = Json::parse(vocabText, nullptr, /*allow_exceptions=*/false);
  if (vocab.is_discarded() || !vocab.is_object())
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": vocab.json is not a JSON object"));
  Json merges = Json::array();
  for (const std::string &line : lines(mergesText))
    if (!line.empty() && line.rfind("#version", 0) != 0)
      merges.push_back(line);
  const bool roberta =
      config.value("tokenizer_class", std::string()).rfind("Roberta", 0) == 0;
  const bool prefixSpace = config.value("add_prefix_space", false);
  Json added = Json::array();
  for (const char *key : {"bos_token", "eos_token", "unk_token", "sep_token",
                          "cls_token", "pad_token", "mask_token"}) {
    std::string token = specialToken(config, key, "");
    if (token.empty() || !vocab.contains(token))
      continue;
    bool seen = false;
    for (const Json &a : added)
      seen = seen || a["content"] == token;
    if (!seen)
      added.push_back(
          {{"id", vocab[token]},
           {"content", token},
           {"special", true},
           {"normalized", false},
           {"lstrip", roberta && std::string(key) == "mask_token"}});
  }
  Json post = {{"type", "ByteLevel"}};
  if (roberta) {
    std::string cls = specialToken(config, "cls_token", "<s>"),
                sep = specialToken(config, "sep_token", "</s>");
    if (!vocab.contains(cls) || !vocab.contains(sep))
      return absl::InvalidArgumentError(absl::StrCat(origin, ": RoBERTa's '",
                                                     cls, "' or '", sep,
                                                     "' is not in vocab.json"));
    post = {{"type", "RobertaProcessing"},
            {"cls", {cls, vocab[cls]}},
            {"sep", {sep, vocab[sep]}}};
  }
  Json tokenizer = {
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"},
        {"add_prefix_space", prefixSpace},
        {"use_regex", true}}},
      {"post_processor", post},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
  return tokenizer.dump();
}

/// The fields of one protobuf message, in the wire format (varint keys;
/// varints, 32- and 64-bit words, length-prefixed bytes), as SentencePiece's
/// model file stores them. Malformed input stops the reading and clears
/// ok(); nothing is read past the bytes given.
class ProtoReader {
public:
  explicit ProtoReader(std::string_view bytes) : bytes_(bytes) {}
  struct Field {
    uint64_t number = 0, varint = 0;
    uint32_t fixed32 = 0;
    std::string_view bytes;
  };
  /// The next field; false at the end or on malformed input.
  bool next(Field &f) {
    if (!ok_ || at_ >= bytes_.size())
      return false;
    uint64_t key = 0;
    if (!varint(key))
      return ok_ = false;
    f = Field{key >> 3};
    switch (key & 7) {
    case 0:
      return ok_ = varint(f.varint);
    case 1:
      return ok_ = skip(8);
    case 2: {
      uint64_t size = 0;
      if (!varint(size) || size > bytes_.size() - at_)
        return ok_ = false;
      f.bytes = bytes_.substr(at_, size);
      at_ += size;
      return true;
    }
    case 5:
      if (bytes_.size() - at_ < 4)
        return ok_ = false;
      for (int i = 3; i >= 0; --i)
        f.fixed32 = (f.fixed32 << 8) | static_cast<uint8_t>(bytes_[at_ + i]);
      at_ += 4;
      return true;
    default:
      return ok_ = false;
    }
  }
  bool ok() const { return ok_; }

private:
  bool varint(uint64_t &value) {
    value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_ >= bytes_.size())
        return false;
      auto byte = static_cast<uint8_t>(bytes_[at_++]);
      value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if (!(byte & 0x80))
        return true;
    }
    return false;
  }
  bool skip(size_t n) {
    if (bytes_.size() - at_ < n)
      return false;
    at_ += n;
    return true;
  }
  std::string_view bytes_;
  size_t at_ = 0;
  bool ok_ = true;
};

/// tokenizer.json for a folder with only T5's spiece.model (a SentencePiece
/// Unigram model), as transformers converts it (SpmConverter, T5): the
/// pieces and scores, tokenizer_config.json's extra ids (<extra_id_0> the
/// last), SentencePiece's compiled rules (Precompiled), WhitespaceSplit and
/// Metaspace, $A </s>, the Metaspace decoder.
absl::StatusOr<std::string> fromSpieceModel(const std::string &model,
                                            const Json &config,
                                            const std::string &origin) {
  auto damaged = [&](const std::string &what) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": not a SentencePiece model (", what, ")"));
  };
  Json vocab = Json::array(), added = Json::array();
  std::unordered_set<std::string> seen;
  int64_t modelType = 1, unkId = 0;
  bool byteFallback = false, dummyPrefix = true;
  std::string charsmap;
  ProtoReader top(model);
  ProtoReader::Field f;
  while (top.next(f)) {
    if (f.number == 1 && !f.bytes.empty()) { // a piece
      ProtoReader piece(f.bytes);
      ProtoReader::Field p;
      std::string text;
      float score = 0;
      uint64_t type = 1;
      while (piece.next(p)) {
        if (p.number == 1)
          text = std::string(p.bytes);
        else if (p.number == 2)
          std::memcpy(&score, &p.fixed32, sizeof(score));
        else if (p.number == 3)
          type = p.varint;
      }
      if (!piece.ok() || text.empty() || !decodeUtf8(text).ok() ||
          !std::isfinite(score))
        return damaged(absl::StrCat("piece ", vocab.size(), " is malformed"));
      // SentencePiece refuses a model that defines a piece twice.
      if (!seen.insert(text).second)
        return damaged(
            absl::StrCat("piece ", vocab.size(), " repeats '", text, "'"));
      if (type == 2 || type == 3) // unknown and control pieces: special
        added.push_back({{"id", vocab.size()},
                         {"content", text},
                         {"special", true},
                         {"normalized", false}});
      vocab.push_back({text, score});
    } else if (f.number == 2) { // the trainer's settings
      ProtoReader spec(f.bytes);
      ProtoReader::Field t;
      while (spec.next(t)) {
        if (t.number == 3)
          modelType = static_cast<int64_t>(t.varint);
        else if (t.number == 35)
          byteFallback = t.varint != 0;
        else if (t.number == 40)
          unkId = static_cast<int64_t>(t.varint);
      }
      if (!spec.ok())
        return damaged("its trainer_spec is malformed");
    } else if (f.number == 3) { // the normalizer
      ProtoReader spec(f.bytes);
      ProtoReader::Field n;
      while (spec.next(n)) {
        if (n.number == 2)
          charsmap = std::string(n.bytes);
        else if (n.number == 3)
          dummyPrefix = n.varint != 0;
      }
      if (!spec.ok())
        return damaged("its normalizer_spec is malformed");
      // What the tokenizer.json written here holds must read back.
      if (!charsmap.empty() && !CharsMap::parse(charsmap))
        return damaged("its normalizer's character map is malformed");
    }
  }
  if (!top.ok() || vocab.empty())
    return damaged(top.ok() ? "no pieces" : "malformed");
  if (modelType != 1)
    return absl::UnimplementedError(absl::StrCat(
        origin, ": a SentencePiece ",
        modelType == 2 ? "BPE" : "word or character",
        " model without tokenizer.json (Kiln converts Unigram models, T5's; "
        "transformers' save_pretrained writes the tokenizer.json Kiln reads)"));
  const std::string tokenizerClass = config.value("tokenizer_class", "");
  if (!tokenizerClass.empty() && tokenizerClass.rfind("T5", 0) != 0)
    return absl::UnimplementedError(absl::StrCat(
        origin, ": converting a ", tokenizerClass,
        "'s spiece.model is not supported yet (Kiln converts T5's; "
        "transformers' save_pretrained writes the tokenizer.json Kiln reads)"));
  if (unkId < 0 || unkId >= static_cast<int64_t>(vocab.size()))
    return damaged("its unknown piece is not one of its pieces");
  // T5Tokenizer's extra ids: <extra_id_0> is the last id.
  int64_t extra = config.value("extra_ids", int64_t{100});
  if (extra < 0 || extra > 100000)
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": tokenizer_config.json's extra_ids is ", extra));
  for (int64_t i = extra - 1; i >= 0; --i) {
    std::string token = absl::StrCat("<extra_id_", i, ">");
    if (!seen.insert(token).second)
      return damaged(absl::StrCat("a piece is already ", token));
    added.push_back({{"id", vocab.size()},
                     {"content", token},
                     {"special", true},
                     {"normalized", false}});
    vocab.push_back({token, 0.0});
  }
  const std::string eos = specialToken(config, "eos_token", "</s>");
  int64_t eosId = -1;
  for (size_t i = 0; i < vocab.size(); ++i)
    if (vocab[i][0] == eos)
      eosId = static_cast<int64_t>(i);
  if (eosId < 0)
    return damaged("it has no '" + eos + "' piece");
  const std::string scheme = dummyPrefix ? "always" : "never";
  Json metaspace = {{"type", "Metaspace"},
                    {"replacement", "\u2581"},
                    {"prepend_scheme", scheme},
                    {"split", true}};
  Json tokenizer = {
      {"added_tokens", added},
      {"normalizer", charsmap.empty() ? Json(nullptr)
                                      : Json{{"type", "Precompiled"},
                                             {"precompiled_charsmap",
                                              absl::Base64Escape(charsmap)}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers", {{{"type", "WhitespaceSplit"}}, metaspace}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"SpecialToken", {{"id", eos}, {"type_id", 0}}}}}},
        {"pair",
         {{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          {{"SpecialToken", {{"id", eos}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "B"}, {"type_id", 0}}}},
          {{"SpecialToken", {{"id", eos}, {"type_id", 0}}}}}},
        {"special_tokens", {{eos, {{"id", eos}, {"ids", {eosId}}}}}}}},
      {"decoder", metaspace},
      {"model",
       {{"type", "Unigram"},
        {"unk_id", unkId},
        {"vocab", vocab},
        {"byte_fallback", byteFallback}}}};
  return tokenizer.dump();
}

} // namespace

absl::StatusOr<std::string>
tokenizerJsonFromSentencePiece(std::string_view model, std::string_view config,
                               const std::string &origin) {
  Json settings = Json::object();
  if (!config.empty()) {
    settings = Json::parse(config.begin(), config.end(), nullptr,
                           /*allow_exceptions=*/false);
    if (settings.is_discarded() || !settings.is_object())
      return absl::InvalidArgumentError(
          absl::StrCat(origin, ": tokenizer_config.json is not a JSON object"));
  }
  return fromSpieceModel(std::string(model), settings, origin);
}

absl::StatusOr<std::string> tokenizerJson(const std::string &folder) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path dir(folder);
  if (fs::exists(dir / "tokenizer.json", ec))
    return readFile((dir / "tokenizer.json").string());
  Json config = Json::object();
  if (fs::exists(dir / "tokenizer_config.json", ec)) {
    KILN_ASSIGN_OR_RETURN(std::string text,
                          readFile((dir / "tokenizer_config.json").string()));
    config = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object())
      return absl::InvalidArgumentError(absl::StrCat(
          (dir / "tokenizer_config.json").string(), ": not a JSON object"));
  }
  if (fs::exists(dir / "vocab.txt", ec)) {
    KILN_ASSIGN_OR_RETURN(std::string vocab,
                          readFile((dir / "vocab.txt").string()));
    return fromVocabTxt(vocab, config, (dir / "vocab.txt").string());
  }
  if (fs::exists(dir / "vocab.json", ec) &&
      fs::exists(dir / "merges.txt", ec)) {
    KILN_ASSIGN_OR_RETURN(std::string vocab,
                          readFile((dir / "vocab.json").string()));
    KILN_ASSIGN_OR_RETURN(std::string merges,
                          readFile((dir / "merges.txt").string()));
    return fromVocabJson(vocab, merges, config, folder);
  }
  for (const char *name : {"spiece.model", "tokenizer.model"})
    if (fs::exists(dir / name, ec)) {
      KILN_ASSIGN_OR_RETURN(std::string model, readFile((dir / name).string()));
      return fromSpieceModel(model, config, (dir / name).string());
    }
  return absl::NotFoundError(absl::StrCat(
      folder, ": no tokenizer.json, vocab.txt or vocab.json and merges.txt"));
}

absl::StatusOr<std::unique_ptr<Tokenizer>>
Tokenizer::open(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    auto text = readFile(path);
    if (!text.ok())
      return text.status();
    return parse(*text, path);
  }
  auto text = tokenizerJson(path);
  if (!text.ok())
    return text.status();
  const std::string json =
      (std::filesystem::path(path) / "tokenizer.json").string();
  return parse(*text, std::filesystem::exists(json, ec) ? json : path);
}

absl::StatusOr<std::vector<int64_t>>
Tokenizer::Impl::tokenizeText(std::string_view text) const {
  auto chars = decodeUtf8(text);
  if (!chars.ok())
    return chars.status();
  std::vector<int64_t> ids;
  // Each piece between added tokens is normalized and pre-tokenized on its
  // own; `atStart`: it begins the input.
  bool atStart = true;
  for (auto &[id, raw] : splitAdded(*chars, /*normalized=*/false)) {
    if (id >= 0) {
      ids.push_back(id);
      atStart = false;
      continue;
    }
    CodePoints normal = normalize(raw);
    for (auto &[innerId, piece] : splitAdded(normal, /*normalized=*/true)) {
      if (innerId >= 0)
        ids.push_back(innerId);
      else
        tokenize(piece, atStart, ids);
      atStart = false;
    }
  }
  return ids;
}

Tokenizer::Encoding
Tokenizer::Impl::applyTemplate(const std::vector<TemplateItem> &items,
                               const std::vector<int64_t> *sequences[2],
                               bool addSpecialTokens) const {
  Encoding out;
  for (const TemplateItem &item : items) {
    if (item.sequence < 0 && !addSpecialTokens)
      continue;
    const std::vector<int64_t> &ids =
        item.sequence < 0 ? item.ids : *sequences[item.sequence];
    out.ids.insert(out.ids.end(), ids.begin(), ids.end());
    // Without special tokens, a pair's B keeps its template type.
    out.typeIds.insert(out.typeIds.end(), ids.size(), item.typeId);
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>>
Tokenizer::encode(std::string_view text, bool addSpecialTokens) const {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> ids, impl_->tokenizeText(text));
  const std::vector<int64_t> *sequences[2] = {&ids, nullptr};
  return impl_->applyTemplate(impl_->single, sequences, addSpecialTokens).ids;
}

absl::StatusOr<Tokenizer::Encoding>
Tokenizer::encodePair(std::string_view first, std::string_view second,
                      bool addSpecialTokens) const {
  if (impl_->pair.empty())
    return absl::FailedPreconditionError(
        absl::StrCat(impl_->origin, ": its post-processor has no template "
                                    "for a pair of sequences"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> a, impl_->tokenizeText(first));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> b, impl_->tokenizeText(second));
  const std::vector<int64_t> *sequences[2] = {&a, &b};
  return impl_->applyTemplate(impl_->pair, sequences, addSpecialTokens);
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
  if (!s.hasDecoder) {
    std::string out;
    for (size_t i = 0; i < pieces.size(); ++i)
      out += (i ? " " : "") + pieces[i];
    return out;
  }
  for (const Impl::Decoder &d : s.decoders)
    pieces = d(std::move(pieces));
  std::string out;
  for (const std::string &piece : pieces)
    out += piece;
  return out;
}

int64_t Tokenizer::vocabSize() const {
  return static_cast<int64_t>(impl_->tokens.size());
}

} // namespace kiln
