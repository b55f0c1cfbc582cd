//===- Tokenizer.h - Hugging Face tokenizer.json: text to ids and back ----===//
//
// Reads a Hugging Face `tokenizer.json` and encodes text as the `tokenizers`
// library does (and transformers with it: no padding, no truncation unless
// asked), then decodes ids back to text. What is read today are BERT's
// pipeline (every WordPiece model on the Hub), GPT-2's and RoBERTa's
// (byte-level BPE), Llama 3's (byte-level BPE after its Split pattern),
// and SentencePiece models converted to tokenizer.json (T5's Unigram,
// Llama 2's BPE with byte fallback):
//   - added tokens ([CLS], [MASK], </s>, ...) found in the text first, with
//     their lstrip / rstrip / single_word / normalized flags;
//   - normalizers: BertNormalizer (clean_text, handle_chinese_chars,
//     strip_accents, lowercase), Precompiled (SentencePiece's compiled
//     rules, per grapheme cluster), Strip, Replace (a string, or an ASCII
//     regular expression), Prepend, Lowercase, NFC/NFD/NFKC/NFKD, and a
//     Sequence of them;
//   - pre-tokenizers: BertPreTokenizer (split on whitespace, each
//     punctuation mark a word of its own), ByteLevel (GPT-2's pattern, then
//     bytes as characters; add_prefix_space), WhitespaceSplit, Metaspace
//     (spaces as U+2581, prepend always / first / never, split), Split by
//     Llama 3's or GPT-2's pattern (written out: RE2 has no lookahead),
//     and a Sequence of them;
//   - models: WordPiece (greedy longest match, `##` continuations, the
//     unknown token for a word that cannot be split or is too long), BPE
//     (merges by rank; ignore_merges, byte_fallback, fuse_unk), Unigram
//     (SentencePiece's Viterbi, unknown characters fused, byte fallback);
//   - TemplateProcessing / BertProcessing / RobertaProcessing / ByteLevel
//     and a Sequence of them, for single sequences and pairs (with type
//     ids);
//   - decoders: WordPiece (with its cleanup), ByteLevel, Metaspace,
//     Replace, ByteFallback, Fuse, Strip, and a Sequence of them.
// Any other component (WordLevel, another Split pattern) is refused
// with one error naming it, never approximated. Unicode data (categories,
// normalization forms, case mapping, grapheme clusters) comes from utf8proc.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SUPPORT_TOKENIZER_H
#define KILN_SUPPORT_TOKENIZER_H

#include "absl/status/statusor.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// A model folder's tokenizer as tokenizer.json text: its tokenizer.json,
/// or, without one, what transformers' converters make of the slow
/// tokenizer's files: BERT's vocab.txt, GPT-2's / RoBERTa's vocab.json and
/// merges.txt (with tokenizer_config.json's lower-casing, prefix space and
/// special tokens), or T5's spiece.model (a SentencePiece Unigram model,
/// read from its protobuf; other SentencePiece models are Unimplemented).
/// NotFound when the folder has none of them.
absl::StatusOr<std::string> tokenizerJson(const std::string &folder);

/// The tokenizer.json tokenizerJson makes of a spiece.model's bytes
/// (`config`: tokenizer_config.json's text, "" for none; `origin` names
/// the model in errors).
absl::StatusOr<std::string>
tokenizerJsonFromSentencePiece(std::string_view model, std::string_view config,
                               const std::string &origin);

class Tokenizer {
public:
  /// The tokenizer.json text `json`; `origin` names it in errors.
  static absl::StatusOr<std::unique_ptr<Tokenizer>>
  parse(std::string_view json, const std::string &origin);
  /// The tokenizer.json at `path`, or a model folder's (tokenizerJson).
  static absl::StatusOr<std::unique_ptr<Tokenizer>>
  open(const std::string &path);
  ~Tokenizer();

  /// The ids of `text` (UTF-8; anything else is an error), with the
  /// post-processor's special tokens when `addSpecialTokens`.
  absl::StatusOr<std::vector<int64_t>>
  encode(std::string_view text, bool addSpecialTokens = true) const;
  /// A pair of texts as the post-processor's pair template joins them
  /// (BERT: [CLS] A [SEP] B [SEP], type ids 0 then 1), with the type id of
  /// each token; FailedPrecondition if the tokenizer has no pair template.
  struct Encoding {
    std::vector<int64_t> ids, typeIds;
  };
  absl::StatusOr<Encoding> encodePair(std::string_view first,
                                      std::string_view second,
                                      bool addSpecialTokens = true) const;
  /// The text of `ids`, special tokens left out when `skipSpecialTokens`;
  /// an id outside the vocabulary is an error.
  absl::StatusOr<std::string> decode(const std::vector<int64_t> &ids,
                                     bool skipSpecialTokens = true) const;
  /// Ids run from 0 to vocabSize() - 1 (the model's and the added tokens).
  int64_t vocabSize() const;

private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace kiln

#endif // KILN_SUPPORT_TOKENIZER_H
