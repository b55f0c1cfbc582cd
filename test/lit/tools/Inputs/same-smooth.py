"""Compares the SmoothQuant factors (#kiln.quant smooth) of two step-list
IR files: every weight of the first must carry the same factors, to f32
rounding, in the second (kilnc-quantize.test: --tp 2 against one rank)."""

import re
import sys

import numpy as np

PARAM = re.compile(r'kiln\.param "([^"]+)".*smooth = dense<([^>]*)>')


def factors(path):
    found = {}
    for line in open(path):
        match = PARAM.search(line)
        if not match:
            continue
        text = match.group(2).strip()
        if text.startswith('"0x'):
            values = np.frombuffer(bytes.fromhex(text[3:-1]), dtype=np.float32)
        else:
            values = np.array(
                [float(v) for v in text.strip("[]").split(",")], dtype=np.float32
            )
        found.setdefault(match.group(1), values)
    return found


def main():
    first, second = factors(sys.argv[1]), factors(sys.argv[2])
    if not first:
        sys.exit(f"{sys.argv[1]}: no smoothing factors")
    for name, values in first.items():
        other = second.get(name)
        if other is None or other.shape != values.shape:
            sys.exit(f"{name}: {values.shape} factors, the other file has "
                     f"{None if other is None else other.shape}")
        if not np.allclose(other, values, rtol=1e-6, atol=0):
            sys.exit(f"{name}: factors differ by up to "
                     f"{np.max(np.abs(other - values) / values):.3g}")
    print(f"{len(first)} weights, the same factors")


main()
