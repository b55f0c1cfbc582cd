"""Decodes id lists (one per line, comma-separated, from stdin) with a
tokenizer.json's vocabulary as the Metaspace decoder does: special tokens
skipped, U+2581 a space again except in the first token. For checking
kiln-run --prompt's text against its ids. Standard library only."""
import json
import sys

with open(sys.argv[1]) as f:
    tokenizer = json.load(f)
pieces = [piece for piece, _ in tokenizer["model"]["vocab"]]
for added in tokenizer["added_tokens"]:
    while len(pieces) <= added["id"]:
        pieces.append("")
    pieces[added["id"]] = added["content"]
special = {a["id"] for a in tokenizer["added_tokens"] if a["special"]}
for line in sys.stdin:
    ids = [int(i) for i in line.strip().split(",") if i]
    tokens = [pieces[i] for i in ids if i not in special]
    print("".join(t.replace("\u2581", " ") if k else t.replace("\u2581", "")
                  for k, t in enumerate(tokens)))
