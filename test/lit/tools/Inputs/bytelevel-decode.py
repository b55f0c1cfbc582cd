#!/usr/bin/env python3
"""bytelevel-decode.py TOKENIZER_JSON: each line of comma-separated ids on
stdin, decoded as a byte-level BPE tokenizer.json's decoder does (special
added tokens left out, GPT-2's byte characters back to bytes, the bytes as
UTF-8 with invalid sequences replaced), one line each: the check of
kiln-run --prompt's text for a BPE model. Standard library only."""
import json
import sys

tok = json.load(open(sys.argv[1]))
names = {i: t for t, i in tok["model"]["vocab"].items()}
special = {a["id"] for a in tok.get("added_tokens", []) if a["special"]}
kept = [b for b in range(256)
        if 33 <= b <= 126 or 161 <= b <= 172 or b >= 174]
chars = {b: b for b in kept}
for b in range(256):
    if b not in chars:
        chars[b] = 256 + sum(1 for c in range(b) if c not in kept)
byte_of = {chr(c): b for b, c in chars.items()}
out = sys.stdout.buffer
for line in sys.stdin:
    ids = [int(i) for i in line.strip().split(",") if i]
    data = b""
    for i in ids:
        if i in special:
            continue
        token = names[i]
        if all(c in byte_of for c in token):
            data += bytes(byte_of[c] for c in token)
        else:
            data += token.encode()
    out.write(data.decode("utf-8", errors="replace").encode() + b"\n")
