#!/usr/bin/env python3
"""tools/gpu_bench.py for tools/gpu-check.sh's dry run: the PyTorch
baselines print lines of the real ones' form; every other command is the
real script's."""
import os
import runpy
import sys

canned = {
    "bandwidth": ["device-to-device copy: 4300 GB/s (read + write)"],
    "gpt2": ["gpt2-small weight bytes: 497759232",
             "gpt2-small fp32 generate prompt 128 + 128 new, batch 1: 1000.0 ms total, "
             "7.500 ms/token decode, 133.3 tokens/s",
             "gpt2-small fp32 static-cache compiled decode, batch 1: 1.900 ms/token "
             "(median of 120 steps)"],
    "bert": ["bert-base fp32 seq 128 batch 1: eager 6.000 ms, torch.compile 3.000 ms, "
             "reduce-overhead 2.000 ms",
             "bert-base fp32 seq 128 batch 32: eager 40.000 ms, torch.compile 30.000 ms, "
             "reduce-overhead failed (RuntimeError: dry)"],
}
if sys.argv[1:2] and sys.argv[1] in canned:
    print("\n".join(canned[sys.argv[1]]))
    sys.exit(0)
real = os.path.join(os.path.dirname(__file__), "../../../tools/gpu_bench.py")
sys.argv[0] = real
runpy.run_path(real, run_name="__main__")
