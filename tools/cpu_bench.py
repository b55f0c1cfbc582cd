#!/usr/bin/env python3
"""Kiln's CPU backend against the peers a user would pick instead.

    tools/cpu_bench.py [--bin build/bin] [--work DIR] [--threads N]
                       [--rounds 2] [--cases bert-b1,bert-b8,gpt2-prefill,gpt2-decode]
                       [--png FILE] [--bf16] [--quantize] [--prune]

Runs Kiln (kiln-run), PyTorch eager, torch.compile and ONNX Runtime on the
same inputs, fp32, with the same thread count, case by case, the peers in
one order in odd rounds and the reverse in even rounds, and prints every
round's time, the best peer and Kiln's ratio to it, then draws the table as
a bar chart (PNG). Every peer's output is compared with PyTorch eager's (the
table's "err" column: max |x - eager| / max |eager|); Kiln's generated ids
with eager's greedy ids. The environment is used as the machine gives it
(OPENBLAS_CORETYPE and the like are printed, not changed).

A benchmark: it prints numbers and asserts nothing. Models are written by
tools/bench_model.py (deterministic BERT-base and GPT-2-small, no download)
and compiled with kilnc. PyTorch, transformers, ONNX Runtime, onnx and
matplotlib come from PyPI into a virtual environment (build/bench-venv, or
$KILN_BENCH_VENV) when the running Python lacks them.

Cases: BERT-base batch 1 and 8 at 128 tokens (last_hidden_state), GPT-2-small
prefill of 128 tokens (logits), GPT-2-small decode per token (32 tokens after
a 128-token prompt; ONNX Runtime is not run for decode: an exported decoder
with a kv cache is a different program from the prefill one, and no peer a
user picks for decode on a CPU is ONNX Runtime's plain session).
"""
import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# kilnc --prune options cpu_bench --prune builds.
PRUNE_OPTIONS = ("2:4", "heads:0.25,ffn:0.25", "heads:0.25,ffn:0.25,2:4")
PACKAGES = ["torch", "transformers", "onnxruntime", "onnx", "onnxscript",
            "matplotlib", "numpy", "safetensors"]


def ensure_packages():
    """Re-runs this script under a virtual environment that has the peers."""
    import importlib.util
    missing = [m for m in ("torch", "transformers", "onnxruntime", "onnx", "onnxscript",
                           "matplotlib") if importlib.util.find_spec(m) is None]
    if not missing:
        return
    venv = os.environ.get("KILN_BENCH_VENV", os.path.join(ROOT, "build", "bench-venv"))
    python = os.path.join(venv, "bin", "python")
    if os.environ.get("KILN_BENCH_INSTALLED"):
        sys.exit("cpu_bench: still missing after installing: " + ", ".join(missing))
    if not os.path.exists(python):
        print(f"cpu_bench: creating {venv}", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", venv])
    print("cpu_bench: installing " + " ".join(PACKAGES), flush=True)
    subprocess.check_call([python, "-m", "pip", "install", "-q"] + PACKAGES)
    os.environ["KILN_BENCH_INSTALLED"] = "1"
    os.execv(python, [python] + sys.argv)


def median_ms(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2]


def relative_error(got, expected):
    import numpy as np
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return float("inf")
    return float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-30))


def failure(e):
    text = str(e).splitlines()[0][:120] if str(e) else ""
    return f"{type(e).__name__}: {text}"


class Kiln:
    """kiln-run in a subprocess: its own --bench timing, load excluded."""

    def __init__(self, bin_dir, threads):
        self.run_bin = os.path.join(bin_dir, "kiln-run")
        self.kilnc = os.path.join(bin_dir, "kilnc")
        self.threads = threads
        self.embedded = set()

    def compile(self, folder, out, batch, seq, precision="fp32", quantize="none", extra=(),
                external=True):
        """External weights (read from the folder at load) unless `external`
        is False: pruned builds store their rewritten weights."""
        if not external:
            self.embedded.add(out)
        if not os.path.exists(out):
            subprocess.check_call([self.kilnc, folder, "-o", out,
                                   "--max-batch", str(batch), "--max-seq", str(seq),
                                   "--precision", precision, "--quantize", quantize,
                                   "--report", out + ".json", *extra] +
                                  (["--external-weights"] if external else []),
                                  stderr=subprocess.DEVNULL)

    def args(self, artifact, folder, ids):
        text = ";".join(",".join(str(int(t)) for t in row) for row in ids.tolist())
        weights = [] if artifact in self.embedded else ["--weights", folder]
        return [self.run_bin, artifact, *weights, "--input-ids", text,
                "--threads", str(self.threads)]

    def bench(self, artifact, folder, ids, new_tokens=0, iters=10):
        cmd = self.args(artifact, folder, ids) + ["--bench", "--warmup", "2",
                                                  "--iters", str(iters)]
        if new_tokens:
            cmd += ["--max-new-tokens", str(new_tokens), "--ignore-eos"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        key = "decode step" if new_tokens else "first pass"
        provider = re.search(r"BLAS (\S+)", out)
        self.provider = provider.group(1) if provider else "?"
        return float(re.search(key + r"\s+p50\s+([\d.]+) ms", out).group(1))

    def outputs(self, artifact, folder, ids):
        import numpy as np
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(self.args(artifact, folder, ids) + ["--output-dir", tmp],
                           capture_output=True, check=True)
            return {f[:-4]: np.load(os.path.join(tmp, f)) for f in os.listdir(tmp)}

    def generate(self, artifact, folder, ids, new_tokens):
        out = subprocess.run(self.args(artifact, folder, ids) +
                             ["--max-new-tokens", str(new_tokens), "--ignore-eos"],
                             capture_output=True, text=True, check=True).stdout
        return [int(t) for t in out.strip().splitlines()[-1].split(",")]


def onnx_session(model, example, path, threads, output):
    """Exports `model` at the example's shape and opens it in ONNX Runtime."""
    import onnxruntime as ort
    import torch

    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids):
            return getattr(self.inner(input_ids=input_ids, use_cache=False)
                           if output == "logits" else self.inner(input_ids=input_ids),
                           output)

    if not os.path.exists(path):
        wrapper = Wrapper(model).eval()
        # The exporters narrate every pass: keep the benchmark's output its own.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:  # the TorchScript exporter, where this PyTorch still has it
                torch.onnx.export(wrapper, (example,), path, input_names=["input_ids"],
                                  output_names=[output], opset_version=17, dynamo=False)
            except Exception:
                torch.onnx.export(wrapper, (example,), path, input_names=["input_ids"],
                                  output_names=[output], dynamo=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return lambda ids: session.run(None, {"input_ids": ids.numpy()})[0]


def prefill_case(name, kiln, artifact, folder, model, ids, output, work, threads, iters,
                 bf16_artifact=None, quantized=()):
    """Kiln, eager, torch.compile and ONNX Runtime on one forward pass; with
    `bf16_artifact`, Kiln's --precision bf16 build and eager PyTorch in bf16
    too, with `quantized` ((scheme, artifact) pairs) Kiln's --quantize builds
    (errors against eager fp32)."""
    import copy
    import torch
    with torch.no_grad():
        expected = getattr(model(input_ids=ids), output).numpy()
        peers = {"kiln": (lambda: kiln.bench(artifact, folder, ids, iters=iters), None)}
        peers["eager"] = (lambda: median_ms(lambda: model(input_ids=ids), 2, iters), None)
        if bf16_artifact:
            out16 = kiln.outputs(bf16_artifact, folder, ids)
            peers["kiln-bf16"] = (
                lambda: kiln.bench(bf16_artifact, folder, ids, iters=iters),
                relative_error(out16[output if output in out16 else sorted(out16)[0]],
                               expected))
            model16 = copy.deepcopy(model).to(torch.bfloat16)
            got = getattr(model16(input_ids=ids), output).float().numpy()
            peers["eager-bf16"] = (
                lambda: median_ms(lambda: model16(input_ids=ids), 2, iters),
                relative_error(got, expected))
        for scheme, path in quantized:
            got = kiln.outputs(path, folder, ids)
            peers["kiln-" + scheme] = (
                lambda p=path: kiln.bench(p, folder, ids, iters=iters),
                relative_error(got[output if output in got else sorted(got)[0]], expected))
        try:
            torch._dynamo.reset()
            compiled = torch.compile(model, dynamic=False)
            got = getattr(compiled(input_ids=ids), output).numpy()
            peers["torch.compile"] = (
                lambda: median_ms(lambda: compiled(input_ids=ids), 2, iters),
                relative_error(got, expected))
        except Exception as e:  # a peer that fails is reported, not fatal
            print(f"  {name}: torch.compile failed ({failure(e)})", flush=True)
        try:
            session = onnx_session(model, ids, os.path.join(work, f"{name}.onnx"),
                                   threads, output)
            got = session(ids)
            peers["onnxruntime"] = (lambda: median_ms(lambda: session(ids), 2, iters),
                                    relative_error(got, expected))
        except Exception as e:
            print(f"  {name}: onnxruntime failed ({failure(e)})", flush=True)
    kiln_out = kiln.outputs(artifact, folder, ids)
    name_out = output if output in kiln_out else sorted(kiln_out)[0]
    errors = {p: e for p, (_, e) in peers.items()}
    errors["kiln"] = relative_error(kiln_out[name_out], expected)
    errors["eager"] = 0.0
    return {p: run for p, (run, _) in peers.items()}, errors


def decode_case(kiln, artifact, folder, model, ids, new_tokens, iters, bf16_artifact=None,
                quantized=()):
    """Per-token decode time after a prompt: Kiln, eager, torch.compile (and
    Kiln's bf16 build with `bf16_artifact`, its --quantize builds with
    `quantized`: (scheme, artifact) pairs)."""
    import torch
    from transformers import StaticCache
    with torch.no_grad():
        expected = model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                  do_sample=False, pad_token_id=50256)[0, ids.shape[1]:].tolist()

        def eager():
            def run(n):
                model.generate(ids, max_new_tokens=n, min_new_tokens=n,
                               do_sample=False, pad_token_id=50256)
            prefill = median_ms(lambda: run(1), 1, 3)
            full = median_ms(lambda: run(new_tokens), 1, 3)
            return (full - prefill) / (new_tokens - 1)

        peers = {"kiln": lambda: kiln.bench(artifact, folder, ids, new_tokens, iters=3),
                 "eager": eager}
        errors = {"eager": 0.0}
        try:
            # PyTorch's fastest decode: one step compiled over a static cache.
            torch._dynamo.reset()
            length = ids.shape[1] + new_tokens + 1
            cache = StaticCache(config=model.config, max_cache_len=length)
            prompt = torch.arange(ids.shape[1])

            def step(tok, position):
                return model(tok, past_key_values=cache, use_cache=True,
                             cache_position=position).logits

            compiled = torch.compile(step, fullgraph=True)

            def generate_compiled():
                """Prompt through eager, then every token through the
                compiled step at its own position; the ids and the median
                time per token."""
                cache.reset()
                token = model(ids, past_key_values=cache, use_cache=True,
                              cache_position=prompt).logits[:, -1].argmax(-1, keepdim=True)
                generated, times = [], []
                for i in range(new_tokens):
                    generated.append(int(token))
                    position = torch.tensor([ids.shape[1] + i])
                    start = time.perf_counter()
                    token = compiled(token, position)[:, -1].argmax(-1, keepdim=True)
                    times.append((time.perf_counter() - start) * 1e3)
                return generated, sorted(times)[len(times) // 2]

            generated, _ = generate_compiled()  # compiles
            errors["torch.compile"] = 0.0 if generated == expected else float("nan")

            def compiled_decode():
                return generate_compiled()[1]
            peers["torch.compile"] = compiled_decode
        except Exception as e:
            print(f"  gpt2-decode: torch.compile failed ({failure(e)})", flush=True)
    got = kiln.generate(artifact, folder, ids, new_tokens)
    # Greedy ids equal: error 0; a difference is shown as nan.
    errors["kiln"] = 0.0 if got == expected else float("nan")
    if bf16_artifact:
        peers["kiln-bf16"] = lambda: kiln.bench(bf16_artifact, folder, ids, new_tokens,
                                                iters=3)
        got = kiln.generate(bf16_artifact, folder, ids, new_tokens)
        errors["kiln-bf16"] = 0.0 if got == expected else float("nan")
    for scheme, path in quantized:
        peers["kiln-" + scheme] = (lambda p=path: kiln.bench(p, folder, ids, new_tokens,
                                                             iters=3))
        got = kiln.generate(path, folder, ids, new_tokens)
        # Quantized weights may change a greedy id: the share that agree.
        errors["kiln-" + scheme] = sum(a == b for a, b in zip(got, expected)) / len(expected)
    return peers, errors


def read_bandwidth():
    """GB/s of one thread summing a 1 GiB array (numpy): the memory a
    decode step streams its weights from, as the machine gives it."""
    import numpy as np
    a = np.ones(1 << 28, dtype=np.float32)
    a.sum()
    best = min(timed(a.sum) for _ in range(3))
    return a.nbytes / best / 1e9


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def draw(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cases = list(dict.fromkeys(r[0] for r in rows))
    peers = list(dict.fromkeys(r[1] for r in rows))
    fig, axes = plt.subplots(1, len(cases), figsize=(3.2 * len(cases), 3.6))
    if len(cases) == 1:
        axes = [axes]
    for ax, case in zip(axes, cases):
        values = {r[1]: r[2] for r in rows if r[0] == case}
        names = [p for p in peers if p in values]
        ax.bar(names, [values[p] for p in names],
               color=["#d62728" if p == "kiln" else "#7f7f7f" for p in names])
        ax.set_title(case, fontsize=9)
        ax.set_ylabel("ms (lower is better)")
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--work", default=os.path.join(ROOT, "build", "bench-cpu"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--cases", default="bert-b1,bert-b8,gpt2-prefill,gpt2-decode")
    parser.add_argument("--png", default=None)
    parser.add_argument("--bf16", action="store_true",
                        help="also Kiln --precision bf16 and eager PyTorch in bf16")
    parser.add_argument("--quantize", action="store_true",
                        help="also Kiln --quantize w8a16, w4a16 and w8a8 (GPT-2 decode, "
                             "and w8a8 GPT-2 prefill), with the bytes each decoded "
                             "token reads")
    parser.add_argument("--prune", action="store_true",
                        help="also Kiln --prune 2:4, heads:0.25,ffn:0.25 and "
                             "heads:0.25,ffn:0.25,2:4 (GPT-2 decode), with each build's "
                             "weight bytes")
    args = parser.parse_args()
    ensure_packages()

    import torch
    from transformers import BertModel, GPT2LMHeadModel
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    cases = args.cases.split(",")
    print(f"cpu_bench: {args.threads} threads, torch {torch.__version__}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}", flush=True)

    kiln = Kiln(args.bin, args.threads)
    generator = torch.Generator().manual_seed(0)
    runs = {}  # case -> (peers, errors)
    for family in ("bert-base", "gpt2-small"):
        if not any(c.startswith(family.split("-")[0]) for c in cases):
            continue
        folder = os.path.join(args.work, family)
        if not os.path.exists(os.path.join(folder, "config.json")):
            subprocess.check_call([sys.executable, os.path.join(ROOT, "tools", "bench_model.py"),
                                   family, folder], stdout=subprocess.DEVNULL)
        artifact = os.path.join(args.work, family + ".kiln")
        bf16 = os.path.join(args.work, family + "-bf16.kiln") if args.bf16 else None
        if family == "bert-base":
            kiln.compile(folder, artifact, 8, 128)
            if bf16:
                kiln.compile(folder, bf16, 8, 128, "bf16")
            model = BertModel.from_pretrained(folder, dtype=torch.float32).eval()
            for batch in (1, 8):
                case = f"bert-b{batch}"
                if case in cases:
                    ids = torch.randint(1000, 30000, (batch, 128), generator=generator)
                    runs[case] = prefill_case(case, kiln, artifact, folder, model, ids,
                                              "last_hidden_state", args.work, args.threads,
                                              args.iters, bf16)
        else:
            kiln.compile(folder, artifact, 1, 256)
            if bf16:
                kiln.compile(folder, bf16, 1, 256, "bf16")
            quantized = []
            if args.quantize:
                # As kilnc builds them (the guardrail keeps the layers int4
                # hurts most in float), and int4 everywhere.
                for name, scheme, extra in (("w8a16", "w8a16", []), ("w4a16", "w4a16", []),
                                            ("w4a16-all", "w4a16", ["--quant-guard=false"]),
                                            ("w8a8", "w8a8", [])):
                    path = os.path.join(args.work, f"{family}-{name}.kiln")
                    kiln.compile(folder, path, 1, 256, quantize=scheme, extra=extra)
                    quantized.append((name, path))
            if args.prune:
                # Embedded weights (pruning rewrites them): the dense
                # baseline is embedded too, so the builds differ only in
                # pruning.
                dense = os.path.join(args.work, f"{family}-embedded.kiln")
                kiln.compile(folder, dense, 1, 256, external=False)
                quantized.append(("dense", dense))
                for option in PRUNE_OPTIONS:
                    path = os.path.join(args.work, f"{family}-prune-{option.replace(':', '')}.kiln")
                    kiln.compile(folder, path, 1, 256, extra=["--prune", option],
                                 external=False)
                    quantized.append(("prune-" + option, path))
            model = GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32).eval()
            ids = torch.randint(1000, 50000, (1, 128), generator=generator)
            if "gpt2-prefill" in cases:
                runs["gpt2-prefill"] = prefill_case("gpt2-prefill", kiln, artifact, folder,
                                                    model, ids, "logits", args.work,
                                                    args.threads, args.iters, bf16,
                                                    # W8A8's int8 gemms are for
                                                    # prefill's compute-bound ones.
                                                    [q for q in quantized if q[0] == "w8a8"])
            if "gpt2-decode" in cases:
                runs["gpt2-decode"] = decode_case(kiln, artifact, folder, model, ids, 32,
                                                  args.iters, bf16, quantized)

    times = {}  # (case, peer) -> [ms per round]
    torch.set_grad_enabled(False)  # every peer runs for inference only
    for r in range(args.rounds):
        for case, (peers, _) in runs.items():
            order = list(peers) if r % 2 == 0 else list(reversed(peers))
            for peer in order:
                try:
                    ms = peers[peer]()
                except Exception as e:
                    print(f"  {case} {peer}: failed ({failure(e)})", flush=True)
                    ms = float("nan")
                times.setdefault((case, peer), []).append(ms)
                print(f"  round {r + 1} {case:13s} {peer:14s} {ms:9.2f} ms", flush=True)

    print(f"\nKiln ({kiln.provider if hasattr(kiln, 'provider') else '?'} gemms) vs peers, "
          f"{args.threads} threads, fp32 (-bf16: bf16); ms per {{forward pass | decoded token}}, best of "
          f"{args.rounds} rounds; err = max |x - eager| / max |eager| (decode: 0 = same "
          f"greedy ids, nan = different)")
    header = f"{'case':13s} {'peer':14s} " + " ".join(
        f"{'round ' + str(r + 1):>9s}" for r in range(args.rounds)) + f" {'best':>9s} {'err':>9s}"
    print(header)
    rows = []
    for case, (peers, errors) in runs.items():
        best = {}
        for peer in peers:
            ms = times[(case, peer)]
            best[peer] = min(ms)
            print(f"{case:13s} {peer:14s} " + " ".join(f"{m:9.2f}" for m in ms) +
                  f" {best[peer]:9.2f} {errors.get(peer, float('nan')):9.1e}")
            rows.append((case, peer, best[peer]))
        # Peers are the other frameworks, not Kiln's own bf16/quantized builds.
        others = [v for p, v in best.items() if not p.startswith("kiln") and v == v]
        if others and best.get("kiln") == best.get("kiln"):
            rival = min((v, p) for p, v in best.items()
                        if not p.startswith("kiln") and v == v)
            print(f"{case:13s} kiln / best peer ({rival[1]}) = {best['kiln'] / rival[0]:.2f}"
                  + (f"; kiln / onnxruntime = {best['kiln'] / best['onnxruntime']:.2f}"
                     if "onnxruntime" in best else "")
                  + f"; kiln / eager = {best['kiln'] / best['eager']:.2f}")
    if args.quantize and "gpt2-decode" in runs:
        # The linear weights each decoded token reads (the LM head included),
        # as the --report of the w8a16 build counts them: f32 and stored.
        import json
        with open(os.path.join(args.work, "gpt2-small-w8a16.kiln.json")) as f:
            f32_bytes = json.load(f)["quantized_weight_fp32_bytes"]
        stored, floats = {"kiln": f32_bytes}, {"kiln": ""}
        for name in ("w8a16", "w4a16", "w4a16-all", "w8a8"):
            with open(os.path.join(args.work, f"gpt2-small-{name}.kiln.json")) as f:
                report = json.load(f)
            # What it stores quantized, and the layers kept in float.
            kept = [l for l in report["quant_layers"] if not l["quantized"]]
            stored["kiln-" + name] = (report["quantized_weight_bytes"] +
                                      sum(l["fp32_bytes"] for l in kept))
            floats["kiln-" + name] = f"{len(kept)} layers kept in float" if kept else ""
        bandwidth = read_bandwidth()
        print(f"\ngpt2-decode weight bytes per token (linear weights; one thread reads "
              f"{bandwidth:.1f} GB/s here)")
        for peer, nbytes in stored.items():
            ms = min(times[("gpt2-decode", peer)])
            print(f"{peer:16s} {nbytes / 1e6:8.1f} MB  {ms:7.2f} ms/token  "
                  f"{nbytes / ms / 1e6:6.1f} GB/s  "
                  f"{min(times[('gpt2-decode', 'kiln')]) / ms:5.2f}x fp32  {floats[peer]}")
        print("(err for the quantized builds: the share of greedy ids equal to eager's)")
    if args.prune and "gpt2-decode" in runs:
        import json
        print("\ngpt2-decode pruned builds (embedded weights; err: the share of greedy ids "
              "equal to eager's, which pruning random weights changes)")
        dense_ms = min(times[("gpt2-decode", "kiln-dense")])
        for name in ["dense"] + ["prune-" + o for o in PRUNE_OPTIONS]:
            tag = "embedded" if name == "dense" else name.replace(":", "")
            with open(os.path.join(args.work, f"gpt2-small-{tag}.kiln.json")) as f:
                report = json.load(f)
            ms = min(times[("gpt2-decode", "kiln-" + name)])
            print(f"kiln-{name:20s} {report['runtime_weight_bytes'] / 1e6:8.1f} MB weights  "
                  f"{ms:7.2f} ms/token  {dense_ms / ms:5.2f}x dense")
    png = args.png or os.path.join(args.work, "cpu-bench.png")
    draw(rows, png)
    print(f"chart: {png}")


if __name__ == "__main__":
    main()
