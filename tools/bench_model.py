#!/usr/bin/env python3
"""Writes a Hugging Face folder with deterministic weights for benchmarks.

    tools/bench_model.py gpt2-small DIR     # GPT2LMHeadModel, 12 x 768
    tools/bench_model.py bert-base DIR      # BertModel, 12 x 768
    tools/bench_model.py llama-small DIR    # LlamaForCausalLM, 12 x 768, GQA 12/4

Every weight is a fixed function of its tensor's name and element index
(integer hashing, no random generator), so two machines write the same
bytes: a .kiln compiled with --external-weights on the build machine
matches the folder written again on the GPU machine, where transformers
loads the very same weights for the PyTorch baselines. Needs numpy only.
"""
import json
import os
import struct
import sys
import zlib

import numpy as np


def values(name, shape, scale):
    n = int(np.prod(shape))
    seed = np.uint64(zlib.crc32(name.encode()))
    i = np.arange(n, dtype=np.uint64)
    h = (i * np.uint64(2654435761) + seed * np.uint64(40503)) % np.uint64(2**32)
    x = (h.astype(np.float64) / 2**32 - 0.5) * 2 * scale
    return x.astype(np.float32).reshape(shape)


def gpt2(h=768, layers=12, vocab=50257, positions=1024):
    t = {"transformer.wte.weight": (vocab, h), "transformer.wpe.weight": (positions, h),
         "transformer.ln_f.weight": (h,), "transformer.ln_f.bias": (h,)}
    for i in range(layers):
        p = f"transformer.h.{i}."
        t.update({p + "ln_1.weight": (h,), p + "ln_1.bias": (h,),
                  p + "attn.c_attn.weight": (h, 3 * h), p + "attn.c_attn.bias": (3 * h,),
                  p + "attn.c_proj.weight": (h, h), p + "attn.c_proj.bias": (h,),
                  p + "ln_2.weight": (h,), p + "ln_2.bias": (h,),
                  p + "mlp.c_fc.weight": (h, 4 * h), p + "mlp.c_fc.bias": (4 * h,),
                  p + "mlp.c_proj.weight": (4 * h, h), p + "mlp.c_proj.bias": (h,)})
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
              "vocab_size": vocab, "n_embd": h, "n_layer": layers, "n_head": 12,
              "n_positions": positions, "bos_token_id": 50256, "eos_token_id": 50256}
    return config, t


def bert(h=768, layers=12, vocab=30522, positions=512):
    t = {"embeddings.word_embeddings.weight": (vocab, h),
         "embeddings.position_embeddings.weight": (positions, h),
         "embeddings.token_type_embeddings.weight": (2, h),
         "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,),
         "pooler.dense.weight": (h, h), "pooler.dense.bias": (h,)}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for m in ("query", "key", "value"):
            t[p + f"attention.self.{m}.weight"] = (h, h)
            t[p + f"attention.self.{m}.bias"] = (h,)
        t.update({p + "attention.output.dense.weight": (h, h),
                  p + "attention.output.dense.bias": (h,),
                  p + "attention.output.LayerNorm.weight": (h,),
                  p + "attention.output.LayerNorm.bias": (h,),
                  p + "intermediate.dense.weight": (4 * h, h),
                  p + "intermediate.dense.bias": (4 * h,),
                  p + "output.dense.weight": (h, 4 * h), p + "output.dense.bias": (h,),
                  p + "output.LayerNorm.weight": (h,), p + "output.LayerNorm.bias": (h,)})
    config = {"model_type": "bert", "architectures": ["BertModel"], "vocab_size": vocab,
              "hidden_size": h, "num_hidden_layers": layers, "num_attention_heads": 12,
              "intermediate_size": 4 * h, "max_position_embeddings": positions,
              "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
              "pad_token_id": 0}
    return config, t


def llama(h=768, layers=12, heads=12, kv_heads=4, inter=2048, vocab=32000,
          positions=2048):
    d = h // heads
    t = {"model.embed_tokens.weight": (vocab, h), "model.norm.weight": (h,),
         "lm_head.weight": (vocab, h)}
    for i in range(layers):
        p = f"model.layers.{i}."
        t.update({p + "input_layernorm.weight": (h,),
                  p + "post_attention_layernorm.weight": (h,),
                  p + "self_attn.q_proj.weight": (heads * d, h),
                  p + "self_attn.k_proj.weight": (kv_heads * d, h),
                  p + "self_attn.v_proj.weight": (kv_heads * d, h),
                  p + "self_attn.o_proj.weight": (h, heads * d),
                  p + "mlp.gate_proj.weight": (inter, h),
                  p + "mlp.up_proj.weight": (inter, h),
                  p + "mlp.down_proj.weight": (h, inter)})
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"],
              "vocab_size": vocab, "hidden_size": h, "num_hidden_layers": layers,
              "num_attention_heads": heads, "num_key_value_heads": kv_heads,
              "head_dim": d, "intermediate_size": inter, "hidden_act": "silu",
              "max_position_embeddings": positions, "rms_norm_eps": 1e-6,
              "rope_theta": 10000.0, "tie_word_embeddings": False,
              "bos_token_id": 1, "eos_token_id": 2}
    return config, t


MODELS = {"gpt2-small": gpt2, "bert-base": bert, "llama-small": llama}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in MODELS:
        sys.exit(__doc__)
    config, tensors = MODELS[sys.argv[1]]()
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        shape = tensors[name]
        # Norm scales near 1, everything else small.
        if (name.endswith("LayerNorm.weight") or name.endswith("layernorm.weight")
                or name.endswith("norm.weight") or ".ln_" in name and name.endswith("weight")):
            data = 1.0 + values(name, shape, 0.05)
        else:
            data = values(name, shape, 0.02)
        raw = data.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


if __name__ == "__main__":
    main()
