#!/usr/bin/env python3
"""Writes the small seed files of test/fuzz/corpus/{safetensors,npy}: valid
files of each dtype and layout the readers take (standard library only),
and of corpus/dialect: the kiln dialect's lit tests, one seed per
`// -----` split (valid modules and each verifier error), and of
corpus/tokenizer: the tiny tokenizers of test/golden/tokenizers with a
text to encode, and of corpus/spiece: the golden T5 spiece.model and a
small hand-encoded one. The other seeds
are the project's own outputs: .kiln artifacts from kilnc
(--external-weights, --cpu x86-64), fixture config.json files and
hand-written sharded-checkpoint indexes."""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def safetensors(path, tensors, metadata=None):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def npy(path, descr, shape, raw):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join(f"{d}, " for d in shape))
    header += " " * (-(len(header) + 11) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) +
                header.encode() + raw)


os.makedirs(os.path.join(ROOT, "safetensors"), exist_ok=True)
os.makedirs(os.path.join(ROOT, "npy"), exist_ok=True)
safetensors(os.path.join(ROOT, "safetensors", "mixed.safetensors"), {
    "w": ("F32", [2, 3], struct.pack("<6f", 1, 2, 3, 4, 5, 6)),
    "b": ("BF16", [3], struct.pack("<3H", 0x3f80, 0x4000, 0xbf80)),
    "h": ("F16", [2], struct.pack("<2H", 0x3c00, 0xc000)),
    "i": ("I64", [2], struct.pack("<2q", 7, -1)),
}, {"format": "pt"})
safetensors(os.path.join(ROOT, "safetensors", "empty.safetensors"), {})
npy(os.path.join(ROOT, "npy", "f32.npy"), "<f4", [2, 3],
    struct.pack("<6f", 1, 2, 3, 4, 5, 6))
npy(os.path.join(ROOT, "npy", "i64.npy"), "<i8", [3], struct.pack("<3q", 1, 2, 3))
npy(os.path.join(ROOT, "npy", "scalar.npy"), "<f8", [], struct.pack("<d", 0.5))

# The dialect's lit tests, split as kiln-opt --split-input-file splits them.
DIALECT_TESTS = os.path.join(os.path.dirname(ROOT), "..", "lit", "dialects",
                             "kiln")
os.makedirs(os.path.join(ROOT, "dialect"), exist_ok=True)
for name in sorted(os.listdir(DIALECT_TESTS)):
    if not name.endswith(".mlir"):
        continue
    with open(os.path.join(DIALECT_TESTS, name)) as f:
        parts = f.read().split("// -----")
    for i, part in enumerate(parts):
        lines = [l for l in part.splitlines()
                 if not l.lstrip().startswith("// RUN")]
        text = "\n".join(lines).strip() + "\n"
        with open(os.path.join(ROOT, "dialect",
                               f"{name[:-5]}-{i:03d}.mlir"), "w") as out:
            out.write(text)

# The tiny tokenizers of test/golden/tokenizers, each with a text after a
# NUL byte, and a hand-written one with the other post-processor and an
# added token with every flag.
TOKENIZERS = os.path.join(os.path.dirname(ROOT), "..", "golden", "tokenizers")
os.makedirs(os.path.join(ROOT, "tokenizer"), exist_ok=True)
for kind in ("wordpiece_uncased", "wordpiece_cased", "bpe_bytelevel",
             "bpe_roberta", "unigram_t5", "unigram_bytes", "bpe_llama2",
             "bpe_llama3"):
    with open(os.path.join(TOKENIZERS, kind, "tokenizer.json"), "rb") as f:
        text = f.read()
    with open(os.path.join(ROOT, "tokenizer", kind), "wb") as f:
        f.write(text + b"\0" +
                "Hello, [MASK] World! Café 東京 🤗\t  end".encode())
with open(os.path.join(ROOT, "tokenizer", "bertprocessing"), "wb") as f:
    f.write(json.dumps({
        "model": {"type": "WordPiece", "unk_token": "[UNK]",
                  "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3,
                            "##b": 4}},
        "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 1],
                           "sep": ["[SEP]", 2]},
        "added_tokens": [{"id": 5, "content": "<x>", "special": False,
                          "lstrip": True, "rstrip": True,
                          "single_word": True, "normalized": True}],
    }).encode() + b"\0ab a <x> ab")


# SentencePiece models: the golden T5 one, and a small one written here in
# protobuf's wire format (pieces with scores and types, a trainer_spec with
# byte fallback, a normalizer_spec without compiled rules).
def varint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def piece(text, score, kind):
    return field(1, field(1, text.encode()) +
                 varint(2 << 3 | 5) + struct.pack("<f", score) +
                 varint(3 << 3) + varint(kind))


os.makedirs(os.path.join(ROOT, "spiece"), exist_ok=True)
with open(os.path.join(TOKENIZERS, "unigram_t5_spiece", "spiece.model"),
          "rb") as f:
    golden = f.read()
with open(os.path.join(ROOT, "spiece", "t5"), "wb") as f:
    f.write(golden)
small = (piece("<pad>", 0, 3) + piece("</s>", 0, 3) + piece("<unk>", 0, 2) +
         piece("\u2581", -2, 1) + piece("a", -3, 1) + piece("b", -3.5, 1) +
         piece("\u2581ab", -4, 1) + piece("<0x41>", 0, 6) +
         field(2, varint(3 << 3) + varint(1) + varint(35 << 3) + varint(1) +
               varint(40 << 3) + varint(2)) +
         field(3, varint(3 << 3) + varint(1)))
with open(os.path.join(ROOT, "spiece", "small"), "wb") as f:
    f.write(small)
