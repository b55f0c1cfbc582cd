#!/usr/bin/env python3
"""PyTorch baselines and checks for tools/gpu-check.sh, on the folders
bench_model.py writes (the same weights Kiln runs). One line of results per
measurement; every line is flushed as it is printed.

    tools/gpu_bench.py bert DIR        # BertModel, seq 128, batch 1 and 32:
                                       # eager, torch.compile (default) and
                                       # torch.compile(mode="reduce-overhead"),
                                       # static shapes, dynamo reset between
    tools/gpu_bench.py gpt2 DIR        # GPT-2, prompt 128, 128 new tokens,
                                       # batch 1: eager generate (ms/token),
                                       # and one decode step compiled with
                                       # "reduce-overhead" over a static kv
                                       # cache, each token timed by events
    tools/gpu_bench.py bandwidth       # device-to-device copy GB/s
    tools/gpu_bench.py compare GOT.npy EXPECTED.npy LENGTHS|- [TOLERANCE]
                                       # relative error, padding excluded
                                       # (default tolerance 1e-3)
    tools/gpu_bench.py ids GOT.txt GOLDEN.json [REPORT.json on|off]
                                       # generated ids (kiln-run's stdout)
                                       # against the fixture's up to the
                                       # first near-tie (top-2 gap < 1e-3);
                                       # with a report, the CUDA graphs
                                       # captured and replayed as expected
    tools/gpu_bench.py golden GOLDEN.json
                                       # a fixture's request for kiln-run, one
                                       # line: output file, lengths (- for
                                       # T5), ids, token types (-), new tokens
    tools/gpu_bench.py table LOG_DIR   # the summary of gpu-check's logs

All times are CUDA-event times of the device work, medians; Kiln's --bench
reports both its device time and its end-to-end time.
"""
import functools
import json
import os
import re
import sys

print = functools.partial(print, flush=True)  # noqa: A001 (cut-off runs)

NEAR_TIE = 1e-3


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


def failure(e):
    return f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"


def bert(folder):
    import torch
    from transformers import BertModel
    torch.backends.cuda.matmul.allow_tf32 = False  # Kiln computes in fp32
    torch.backends.cudnn.allow_tf32 = False
    model = BertModel.from_pretrained(folder, dtype=torch.float32).cuda().eval()
    for batch in (1, 32):
        ids = torch.randint(1000, 30000, (batch, 128), device="cuda")
        line = f"bert-base fp32 seq 128 batch {batch}:"
        with torch.no_grad():
            line += f" eager {median_ms(lambda: model(input_ids=ids)):.3f} ms"
            # A fresh dynamo per shape and mode: batch 32 is a static
            # compile of its own, not a slower symbolic recompile.
            for mode, label in (("default", "torch.compile"),
                                ("reduce-overhead", "reduce-overhead")):
                torch._dynamo.reset()
                try:
                    compiled = torch.compile(model, mode=mode, dynamic=False)
                    ms = median_ms(lambda: compiled(input_ids=ids), warmup=5)
                    line += f", {label} {ms:.3f} ms"
                except Exception as e:  # a baseline that fails is reported
                    line += f", {label} failed ({failure(e)})"
        print(line)


def static_cache(model, length):
    from transformers import StaticCache
    try:  # transformers 5
        return StaticCache(config=model.config, max_cache_len=length)
    except TypeError:  # transformers 4.4x
        import torch
        return StaticCache(config=model.config, max_batch_size=1,
                           max_cache_len=length, device="cuda",
                           dtype=torch.float32)


def gpt2(folder, prompt=128, new=128):
    import torch
    from transformers import GPT2LMHeadModel
    torch.backends.cuda.matmul.allow_tf32 = False
    model = GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32).cuda().eval()
    ids = torch.randint(1000, 50000, (1, prompt), device="cuda")
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    print(f"gpt2-small weight bytes: {weights}")
    with torch.no_grad():
        def run(n):
            return model.generate(ids, max_new_tokens=n, min_new_tokens=n,
                                  do_sample=False, pad_token_id=50256)
        prefill = median_ms(lambda: run(1), warmup=2, iters=5)
        full = median_ms(lambda: run(new), warmup=1, iters=3)
        per_token = (full - prefill) / (new - 1)
        print(f"gpt2-small fp32 generate prompt {prompt} + {new} new, batch 1: "
              f"{full:.1f} ms total, {per_token:.3f} ms/token decode, "
              f"{1000 / per_token:.1f} tokens/s")
        # The strongest PyTorch decode: one step compiled with CUDA graphs
        # over a static cache, each step timed by events.
        try:
            cache = static_cache(model, prompt + new + 1)
            logits = model(ids, past_key_values=cache, use_cache=True,
                           cache_position=torch.arange(prompt, device="cuda")).logits
            token = logits[:, -1].argmax(-1, keepdim=True)

            def step(tok, position):
                out = model(tok, past_key_values=cache, use_cache=True,
                            cache_position=position)
                return out.logits[:, -1].argmax(-1, keepdim=True)

            compiled = torch.compile(step, mode="reduce-overhead", fullgraph=True)
            times = []
            for t in range(new):
                position = torch.tensor([prompt + t], device="cuda")
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                token = compiled(token.clone(), position)
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end))
            steady = sorted(times[8:])  # compilation and graph recording
            print(f"gpt2-small fp32 static-cache compiled decode, batch 1: "
                  f"{steady[len(steady) // 2]:.3f} ms/token "
                  f"(median of {len(steady)} steps)")
        except Exception as e:
            print(f"gpt2-small static-cache compiled decode failed ({failure(e)})")


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


def ids(got, golden, report=None, graphs=None):
    """Generated ids against the fixture's goldens, up to the first
    near-tie of each sequence (where float rounding may pick either)."""
    g = json.load(open(golden))["generate"]
    lines = [l.strip() for l in open(got).read().splitlines() if l.strip()]
    ok = len(lines) == len(g["ids"])
    if not ok:
        print(f"{len(lines)} sequences generated, expected {len(g['ids'])}")
    for b, (want, gaps) in enumerate(zip(g["ids"], g["top2_gaps"])):
        have = [int(x) for x in lines[b].split(",")] if b < len(lines) else []
        checked = 0
        while checked < len(want) and gaps[checked] >= NEAR_TIE:
            checked += 1
        match = have[:checked] == want[:checked]
        ok &= match
        print(f"sequence {b}: {'ok' if match else 'MISMATCH'}, first {checked} "
              f"of {len(want)} tokens compared (got {have}, expected {want})")
    if report:
        cuda = json.load(open(report)).get("cuda", {})
        captured, replays = cuda.get("graphs_captured", -1), cuda.get("graph_replays", -1)
        # Capture at the second decode call, replay from the third on.
        expected = len(g["ids"][0]) - 3 if graphs == "on" else 0
        graphs_ok = (replays >= expected and captured >= 1) if graphs == "on" \
            else (replays == 0 and captured == 0)
        ok &= graphs_ok
        print(f"cuda graphs {graphs}: {captured} captured, {replays} replays "
              f"({'ok' if graphs_ok else 'expected ' + ('>= ' if graphs == 'on' else '') + str(expected)})")
    sys.exit(0 if ok else 1)


def golden(path):
    """What gpu-check's fixture step needs of a golden.json, read once."""
    g = json.load(open(path))
    def lists(seqs):
        return ";".join(",".join(map(str, s[:n])) for s, n in zip(seqs, g["lengths"]))
    print(next(iter(g["outputs"].values())),
          "-" if g["family"] == "t5" else ",".join(map(str, g["lengths"])),
          lists(g["input_ids"]),
          lists(g["token_type_ids"]) if "token_type_ids" in g else "-",
          g["generate"]["max_new_tokens"] if "generate" in g else 0)


def table(logs):
    def read(name):
        path = os.path.join(logs, name + ".log")
        return open(path, errors="replace").read() if os.path.exists(path) else ""

    def number(text, pattern):
        m = re.search(pattern, text)
        return float(m.group(1)) if m else None

    def fmt(v):
        return "n/a" if v is None else f"{v:.3f}"

    def ratio(peer, kiln):
        return "n/a" if peer is None or not kiln else f"{peer / kiln:.2f}x"

    rows = []
    torch_bert = read("torch-bert")
    for batch, log in ((1, "kiln-bert"), (32, "kiln-bert-b32")):
        text = read(log)
        prefix = rf"batch {batch}: eager [\d.]+ ms"
        rows.append((f"BERT-base fp32 s128 b{batch} (ms)",
                     number(text, r"device first\s+p50\s+([\d.]+) ms"),
                     number(text, r"first pass\s+p50\s+([\d.]+) ms"),
                     number(torch_bert, rf"batch {batch}: eager ([\d.]+) ms"),
                     number(torch_bert, prefix + r", torch.compile ([\d.]+) ms"),
                     number(torch_bert, prefix + r".*?, reduce-overhead ([\d.]+) ms")))
    torch_gpt2 = read("torch-gpt2")
    eager_decode = number(torch_gpt2, r"([\d.]+) ms/token decode")
    static_decode = number(torch_gpt2, r"static-cache compiled decode, batch 1: ([\d.]+) ms/token")
    for label, log in (("GPT-2-small decode p128 (ms/token)", "kiln-gpt2"),
                       ("  Kiln without CUDA graphs", "kiln-gpt2-nographs"),
                       ("  Kiln with bf16 gemms", "kiln-gpt2-bf16"),
                       ("  Kiln w8a16 (int8 weights)", "kiln-gpt2-w8a16"),
                       ("  Kiln w4a16 (int4 weights)", "kiln-gpt2-w4a16"),
                       ("  Kiln w8a8 (int8 rows too)", "kiln-gpt2-w8a8")):
        text = read(log)
        rows.append((label, number(text, r"device decode\s+p50\s+([\d.]+) ms"),
                     number(text, r"decode step\s+p50\s+([\d.]+) ms"),
                     eager_decode, None, static_decode))
    print("ratio = PyTorch time / Kiln device time (above 1: Kiln is faster); "
          "'RO' = torch.compile mode=reduce-overhead (CUDA graphs; for decode "
          "with a static kv cache)")
    print(f"{'':36} {'Kiln dev':>9} {'Kiln e2e':>9} {'eager':>9} {'compile':>9} "
          f"{'RO':>9} {'/eager':>7} {'/compile':>8} {'/RO':>7}")
    for name, dev, e2e, eager, compiled, ro in rows:
        print(f"{name:36} {fmt(dev):>9} {fmt(e2e):>9} {fmt(eager):>9} "
              f"{fmt(compiled):>9} {fmt(ro):>9} {ratio(eager, dev):>7} "
              f"{ratio(compiled, dev):>8} {ratio(ro, dev):>7}")
    weights = number(torch_gpt2, r"weight bytes: (\d+)")
    copy = number(read("bandwidth"), r"copy: (\d+) GB/s")
    kiln_decode = rows[2][1]
    for name, ms in (("Kiln", kiln_decode), ("eager", eager_decode),
                     ("static-cache compile", static_decode)):
        if weights and copy and ms:
            achieved = weights / (ms / 1e3) / 1e9
            print(f"{name} decode reads the {weights / 1e6:.0f} MB of weights at "
                  f"{achieved:.0f} GB/s per token, {100 * achieved / copy:.1f}% "
                  f"of the measured {copy:.0f} GB/s copy")


def main(argv):
    commands = {
        "bert": (1, lambda a: bert(a[0])),
        "gpt2": (1, lambda a: gpt2(a[0])),
        "bandwidth": (0, lambda a: bandwidth()),
        "compare": (3, lambda a: compare(*a[:3], *[float(t) for t in a[3:4]])),
        "ids": (2, lambda a: ids(*a[:4])),
        "golden": (1, lambda a: golden(a[0])),
        "table": (1, lambda a: table(a[0])),
    }
    if not argv or argv[0] not in commands or len(argv) - 1 < commands[argv[0]][0]:
        sys.exit(__doc__)
    commands[argv[0]][1](argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
