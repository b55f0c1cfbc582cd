#!/usr/bin/env python3
"""Expected outputs of pruned golden fixtures, computed by transformers.

For each case (a fixture and a `kilnc --prune` option), loads the fixture
folder with transformers, prunes the model here, independently of Kiln, by
the rules `kilnc --help` and support/Prune.h state, and writes what the
pruned model computes on the fixture's inputs to pruned/<case>/ in the
fixtures' own format (golden.json and .npy outputs, greedy ids with their
top-2 gaps for decoders). RuntimeGoldenTest compiles the fixture with the
same option and compares.

The rules:
  * Pruned weights: every nn.Linear / Conv1D weight inside the transformer
    blocks (embeddings, the LM head, classifier heads and the pooler are
    outside them; norms and biases are not linear weights).
  * n:m: along the input features, each run of m keeps its n largest
    magnitudes (the lower index first on a tie).
  * unstructured:F, per layer: the floor(F * size) smallest magnitudes of
    each weight are zeroed (ties by position); global: every magnitude up to
    the floor(F * total)-th smallest of all pruned weights together.
  * heads:F: each attention block (T5's self-attention too, whose
    relative-position bias Kiln narrows per layer) keeps its
    kv - floor(F * kv) key/value head groups (at least one, each with its
    query heads) with the largest product of the Frobenius norms of their
    query, key, value and output-projection slices; here the dense model
    with the other groups' output-projection inputs zeroed, which the
    smaller model Kiln builds must equal.
  * ffn:F: each FFN keeps its d - floor(F * d) neurons (rounded up to a
    multiple of 4) with the largest product of weight norms (the up/gate
    weights' output slices and the down weight's input slice), as a
    physically smaller model; then n:m or unstructured pruning apply to it.
    The script checks that the smaller model equals the dense one with
    those neurons' down-projection inputs zeroed.
  * With --calibration (the cases marked so, CALIBRATION's sequences, in
    golden.json's "calibration"): each sequence runs alone (no padding;
    decoders' prompt, T5's encoder and first decoder step), and every
    output projection's input features get their L2 norm over all those
    rows. Then neuron j scores ||a_j|| * ||W_down[:, j]||, and head group g
    the L2 norm over its features f of ||x_f|| * ||W_o[:, f]||, instead of
    the weight norms above; and n:m and unstructured pruning rank Wanda's
    |w| * ||x_j|| (j the element's input feature) instead of |w|. The norms
    are measured on the dense model, so after FFN pruning the down
    projection's are its kept neurons'.
"""

import argparse
import json
import math
import os
import re
import shutil
import sys

import numpy as np
import torch
import transformers
from transformers.pytorch_utils import Conv1D

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixtures as mf  # noqa: E402

# The calibrated cases' kilnc --calibration sequences.
CALIBRATION = [[79, 13, 27, 58, 19, 24, 33], [89, 33, 59, 64], [5, 61, 7, 88, 9, 40]]

CASES = [
    ("gpt2_tiny", "2:4", "layer"),
    ("gpt2_tiny", "unstructured:0.5", "layer"),
    ("gpt2_tiny", "unstructured:0.6", "global"),
    ("gpt2_tiny", "ffn:0.25", "layer"),
    ("gpt2_tiny", "ffn:0.25,2:4", "layer"),
    ("llama_gqa", "2:4", "layer"),
    ("llama_gqa", "ffn:0.25,2:4", "layer"),
    ("bert_tiny", "unstructured:0.5", "layer"),
    ("bert_tiny", "ffn:0.5", "layer"),
    ("t5_gated", "ffn:0.25,2:4", "layer"),
    ("t5_relu", "2:4", "layer"),
    ("gpt2_tiny", "unstructured:0.85", "layer"),
    ("llama_gqa", "unstructured:0.85", "global"),
    ("gpt2_tiny", "heads:0.34", "layer"),
    ("gpt2_tiny", "heads:0.34,ffn:0.25,2:4", "layer"),
    ("llama_gqa", "heads:0.5", "layer"),
    ("bert_tiny", "heads:0.5,ffn:0.25", "layer"),
    ("t5_gated", "heads:0.34", "layer"),
    ("t5_gated", "heads:0.34,ffn:0.25", "layer"),
    # Activation-aware scores (kilnc --calibration).
    ("gpt2_tiny", "heads:0.34,ffn:0.25,2:4", "layer", True),
    ("llama_gqa", "ffn:0.25,2:4", "layer", True),
    ("bert_tiny", "heads:0.5,ffn:0.25", "layer", True),
    ("t5_gated", "ffn:0.25,2:4", "layer", True),
    ("t5_gated", "heads:0.34,ffn:0.25", "layer", True),
    ("gpt2_tiny", "2:4", "layer", True),
    ("gpt2_tiny", "unstructured:0.6", "global", True),
    ("bert_tiny", "unstructured:0.5", "layer", True),
]


def case_name(fixture, option, scope, calibrated=False):
    tag = option.replace(":", "_").replace(",", "_").replace(".", "")
    return (f"{fixture}_{tag}" + ("_global" if scope == "global" else "") +
            ("_calibrated" if calibrated else ""))


def input_norms(model, fx, modules):
    """The L2 norm of each input feature of `modules` over the calibration
    rows, as kilnc --calibration measures them: {id(module): norms}."""
    sums = {}

    def hook(mod, args):
        x = args[0].detach().double()
        rows = x.reshape(-1, x.shape[-1])
        sums[id(mod)] = sums.get(id(mod), 0) + rows.pow(2).sum(dim=0)

    handles = [m.register_forward_pre_hook(hook) for m in modules]
    for seq in CALIBRATION:
        mf.forward(model, fx, [seq], [[1] * len(seq)], None)
    for h in handles:
        h.remove()
    return {k: v.sqrt() for k, v in sums.items()}


def in_block(name):
    return re.search(r"\.(h|layer|layers|block)\.\d+\.", "." + name + ".") is not None


def prunable(model):
    """(name, module, input axis of its weight) for every linear in a block."""
    out = []
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and in_block(name):
            out.append((name, mod, 1))
        elif isinstance(mod, Conv1D) and in_block(name):
            out.append((name, mod, 0))
    return out


def scores(w, axis, norms):
    """What the pruning rules rank: |w|, or Wanda's |w| * ||x_j|| with the
    input features along `axis` (in float64, as Kiln ranks them)."""
    s = w.detach().double().abs()
    if norms is None:
        return s
    shape = [1, 1]
    shape[axis] = -1
    return s * norms.float().double().reshape(shape)


def prune_nm(w, axis, n, m, norms=None):
    rows = w if axis == 1 else w.t()
    score = scores(w, axis, norms)
    score = score if axis == 1 else score.t()
    r, k = rows.shape
    groups = rows.reshape(r, k // m, m)
    order = torch.argsort(-score.reshape(r, k // m, m), dim=-1, stable=True)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(-1, order[..., :n], True)
    pruned = (groups * keep).reshape(r, k)
    return pruned if axis == 1 else pruned.t().contiguous()


def prune_fraction(w, fraction, axis=1, norms=None):
    flat = w.flatten().clone()
    count = math.floor(fraction * flat.numel())
    if count > 0:
        order = torch.argsort(scores(w, axis, norms).flatten(), stable=True)
        flat[order[:count]] = 0
    return flat.reshape(w.shape)


def ffn_blocks(model, family):
    """(producers, down) per FFN: producers as (module, output axis)."""
    mods = dict(model.named_modules())
    blocks = []
    for name, mod in mods.items():
        if family == "gpt2" and name.endswith(".mlp"):
            blocks.append(([(mod.c_fc, 1)], (mod.c_proj, 0)))
        elif family in ("bert", "roberta") and re.search(r"\.layer\.\d+$", name):
            blocks.append(([(mod.intermediate.dense, 0)], (mod.output.dense, 1)))
        elif family == "llama" and name.endswith(".mlp"):
            blocks.append(([(mod.gate_proj, 0), (mod.up_proj, 0)], (mod.down_proj, 1)))
        elif family == "t5" and name.endswith("DenseReluDense"):
            ups = [mod.wi] if hasattr(mod, "wi") else [mod.wi_0, mod.wi_1]
            blocks.append(([(u, 0) for u in ups], (mod.wo, 1)))
    return blocks


def head_blocks(model, family):
    """Attention blocks, as kiln-prune-structured finds them: ([q, k, v] as
    (weight, output axis, first column), the output projection as (module,
    input axis), heads, kv heads, head dim)."""
    cfg = model.config
    blocks = []
    for name, mod in model.named_modules():
        if family == "gpt2" and name.endswith(".attn"):
            hidden = cfg.n_embd
            w = mod.c_attn.weight
            qkv = [(w, 1, 0), (w, 1, hidden), (w, 1, 2 * hidden)]
            blocks.append((qkv, (mod.c_proj, 0), cfg.n_head, cfg.n_head, hidden // cfg.n_head))
        elif family in ("bert", "roberta") and name.endswith(".attention") and hasattr(mod, "self"):
            sa = mod.self
            qkv = [(sa.query.weight, 0, 0), (sa.key.weight, 0, 0), (sa.value.weight, 0, 0)]
            heads = cfg.num_attention_heads
            blocks.append((qkv, (mod.output.dense, 1), heads, heads, cfg.hidden_size // heads))
        elif family == "llama" and name.endswith(".self_attn"):
            qkv = [(mod.q_proj.weight, 0, 0), (mod.k_proj.weight, 0, 0), (mod.v_proj.weight, 0, 0)]
            kv = cfg.num_key_value_heads
            d = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
            blocks.append((qkv, (mod.o_proj, 1), cfg.num_attention_heads, kv, d))
        elif family == "t5" and name.endswith(("SelfAttention", "EncDecAttention")):
            # Self-attention's position bias is the shared one, whatever
            # heads a layer keeps: zeroing a head's output-projection rows
            # is the model without it.
            qkv = [(mod.q.weight, 0, 0), (mod.k.weight, 0, 0), (mod.v.weight, 0, 0)]
            blocks.append((qkv, (mod.o, 1), mod.n_heads, mod.n_heads, mod.key_value_proj_dim))
    return blocks


def mask_heads(model, family, fraction, norms=None):
    """Zeroes the output projection's inputs from the pruned head groups:
    the dense model kiln-prune-structured's smaller one must equal."""
    blocks = head_blocks(model, family)
    assert blocks, family
    for qkv, (omod, in_axis), heads, kv, d in blocks:
        per = heads // kv
        o = omod.weight.detach().double().pow(2).sum(dim=1 - in_axis)
        if norms is not None:
            score = (norms[id(omod)].pow(2) * o).reshape(kv, per * d).sum(dim=1).sqrt()
        else:
            score = torch.ones(kv, dtype=torch.float64)
            for i, (w, axis, offset) in enumerate(qkv):
                width = (per if i == 0 else 1) * d
                w = w.detach().double()
                sq = w.pow(2).sum(dim=1 - axis)[offset:offset + kv * width]
                score *= sq.reshape(kv, width).sum(dim=1).sqrt()
            score *= o.reshape(kv, per * d).sum(dim=1).sqrt()
        score = score.float()
        kept = max(1, kv - math.floor(fraction * kv))
        keep = torch.argsort(-score, stable=True)[:kept]
        mask = torch.zeros(kv, dtype=torch.bool)
        mask[keep] = True
        rows = mask.repeat_interleave(per * d)
        shape = [1, 1]
        shape[in_axis] = -1
        with torch.no_grad():
            omod.weight.mul_(rows.reshape(shape).to(omod.weight.dtype))


def kept_neurons(producers, down, fraction, activations=None):
    dmod, in_axis = down
    score = activations
    if score is None:
        for mod, axis in producers:
            w = mod.weight.detach().double()
            norms = w.pow(2).sum(dim=1 - axis).sqrt()
            score = norms if score is None else score * norms
    score = score * dmod.weight.detach().double().pow(2).sum(dim=1 - in_axis).sqrt()
    score = score.float()
    d = score.numel()
    kept = d - math.floor(fraction * d)
    kept = min(d, max(4, (kept + 3) // 4 * 4))
    order = torch.argsort(-score, stable=True)[:kept]
    return torch.sort(order).values


def slice_module(mod, axis, keep):
    """Keeps slices `keep` of the module's weight along `axis` (and of its
    bias when they are its outputs)."""
    with torch.no_grad():
        mod.weight = torch.nn.Parameter(mod.weight.index_select(axis, keep).contiguous())
        out_axis = 1 if isinstance(mod, Conv1D) else 0
        if axis == out_axis and mod.bias is not None:
            mod.bias = torch.nn.Parameter(mod.bias[keep].contiguous())
    if isinstance(mod, Conv1D) and axis == 1:
        mod.nf = len(keep)
    elif isinstance(mod, torch.nn.Linear):
        if axis == 0:
            mod.out_features = len(keep)
        else:
            mod.in_features = len(keep)


def prune_model(model, fx, option, scope, calibrated=False):
    family = fx["family"]
    ffn = heads = 0.0
    n = m = 0
    fraction = 0.0
    for item in option.split(","):
        key, _, value = item.partition(":")
        if key == "ffn":
            ffn = float(value)
        elif key == "heads":
            heads = float(value)
        elif key == "unstructured":
            fraction = float(value)
        else:
            n, m = int(key), int(value)
    zeroed = None
    norms = None
    if calibrated:
        # Measured on the dense model, before any pruning (kilnc scores
        # heads and neurons on the checkpoint's graph): every block linear.
        norms = input_norms(model, fx, [mod for _, mod, _ in prunable(model)])
    if heads > 0:
        mask_heads(model, family, heads, norms)
    if ffn > 0:
        blocks = ffn_blocks(model, family)
        assert blocks, family
        plans = [(p, d, kept_neurons(p, d, ffn, norms[id(d[0])] if norms else None))
                 for p, d in blocks]
        # The dense model with the pruned neurons zeroed, to check slicing.
        zeroed = []
        for _, (dmod, in_axis), keep in plans:
            w = dmod.weight.detach().clone()
            mask = torch.zeros(w.shape[in_axis], dtype=torch.bool)
            mask[keep] = True
            shape = [1, 1]
            shape[in_axis] = -1
            zeroed.append((dmod, w * mask.reshape(shape)))
        for producers, (dmod, in_axis), keep in plans:
            for mod, axis in producers:
                slice_module(mod, axis, keep)
            slice_module(dmod, in_axis, keep)
            if norms is not None:
                norms[id(dmod)] = norms[id(dmod)][keep]
    linears = prunable(model)
    norm = lambda mod: None if norms is None else norms[id(mod)]
    with torch.no_grad():
        if m > 0:
            for _, mod, axis in linears:
                mod.weight.copy_(prune_nm(mod.weight, axis, n, m, norm(mod)))
        elif fraction > 0 and scope == "layer":
            for _, mod, axis in linears:
                mod.weight.copy_(prune_fraction(mod.weight, fraction, axis, norm(mod)))
        elif fraction > 0:
            score = {id(mod): scores(mod.weight, axis, norm(mod)) for _, mod, axis in linears}
            every = torch.cat([s.flatten() for s in score.values()])
            count = math.floor(fraction * every.numel())
            bound = torch.sort(every).values[count - 1]
            for _, mod, _ in linears:
                mod.weight.copy_(torch.where(score[id(mod)] <= bound, 0.0, mod.weight))
    return zeroed


def sparsity(model):
    linears = prunable(model)
    zeros = sum(int((mod.weight == 0).sum()) for _, mod, _ in linears)
    total = sum(mod.weight.numel() for _, mod, _ in linears)
    return zeros / total, total


def make_case(fx, fixture_dir, out_root, option, scope, calibrated=False):
    name = case_name(fx["name"], option, scope, calibrated)
    with open(os.path.join(fixture_dir, "golden.json")) as f:
        g = json.load(f)
    load = lambda: fx["auto"].from_pretrained(fixture_dir, attn_implementation=mf.ATTN).eval()
    model = load()
    _, dense_params = sparsity(model)
    mask = [[1] * n + [0] * (len(g["input_ids"][0]) - n) for n in g["lengths"]]
    tt = g.get("token_type_ids")
    zeroed = prune_model(model, fx, option, scope, calibrated)
    outputs = mf.forward(model, fx, g["input_ids"], mask, tt)
    if zeroed is not None and "," not in option:
        # Slicing neurons away equals zeroing them in the dense model.
        dense = load()
        by_name = {id(m): n for n, m in model.named_modules()}
        dense_mods = dict(dense.named_modules())
        with torch.no_grad():
            for dmod, w in zeroed:
                dense_mods[by_name[id(dmod)]].weight.copy_(w)
        ref = mf.forward(dense, fx, g["input_ids"], mask, tt)
        for k in outputs:
            err = np.linalg.norm(outputs[k] - ref[k]) / max(np.linalg.norm(ref[k]), 1e-30)
            assert err < 1e-5, (name, k, err)
    d = os.path.join(out_root, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    files = {}
    for k, v in outputs.items():
        np.save(os.path.join(d, k + ".npy"), v)
        files[k] = k + ".npy"
    golden = {key: g[key] for key in ("name", "family", "architecture", "input_ids", "lengths", "pad_id")}
    if tt is not None:
        golden["token_type_ids"] = tt
    golden["fixture"] = fx["name"]
    golden["prune"] = option
    golden["prune_scope"] = scope
    if calibrated:
        golden["calibration"] = CALIBRATION
    golden["transformers_version"] = transformers.__version__
    golden["torch_version"] = torch.__version__
    golden["outputs"] = files
    if "generate" in g:
        seqs = [row[:n] for row, n in zip(g["input_ids"], g["lengths"])]
        ids, gaps = mf.generate(model, fx, seqs)
        golden["generate"] = {"max_new_tokens": mf.MAX_NEW_TOKENS, "ids": ids, "top2_gaps": gaps}
        golden["ignore_eos"] = True
    reached, params = sparsity(model)
    golden["sparsity"] = reached
    golden["pruned_weights_kept"] = params / dense_params
    with open(os.path.join(d, "golden.json"), "w") as f:
        f.write(mf.dump_json(golden))
    return name, reached, params / dense_params


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", default=os.path.join(HERE, "fixtures"))
    ap.add_argument("--out", default=os.path.join(HERE, "pruned"))
    ap.add_argument("--only", default="",
                    help="comma-separated case names to write (default: all)")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    by_name = {fx["name"]: fx for fx in mf.FIXTURES}
    os.makedirs(args.out, exist_ok=True)
    print(f"{'case':<34} {'sparsity':>9} {'weights kept':>13}")
    for fixture, option, scope, *calibrated in CASES:
        if only and case_name(fixture, option, scope, bool(calibrated)) not in only:
            continue
        fx = by_name[fixture]
        name, reached, kept = make_case(fx, os.path.join(args.fixtures, fixture), args.out,
                                        option, scope, bool(calibrated))
        print(f"{name:<34} {reached:>9.3f} {kept:>13.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
