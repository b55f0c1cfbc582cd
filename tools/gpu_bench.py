#!/usr/bin/env python3
"""PyTorch baselines for tools/gpu-check.sh, on the folders bench_model.py
writes (the same weights Kiln runs). One line of results per measurement.

    tools/gpu_bench.py bert DIR        # BertModel, seq 128, batch 1 and 32:
                                       # eager and torch.compile latency
    tools/gpu_bench.py gpt2 DIR        # GPT-2 generate, prompt 128, 128 new
                                       # tokens, batch 1: ms/token, tokens/s
    tools/gpu_bench.py bandwidth       # device-to-device copy GB/s
    tools/gpu_bench.py compare GOT.npy EXPECTED.npy LENGTHS|- [TOLERANCE]
                                       # relative error, padding excluded
                                       # (default tolerance 1e-3)
    tools/gpu_bench.py table OUT_DIR   # the summary of gpu-check's logs:
                                       # Kiln vs PyTorch, ratios, decode
                                       # bandwidth fraction
"""
import os
import re
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


def table(out):
    def read(name):
        path = os.path.join(out, name + ".log")
        return open(path).read() if os.path.exists(path) else ""

    def number(text, pattern):
        m = re.search(pattern, text)
        return float(m.group(1)) if m else None

    def fmt(v, unit=""):
        return "n/a" if v is None else f"{v:.3f}{unit}"

    def ratio(a, b):
        return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"

    torch_bert = read("torch-bert")
    rows = []
    for batch, log in ((1, "kiln-bert"), (32, "kiln-bert-b32")):
        kiln = number(read(log), r"first pass\s+p50\s+([\d.]+) ms")
        eager = number(torch_bert, rf"batch {batch}: eager ([\d.]+) ms")
        compiled = number(torch_bert, rf"batch {batch}: eager [\d.]+ ms, torch.compile ([\d.]+) ms")
        rows.append((f"BERT-base fp32 seq 128 batch {batch} (ms)", kiln, eager, compiled))
    torch_gpt2 = read("torch-gpt2")
    kiln_decode = number(read("kiln-gpt2"), r"decode step\s+p50\s+([\d.]+) ms")
    kiln_nographs = number(read("kiln-gpt2-nographs"), r"decode step\s+p50\s+([\d.]+) ms")
    kiln_bf16 = number(read("kiln-gpt2-bf16"), r"decode step\s+p50\s+([\d.]+) ms")
    eager_decode = number(torch_gpt2, r"([\d.]+) ms/token decode")
    rows.append(("GPT-2-small decode, prompt 128 (ms/token)", kiln_decode, eager_decode, None))
    rows.append(("  the same, Kiln with bf16 gemms", kiln_bf16, eager_decode, None))
    print(f"{'':44} {'Kiln':>10} {'eager':>10} {'compile':>10} {'vs eager':>9} {'vs compile':>10}")
    for name, kiln, eager, compiled in rows:
        print(f"{name:44} {fmt(kiln):>10} {fmt(eager):>10} {fmt(compiled):>10} "
              f"{ratio(eager, kiln):>9} {ratio(compiled, kiln):>10}")
    print(f"Kiln decode without CUDA graphs: {fmt(kiln_nographs, ' ms/token')} "
          f"(graphs save {ratio(kiln_nographs, kiln_decode)})")
    weights = number(torch_gpt2, r"weight bytes: (\d+)")
    bandwidth = number(read("bandwidth"), r"copy: (\d+) GB/s")
    for name, ms in (("Kiln", kiln_decode), ("eager", eager_decode)):
        if weights and bandwidth and ms:
            achieved = weights / (ms / 1e3) / 1e9
            print(f"{name} decode reads the weights at {achieved:.0f} GB/s, "
                  f"{100 * achieved / bandwidth:.1f}% of the measured {bandwidth:.0f} GB/s copy")


if __name__ == "__main__":
    if sys.argv[1:2] == ["table"]:
        table(sys.argv[2])
        sys.exit(0)
    if sys.argv[1:2] == ["compare"]:
        compare(*sys.argv[2:5], *[float(t) for t in sys.argv[5:6]])
        sys.exit(0)
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    {"bert": lambda: bert(sys.argv[2]), "gpt2": lambda: gpt2(sys.argv[2]),
     "bandwidth": bandwidth}[sys.argv[1]]()
