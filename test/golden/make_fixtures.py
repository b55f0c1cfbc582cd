#!/usr/bin/env python3
"""Regenerates the golden fixtures under test/golden/fixtures/.

Every model is built from a config object with random (seeded) weights;
nothing is downloaded. Needs torch, transformers, safetensors and numpy
(pip). The tests never run this script: they only read the committed
fixtures. See test/golden/README.md.

    CUDA_VISIBLE_DEVICES="" python3 test/golden/make_fixtures.py

Options: --out DIR (default: fixtures/ beside this script), --only NAME...
"""

import argparse
import json
import os
import shutil
import sys

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
import transformers
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaForSequenceClassification,
    RobertaModel,
    T5Config,
    T5ForConditionalGeneration,
)

VOCAB = 101
MAX_POS = 64
MAX_NEW_TOKENS = 6
DECODER_LENGTHS = [7, 4]
ENCODER_LENGTHS = [9, 5]
BERT_TOKEN_TYPES = [[0, 0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]
ATTN = "eager"

# ---------------------------------------------------------------------------
# Fixture definitions. Each entry: name -> (family, model class, auto class,
# config factory, extra options).
# ---------------------------------------------------------------------------


def gpt2_config(**kw):
    # GPT-2's default bos/eos (50256) lie outside a 101-token vocabulary; put
    # them on the last id so the config stays self-consistent. GPT-2 has no
    # pad id: the fixture pads with 0.
    base = dict(vocab_size=VOCAB, n_positions=MAX_POS, n_layer=2,
                bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1)
    base.update(kw)
    return GPT2Config(**base)


def bert_config(**kw):
    base = dict(vocab_size=VOCAB, hidden_size=48, num_attention_heads=4,
                intermediate_size=32, num_hidden_layers=2, type_vocab_size=2,
                max_position_embeddings=MAX_POS, hidden_act="gelu",
                pad_token_id=0)
    base.update(kw)
    return BertConfig(**base)


def roberta_config(**kw):
    base = dict(vocab_size=VOCAB, hidden_size=48, num_attention_heads=4,
                intermediate_size=32, num_hidden_layers=2, type_vocab_size=1,
                max_position_embeddings=MAX_POS + 2, hidden_act="gelu",
                pad_token_id=1, bos_token_id=0, eos_token_id=2)
    base.update(kw)
    return RobertaConfig(**base)


def t5_config(**kw):
    base = dict(vocab_size=VOCAB, d_model=48, d_kv=16, num_heads=3, d_ff=32,
                num_layers=2, num_decoder_layers=2,
                relative_attention_num_buckets=32,
                relative_attention_max_distance=64,
                pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    base.update(kw)
    return T5Config(**base)


def llama_config(**kw):
    base = dict(vocab_size=VOCAB, num_hidden_layers=2,
                max_position_embeddings=MAX_POS, rms_norm_eps=1e-6)
    base.update(kw)
    return LlamaConfig(**base)


FIXTURES = [
    dict(name="gpt2_tiny", family="gpt2", cls=GPT2LMHeadModel, auto=AutoModelForCausalLM,
         config=lambda: gpt2_config(n_embd=48, n_head=3, activation_function="gelu_new"),
         covers="GPT-2 LM head, tied embeddings, Conv1D weights, gelu_new, head_dim 16"),
    dict(name="gpt2_hd64", family="gpt2", cls=GPT2LMHeadModel, auto=AutoModelForCausalLM,
         config=lambda: gpt2_config(n_embd=128, n_head=2, n_inner=16),
         covers="GPT-2 with head_dim 64 and an explicit n_inner (16)"),
    dict(name="bert_tiny", family="bert", cls=BertModel, auto=AutoModel,
         config=lambda: bert_config(),
         covers="BERT encoder + pooler, token_type_ids, padding mask"),
    dict(name="bert_hd64", family="bert", cls=BertModel, auto=AutoModel,
         config=lambda: bert_config(hidden_size=128, num_attention_heads=2, intermediate_size=16),
         covers="BERT encoder + pooler with head_dim 64"),
    dict(name="bert_mlm", family="bert", cls=BertForMaskedLM, auto=AutoModelForMaskedLM,
         config=lambda: bert_config(),
         covers="BERT masked-LM head (transform + tied decoder + bias)"),
    dict(name="bert_cls", family="bert", cls=BertForSequenceClassification,
         auto=AutoModelForSequenceClassification,
         config=lambda: bert_config(num_labels=3),
         covers="BERT pooler + sequence-classification head (3 labels)"),
    dict(name="roberta_tiny", family="roberta", cls=RobertaModel, auto=AutoModel,
         config=lambda: roberta_config(),
         covers="RoBERTa encoder + pooler, positions offset past pad id 1"),
    dict(name="roberta_mlm", family="roberta", cls=RobertaForMaskedLM, auto=AutoModelForMaskedLM,
         config=lambda: roberta_config(),
         covers="RoBERTa masked-LM head (dense, gelu, layer norm, tied decoder + bias)"),
    dict(name="roberta_cls", family="roberta", cls=RobertaForSequenceClassification,
         auto=AutoModelForSequenceClassification,
         config=lambda: roberta_config(num_labels=3),
         covers="RoBERTa classification head on the <s> token (3 labels)"),
    dict(name="t5_relu", family="t5", cls=T5ForConditionalGeneration, auto=AutoModelForSeq2SeqLM,
         config=lambda: t5_config(feed_forward_proj="relu", tie_word_embeddings=True),
         covers="T5 encoder-decoder, relative position buckets, ReLU FFN, "
                "tied embeddings (lm_head input scaled by d_model^-0.5)"),
    dict(name="t5_gated", family="t5", cls=T5ForConditionalGeneration, auto=AutoModelForSeq2SeqLM,
         config=lambda: t5_config(feed_forward_proj="gated-gelu", tie_word_embeddings=False),
         untie_lm_head=True,
         covers="T5 v1.1 style: gated-GELU FFN, untied lm_head (no scaling)"),
    dict(name="llama_gqa", family="llama", cls=LlamaForCausalLM, auto=AutoModelForCausalLM,
         config=lambda: llama_config(hidden_size=96, num_attention_heads=6, num_key_value_heads=2,
                                     intermediate_size=32, tie_word_embeddings=False,
                                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
         shard="100KB",
         covers="Llama with grouped-query attention (6 q heads, 2 kv heads), RoPE, "
                "SwiGLU, RMSNorm, untied lm_head, sharded safetensors + index"),
    dict(name="llama_rope3", family="llama", cls=LlamaForCausalLM, auto=AutoModelForCausalLM,
         config=lambda: llama_config(hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                                     intermediate_size=32, tie_word_embeddings=True,
                                     rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0,
                                                      "factor": 8.0, "low_freq_factor": 1.0,
                                                      "high_freq_factor": 4.0,
                                                      "original_max_position_embeddings": 16}),
         covers="Llama-3 RoPE frequency scaling (rope_theta 500000), tied embeddings, MHA"),
    dict(name="llama_hot", family="llama", cls=LlamaForCausalLM, auto=AutoModelForCausalLM,
         config=lambda: llama_config(hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                                     intermediate_size=32, tie_word_embeddings=False),
         plant=lambda model: plant_hot_mlp(model, layer=0, peak=2.0e5),
         covers="Llama whose layer-0 MLP activations reach 2e5, past fp16's 65504 "
                "(up_proj scaled up): a naive all-fp16 build overflows, the fp16 "
                "range guard must keep that layer in f32; GQA with as many kv heads "
                "as queries per kv head (2 and 2), whose decomposed head grouping "
                "reshape [?, 2, 2, ?, D] -> [?, 2, ?, D] has two readings"),
    dict(name="gpt2_outlier", family="gpt2", cls=GPT2LMHeadModel, auto=AutoModelForCausalLM,
         config=lambda: gpt2_config(n_embd=32, n_head=2, activation_function="gelu_new"),
         plant=lambda model: plant_outlier_channels(model, layer=1, channels=(5, 17, 28),
                                                    factor=64.0),
         covers="GPT-2 whose layer-1 MLP input weight (c_fc) has three outlier input "
                "channels 64x the rest, the layer norm before it scaled down by as much "
                "(the same function): int8/int4 weights of that one layer lose most of "
                "their precision, and the quantization guardrail must keep it in float"),
]

DECODER_FAMILIES = {"gpt2", "llama", "t5"}


# ---------------------------------------------------------------------------


def set_attn_eager(config):
    config._attn_implementation = ATTN
    return config


def build_model(fx):
    config = set_attn_eager(fx["config"]())
    model = fx["cls"](config)
    assert model.config._attn_implementation == ATTN, model.config._attn_implementation
    randomize(model)
    if fx.get("untie_lm_head"):
        untie_t5_lm_head(model)
    model.eval()
    if fx.get("plant"):
        fx["plant"](model)
    return model


def plant_hot_mlp(model, layer, peak):
    """Scales one layer's up_proj so its MLP activations (act(gate) * up,
    the down_proj input) peak at `peak` on a fixed prompt, and with them the
    down_proj output and the residual stream after it: values fp16 cannot
    hold, as in real models with outlier features."""
    mlp = model.model.layers[layer].mlp
    seen = []
    hook = mlp.down_proj.register_forward_hook(
        lambda m, args, out: seen.append(float(args[0].abs().max())))
    with torch.no_grad():
        model(torch.arange(16).unsqueeze(0) % model.config.vocab_size)
    hook.remove()
    with torch.no_grad():
        mlp.up_proj.weight.mul_(peak / seen[0])


def plant_outlier_channels(model, layer, channels, factor):
    """Moves magnitude from one GPT-2 layer's ln_2 into the c_fc weight
    after it: ln_2's scale and shift on `channels` divided by `factor`,
    c_fc's rows for those input channels multiplied by it. The model
    computes the same function, but c_fc now has outlier input channels, as
    real checkpoints do: one scale per output channel (or per group of
    input channels) spans the outliers, and the other weights of the
    layer round to a few levels."""
    block = model.transformer.h[layer]
    with torch.no_grad():
        for c in channels:
            block.ln_2.weight[c] /= factor
            block.ln_2.bias[c] /= factor
            block.mlp.c_fc.weight[c, :] *= factor


def untie_t5_lm_head(model):
    """Gives T5 its own lm_head, as T5 v1.1 / Flan-T5 checkpoints have.

    From transformers 5 on, T5Config turns tie_word_embeddings=False into
    scale_decoder_outputs=False and forces tie_word_embeddings=True, so the
    model built from the config shares lm_head with the embedding. Real v1.1
    checkpoints store a separate lm_head.weight (config: tie_word_embeddings
    false); from_pretrained keeps such a pair untied when the two tensors
    differ. Reproduce that layout here.
    """
    assert model.lm_head.weight is model.shared.weight
    assert model.config.scale_decoder_outputs is False
    w = torch.empty_like(model.lm_head.weight).normal_(0.0, 0.08)
    model.lm_head.weight = torch.nn.Parameter(w)
    model.config.tie_word_embeddings = False
    if isinstance(getattr(model, "all_tied_weights_keys", None), dict):
        model.all_tied_weights_keys.pop("lm_head.weight", None)


def randomize(model):
    """Overwrites every parameter with values large enough that mistakes show."""
    seen = set()
    with torch.no_grad():
        for _, module in model.named_modules():
            is_norm = isinstance(module, torch.nn.LayerNorm) or any(
                k in type(module).__name__ for k in ("LayerNorm", "RMSNorm"))
            for pname, p in module.named_parameters(recurse=False):
                if id(p) in seen:
                    continue
                seen.add(id(p))
                if pname == "bias":
                    p.normal_(0.0, 0.05)
                elif is_norm and pname == "weight":
                    p.copy_(1.0 + torch.randn_like(p) * 0.1)
                else:
                    p.normal_(0.0, 0.08)
    # Every parameter must have been visited.
    all_ids = {id(p) for p in model.parameters()}
    assert all_ids <= seen, "some parameters were not randomized"
    model.tie_weights()


def pad_id_of(fx, config):
    if fx["family"] == "gpt2":
        return 0  # GPT-2 has no pad id
    pid = config.pad_token_id
    return 0 if pid is None else int(pid)


def make_inputs(fx, config, gen):
    lengths = ENCODER_LENGTHS if fx["family"] in ("bert", "roberta") else DECODER_LENGTHS
    pad = pad_id_of(fx, config)
    seqs = []
    for n in lengths:
        ids = []
        while len(ids) < n:
            t = int(torch.randint(1, VOCAB, (1,), generator=gen))
            if t != pad:
                ids.append(t)
        seqs.append(ids)
    S = max(lengths)
    input_ids = [s + [pad] * (S - len(s)) for s in seqs]
    mask = [[1] * len(s) + [0] * (S - len(s)) for s in seqs]
    tt = None
    if fx["family"] == "bert":
        tt = [t + [0] * (S - len(t)) for t in BERT_TOKEN_TYPES]
        assert [len(t) for t in BERT_TOKEN_TYPES] == lengths
    return seqs, lengths, pad, input_ids, mask, tt


def forward(model, fx, input_ids, mask, tt):
    ids = torch.tensor(input_ids, dtype=torch.long)
    am = torch.tensor(mask, dtype=torch.long)
    kw = dict(input_ids=ids, attention_mask=am)
    if tt is not None:
        kw["token_type_ids"] = torch.tensor(tt, dtype=torch.long)
    arch = type(model).__name__
    with torch.no_grad():
        if fx["family"] == "t5":
            start = model.config.decoder_start_token_id
            kw["decoder_input_ids"] = torch.full((ids.shape[0], 1), start, dtype=torch.long)
            out = model(**kw)
            res = {"logits": out.logits, "encoder_last_hidden_state": out.encoder_last_hidden_state}
        else:
            out = model(**kw)
            if arch in ("BertModel", "RobertaModel"):
                res = {"last_hidden_state": out.last_hidden_state, "pooler_output": out.pooler_output}
            else:
                res = {"logits": out.logits}
    return {k: np.ascontiguousarray(v.detach().to(torch.float32).numpy()) for k, v in res.items()}


def top2_gap(logits_row):
    top = torch.topk(logits_row.to(torch.float32), 2).values
    return float(top[0] - top[1])


def generate(model, fx, seqs):
    """Greedy generation, one unpadded sequence at a time, eos disabled."""
    gc = model.generation_config
    gc = type(gc).from_dict(gc.to_dict())
    gc.eos_token_id = None
    gc.do_sample = False
    gc.num_beams = 1
    gc.max_new_tokens = MAX_NEW_TOKENS
    gc.min_new_tokens = None
    gc.max_length = None
    gc.output_logits = True
    gc.output_scores = True
    gc.return_dict_in_generate = True
    if gc.pad_token_id is None:
        gc.pad_token_id = 0
    is_ed = fx["family"] == "t5"
    all_ids, all_gaps = [], []
    for s in seqs:
        ids = torch.tensor([s], dtype=torch.long)
        am = torch.ones_like(ids)
        with torch.no_grad():
            # eos_token_id=None as a keyword: generate() fills None fields of
            # generation_config from the model's defaults, but keywords win.
            out = model.generate(input_ids=ids, attention_mask=am, generation_config=gc,
                                 eos_token_id=None)
        seq = out.sequences[0].tolist()
        new = seq[1:] if is_ed else seq[len(s):]
        if is_ed:
            assert seq[0] == model.config.decoder_start_token_id
        assert len(new) == MAX_NEW_TOKENS, (fx["name"], seq)
        raw = out.logits  # raw logits, before any logits processor
        assert raw is not None and len(raw) == MAX_NEW_TOKENS
        gaps = []
        for step, lg in enumerate(raw):
            row = lg[0]
            assert int(torch.argmax(row)) == new[step], "greedy pick is not argmax of raw logits"
            # no processor is active, so processed scores equal raw logits
            assert torch.equal(out.scores[step][0], row)
            gaps.append(top2_gap(row))
        check_no_cache(model, fx, s, new, gaps)
        all_ids.append(new)
        all_gaps.append(gaps)
    return all_ids, all_gaps


def check_no_cache(model, fx, prompt, new, gaps):
    """Re-derives the greedy tokens with full, cache-free forward passes."""
    with torch.no_grad():
        if fx["family"] == "t5":
            enc = torch.tensor([prompt])
            dec = [model.config.decoder_start_token_id]
            for step in range(MAX_NEW_TOKENS):
                lg = model(input_ids=enc, decoder_input_ids=torch.tensor([dec]), use_cache=False).logits[0, -1]
                assert int(torch.argmax(lg)) == new[step], (fx["name"], step)
                assert abs(top2_gap(lg) - gaps[step]) < 1e-4
                dec.append(new[step])
        else:
            cur = list(prompt)
            for step in range(MAX_NEW_TOKENS):
                lg = model(input_ids=torch.tensor([cur]), use_cache=False).logits[0, -1]
                assert int(torch.argmax(lg)) == new[step], (fx["name"], step)
                assert abs(top2_gap(lg) - gaps[step]) < 1e-4
                cur.append(new[step])


def dump_json(obj):
    """One top-level key per line, each value compact (readable diffs)."""
    items = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in obj.items()]
    return "{\n" + ",\n".join(items) + "\n}\n"


def dir_bytes(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def make_fixture(fx, index, out_root):
    name = fx["name"]
    torch.manual_seed(1000 + index)
    model = build_model(fx)
    gen = torch.Generator().manual_seed(2000 + index)
    seqs, lengths, pad, input_ids, mask, tt = make_inputs(fx, model.config, gen)

    d = os.path.join(out_root, name)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    save_kw = dict(safe_serialization=True)
    if "shard" in fx:
        save_kw["max_shard_size"] = fx["shard"]
    model.save_pretrained(d, **save_kw)

    outputs = forward(model, fx, input_ids, mask, tt)
    files = {}
    for k, v in outputs.items():
        assert v.dtype == np.float32 and v.flags["C_CONTIGUOUS"]
        fn = k + ".npy"
        np.save(os.path.join(d, fn), v)
        files[k] = fn

    golden = {
        "name": name,
        "family": fx["family"],
        "architecture": type(model).__name__,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "input_ids": input_ids,
        "lengths": lengths,
        "pad_id": pad,
    }
    if tt is not None:
        golden["token_type_ids"] = tt
    golden["outputs"] = files
    if fx["family"] in DECODER_FAMILIES:
        ids, gaps = generate(model, fx, seqs)
        golden["generate"] = {"max_new_tokens": MAX_NEW_TOKENS, "ids": ids, "top2_gaps": gaps}
        golden["ignore_eos"] = True
    with open(os.path.join(d, "golden.json"), "w") as f:
        f.write(dump_json(golden))

    nparams = sum(p.numel() for p in model.parameters())
    return model, nparams


def verify(fx, out_root):
    """Reloads the saved folder and checks it reproduces the saved outputs."""
    d = os.path.join(out_root, fx["name"])
    with open(os.path.join(d, "golden.json")) as f:
        g = json.load(f)
    model = fx["auto"].from_pretrained(d, attn_implementation=ATTN)
    model.eval()
    assert type(model).__name__ == g["architecture"], (type(model).__name__, g["architecture"])
    for p in model.parameters():
        assert p.dtype == torch.float32
    if fx.get("untie_lm_head"):
        assert model.lm_head.weight is not model.shared.weight
        assert not torch.equal(model.lm_head.weight, model.shared.weight)
    mask = [[1] * n + [0] * (len(g["input_ids"][0]) - n) for n in g["lengths"]]
    outs = forward(model, fx, g["input_ids"], mask, g.get("token_type_ids"))
    assert set(outs) == set(g["outputs"])
    worst = 0.0
    for k, fn in g["outputs"].items():
        ref = np.load(os.path.join(d, fn))
        assert ref.shape == outs[k].shape and ref.dtype == np.float32
        diff = float(np.max(np.abs(ref - outs[k])))
        assert diff < 1e-6, (fx["name"], k, diff)
        worst = max(worst, diff)
    if "generate" in g:
        seqs = [row[:n] for row, n in zip(g["input_ids"], g["lengths"])]
        ids, gaps = generate(model, fx, seqs)
        assert ids == g["generate"]["ids"], (fx["name"], ids, g["generate"]["ids"])
        assert np.allclose(gaps, g["generate"]["top2_gaps"], atol=1e-5)
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    os.makedirs(args.out, exist_ok=True)

    rows = []
    for i, fx in enumerate(FIXTURES):
        if args.only and fx["name"] not in args.only:
            continue
        _, nparams = make_fixture(fx, i, args.out)
        worst = verify(fx, args.out)
        d = os.path.join(args.out, fx["name"])
        rows.append((fx["name"], nparams, dir_bytes(d), worst))
        print(f"  {fx['name']}: ok (reload max |diff| {worst:.1e})", flush=True)

    print()
    print(f"{'fixture':<14} {'params':>9} {'bytes':>10}")
    for name, n, b, _ in rows:
        print(f"{name:<14} {n:>9} {b:>10}")
    total = dir_bytes(args.out)
    print(f"{'total':<14} {'':>9} {total:>10}")
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    if total > 4 * 1024 * 1024:
        print("ERROR: fixtures exceed 4 MiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
