#!/usr/bin/env python3
"""Fixtures for the tensor-parallel tests that the golden ones cannot serve.

The golden T5 fixtures have 3 heads and a feed-forward width of 32: no
tensor-parallel group divides both. `t5_tp3` is t5_gated with a width of
33 (one more row of wi_0/wi_1, one more column of wo, drawn from a seeded
normal like the others), so --tp 3 splits heads and widths. Its reference
is the single-rank Kiln build of the same folder (the tests compare
--tp 3 against it); the single-rank path itself is checked against
transformers on the golden fixtures.

Needs only numpy (safetensors is read and written by hand).

  python3 test/golden/make_parallel_fixtures.py
"""

import json
import os
import shutil
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        begin, end = info["data_offsets"]
        raw = data[8 + size + begin:8 + size + end]
        tensors[name] = np.frombuffer(raw, dtype="<f4").reshape(info["shape"])
    return tensors


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        blob = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def make_t5_tp3():
    source = os.path.join(FIXTURES, "t5_gated")
    target = os.path.join(FIXTURES, "t5_tp3")
    os.makedirs(target, exist_ok=True)
    config = json.load(open(os.path.join(source, "config.json")))
    width = config["d_ff"] + 1
    config["d_ff"] = width
    with open(os.path.join(target, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    shutil.copy(os.path.join(source, "generation_config.json"), target)
    rng = np.random.default_rng(20261202)
    tensors = read_safetensors(os.path.join(source, "model.safetensors"))
    out = {}
    for name, t in tensors.items():
        scale = float(t.std()) or 0.02
        if ".wi" in name:  # [d_ff, d_model]: one more row
            row = rng.normal(0, scale, (1, t.shape[1])).astype(np.float32)
            t = np.concatenate([t, row], axis=0)
        elif ".wo." in name:  # [d_model, d_ff]: one more column
            col = rng.normal(0, scale, (t.shape[0], 1)).astype(np.float32)
            t = np.concatenate([t, col], axis=1)
        out[name] = t
    write_safetensors(os.path.join(target, "model.safetensors"), out)


if __name__ == "__main__":
    make_t5_tp3()
