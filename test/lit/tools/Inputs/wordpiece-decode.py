#!/usr/bin/env python3
"""wordpiece-decode.py TOKENIZER_JSON: each line of comma-separated ids on
stdin, decoded as a WordPiece tokenizer.json's decoder does (special added
tokens left out, `##` pieces joined, cleanup), one line each: the check of
kiln-run --prompt's text against its --input-ids output. Standard library
only."""
import json
import sys

tok = json.load(open(sys.argv[1]))
names = {i: t for t, i in tok["model"]["vocab"].items()}
special = {a["id"] for a in tok.get("added_tokens", []) if a["special"]}
prefix = tok["decoder"]["prefix"]
CLEANUP = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
           (" n't", "n't"), (" 'm", "'m"), (" do not", " don't"),
           (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]
for line in sys.stdin:
    ids = [int(i) for i in line.strip().split(",") if i]
    pieces = [names[i] for i in ids if i not in special]
    out = ""
    for n, piece in enumerate(pieces):
        if n:
            piece = piece[len(prefix):] if piece.startswith(prefix) else " " + piece
        for a, b in CLEANUP:
            piece = piece.replace(a, b)
        out += piece
    print(out)
