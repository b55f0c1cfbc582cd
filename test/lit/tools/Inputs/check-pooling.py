"""Checks kiln-run --pool against the hidden states it pooled:
    check-pooling.py DIR mean|cls normalize|raw LENGTHS
DIR holds last_hidden_state.npy and sentence_embedding.npy; LENGTHS is
each sequence's token count, comma-separated."""
import sys

import numpy as np

folder, pooling, normalize, lengths = sys.argv[1:5]
hidden = np.load(f"{folder}/last_hidden_state.npy").astype(np.float64)
pooled = np.load(f"{folder}/sentence_embedding.npy")
lengths = [int(n) for n in lengths.split(",")]
assert pooled.shape == (hidden.shape[0], hidden.shape[2]), pooled.shape
for b, n in enumerate(lengths):
    want = hidden[b, :n].mean(0) if pooling == "mean" else hidden[b, 0]
    if normalize == "normalize":
        want = want / np.linalg.norm(want)
    error = np.max(np.abs(pooled[b] - want))
    assert error < 1e-6, (b, error)
    if normalize == "normalize":
        assert abs(np.linalg.norm(pooled[b]) - 1) < 1e-6
print(f"{pooling} {normalize}: {len(lengths)} sequences ok")
