#!/usr/bin/env python3
"""widen-vocab.py SRC DST VOCAB: the model folder SRC (GPT-2, T5, BERT) with
its vocabulary grown to VOCAB rows (config.json's vocab_size and the
token embeddings and LM head, the new rows zero), written to DST, the
last of them as a sparse tail: a checkpoint of hundreds of MB that costs
no disk, for tests of memory that does not fit. Standard library only."""
import json
import os
import struct
import sys

src, dst, vocab = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(dst, exist_ok=True)
with open(os.path.join(src, "config.json")) as f:
    config = json.load(f)
old_vocab = config["vocab_size"]
config["vocab_size"] = vocab
with open(os.path.join(dst, "config.json"), "w") as f:
    json.dump(config, f)

with open(os.path.join(src, "model.safetensors"), "rb") as f:
    length = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(length))
    data = f.read()
header.pop("__metadata__", None)
vocab_rows = ("wte.weight", "shared.weight", "lm_head.weight",
              "embed_tokens.weight", "word_embeddings.weight")
widened = sorted(n for n in header if n.endswith(vocab_rows) and
                 header[n]["shape"][0] == old_vocab)
names = sorted(n for n in header if n not in widened) + widened
out_header, chunks, offset = {}, [], 0
for name in names:
    entry = header[name]
    begin, end = entry["data_offsets"]
    raw = data[begin:end]
    shape = list(entry["shape"])
    size = len(raw)
    if name in widened:
        size = size // shape[0] * vocab
        shape[0] = vocab
        if name != names[-1]:  # only the last one is a sparse tail
            raw += bytes(size - len(raw))
    out_header[name] = {"dtype": entry["dtype"], "shape": shape,
                        "data_offsets": [offset, offset + size]}
    chunks.append(raw)
    offset += size
text = json.dumps(out_header).encode()
text += b" " * (-len(text) % 8)
with open(os.path.join(dst, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text)
    for raw in chunks:
        f.write(raw)
    f.truncate(8 + len(text) + offset)
