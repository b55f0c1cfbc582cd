#!/usr/bin/env python3
"""PyTorch baselines for tools/gpu-check.sh, on the folders bench_model.py
writes (the same weights Kiln runs). One line of results per measurement.

    tools/gpu_bench.py bert DIR        # BertModel, seq 128, batch 1 and 32:
                                       # eager and torch.compile latency
    tools/gpu_bench.py gpt2 DIR        # GPT-2 generate, prompt 128, 128 new
                                       # tokens, batch 1: ms/token, tokens/s
    tools/gpu_bench.py bandwidth       # device-to-device copy GB/s
    tools/gpu_bench.py compare GOT.npy EXPECTED.npy LENGTHS|-
                                       # relative error, padding excluded
"""
import sys


def median_ms(fn, warmup=3, iters=20):
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def bert(folder):
    import torch
    from transformers import BertModel
    model = BertModel.from_pretrained(folder, torch_dtype=torch.float32).cuda().eval()
    torch.backends.cuda.matmul.allow_tf32 = False
    for batch in (1, 32):
        ids = torch.randint(1000, 30000, (batch, 128), device="cuda")
        with torch.no_grad():
            eager = median_ms(lambda: model(input_ids=ids))
            compiled = torch.compile(model)
            tc = median_ms(lambda: compiled(input_ids=ids), warmup=5)
        print(f"bert-base fp32 seq 128 batch {batch}: eager {eager:.3f} ms, "
              f"torch.compile {tc:.3f} ms")


def gpt2(folder):
    import torch
    from transformers import GPT2LMHeadModel
    model = GPT2LMHeadModel.from_pretrained(folder, torch_dtype=torch.float32).cuda().eval()
    torch.backends.cuda.matmul.allow_tf32 = False
    ids = torch.randint(1000, 50000, (1, 128), device="cuda")
    with torch.no_grad():
        def run(new):
            return model.generate(ids, max_new_tokens=new, min_new_tokens=new,
                                  do_sample=False, pad_token_id=50256)
        prefill = median_ms(lambda: run(1), warmup=2, iters=5)
        full = median_ms(lambda: run(128), warmup=1, iters=3)
    per_token = (full - prefill) / 127
    print(f"gpt2-small fp32 generate prompt 128 + 128 new, batch 1: "
          f"{full:.1f} ms total, {per_token:.3f} ms/token decode, "
          f"{1000 / per_token:.1f} tokens/s")
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    print(f"gpt2-small weight bytes: {weights}")


def bandwidth():
    import torch
    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    ms = median_ms(lambda: b.copy_(a))
    print(f"device-to-device copy: {2 * n / ms / 1e6:.0f} GB/s (read + write)")


def compare(got, expected, lengths, tolerance=1e-3):
    import numpy as np
    g, e = np.load(got).astype(np.float64), np.load(expected).astype(np.float64)
    if g.shape != e.shape:
        sys.exit(f"shape {g.shape} != {e.shape}")
    if lengths != "-":
        for b, n in enumerate(int(x) for x in lengths.split(",")):
            g[b, n:] = 0
            e[b, n:] = 0
    error = np.linalg.norm(g - e) / np.linalg.norm(e)
    print(f"relative error {error:.2e} (tolerance {tolerance})")
    sys.exit(0 if np.isfinite(g).all() and error <= tolerance else 1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["compare"]:
        compare(*sys.argv[2:5])
        sys.exit(0)
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    {"bert": lambda: bert(sys.argv[2]), "gpt2": lambda: gpt2(sys.argv[2]),
     "bandwidth": bandwidth}[sys.argv[1]]()
